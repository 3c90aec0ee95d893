/**
 * The batchtopk / matryoshka inference threshold EMA (closed form): a feature whose threshold is
 * still 0 takes its first smallest kept activation (warm start); an observed one moves by the EMA;
 * a feature with no kept activation in the batch keeps its value.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { updateThresholdEma } from "../../src/sae/baselines/standard.ts";

test("threshold EMA: warm start from 0, EMA after, untouched without a kept activation", () => {
  const m = 3;
  // Two rows of three features: kept entries (flat indices) 0, 1, 3, 4; feature 2 never kept.
  const h = new Float64Array([0.4, 0.9, 0, 0.2, 0.6, 0]);
  const idx = new Int32Array([0, 1, 3, 4]);
  const threshold = new Float64Array([0, 0.5, 0.7]);
  updateThresholdEma(h, idx, m, 0.999, threshold, new Float64Array(m));
  assert.equal(threshold[0], 0.2); // min(0.4, 0.2), warm start
  assert.equal(threshold[1], 0.999 * 0.5 + 0.001 * 0.6); // min(0.9, 0.6)
  assert.equal(threshold[2], 0.7);
});
