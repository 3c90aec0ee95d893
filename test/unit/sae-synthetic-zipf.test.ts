// The synthetic generator's Zipf-like frequencies (src/sae/synthetic.ts, frequencies "zipf"): over
// 40k tokens every feature's empirical activation rate matches the closed form
// p_i = min(1, meanActive (i+1)^-s / sum_j (j+1)^-s) within 5 binomial standard deviations, and
// the uniform default is unchanged by the option (same batch bytes with and without it).
import assert from "node:assert/strict";
import { test } from "node:test";
import { syntheticSource } from "../../src/sae/synthetic.ts";

test("zipf frequencies match the closed form per feature", () => {
  const n = 24;
  const meanActive = 3;
  const s = 1.2;
  const src = syntheticSource({ d: 8, nFeatures: n, meanActive, seed: 5, frequencies: "zipf", zipfExponent: s });
  const rows = 4000;
  const counts = new Float64Array(n);
  let tokens = 0;
  for (let b = 0; b < 10; b++) {
    const { codes } = src.batch(b, rows, { withCodes: true });
    for (let r = 0; r < rows; r++) for (let i = 0; i < n; i++) if (codes![r * n + i] > 0) counts[i]++;
    tokens += rows;
  }
  let total = 0;
  for (let i = 0; i < n; i++) total += (i + 1) ** -s;
  for (let i = 0; i < n; i++) {
    const p = Math.min(1, (meanActive * (i + 1) ** -s) / total);
    const sd = Math.sqrt((p * (1 - p)) / tokens);
    assert.ok(Math.abs(counts[i] / tokens - p) < 5 * sd + 1e-12, `feature ${i}: rate ${counts[i] / tokens} vs p ${p}`);
  }
  assert.ok(counts[0] > 5 * counts[n - 1], "a few common features and a long tail");
  assert.throws(
    () => syntheticSource({ d: 8, nFeatures: n, meanActive, seed: 5, frequencies: "pareto" as never }),
    /synthetic frequencies "pareto" is not valid/,
  );
});

test("frequencies: uniform is the default", () => {
  const a = syntheticSource({ d: 8, nFeatures: 16, meanActive: 2, seed: 9 }).batch(3, 50).x;
  const b = syntheticSource({ d: 8, nFeatures: 16, meanActive: 2, seed: 9, frequencies: "uniform" }).batch(3, 50).x;
  assert.deepEqual(Buffer.from(a.buffer), Buffer.from(b.buffer));
});
