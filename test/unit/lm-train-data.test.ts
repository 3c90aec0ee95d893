/**
 * Pieces of `msae lm train` that a resumed run depends on, and the sampler: the sample order is a
 * pure function of (seed, index) that visits every context once per epoch; the training config
 * rejects bad values in one line; sampling follows the top-k / temperature distribution computed
 * here by hand.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../../src/cli/errors.ts";
import { parseLmTrainConfig } from "../../src/lm/train/config.ts";
import { evenlySpaced, gatherBatch, SampleOrder } from "../../src/lm/train/data.ts";
import { sampleFromLogits } from "../../src/lm/train/sample.ts";

test("sample order: each epoch is a permutation, fixed by (seed, index) whatever the query order", () => {
  const n = 37;
  const a = new SampleOrder(4, n);
  const forward = Array.from({ length: 3 * n }, (_, k) => a.contextOf(k));
  for (let e = 0; e < 3; e++) {
    const epoch = forward.slice(e * n, (e + 1) * n).sort((x, y) => x - y);
    assert.deepEqual(
      epoch,
      Array.from({ length: n }, (_, i) => i),
      `epoch ${e} visits every context once`,
    );
  }
  assert.notDeepEqual(forward.slice(0, n), forward.slice(n, 2 * n), "epochs are shuffled differently");
  // a fresh order queried backwards and out of order (a resumed run) gives the same contexts
  const b = new SampleOrder(4, n);
  for (let k = 3 * n - 1; k >= 0; k -= 7) assert.equal(b.contextOf(k), forward[k]);
  assert.equal(b.contextOf(n + 5), forward[n + 5]);
  const other = Array.from({ length: n }, (_, k) => new SampleOrder(5, n).contextOf(k));
  assert.notDeepEqual(other, forward.slice(0, n), "another seed, another order");
});

test("gatherBatch copies the ordered contexts; evenlySpaced picks a fixed spread", () => {
  const data = { seq: 3, count: 4, ids: Int32Array.from([0, 1, 1, 0, 2, 2, 0, 3, 3, 0, 4, 4]) };
  const order = new SampleOrder(1, 4);
  const out = new Int32Array(6);
  gatherBatch(data, order, 5, 2, out);
  const c5 = order.contextOf(5);
  const c6 = order.contextOf(6);
  assert.deepEqual(Array.from(out), [0, c5 + 1, c5 + 1, 0, c6 + 1, c6 + 1]);
  assert.deepEqual(Array.from(evenlySpaced(data, 2).ids), [0, 1, 1, 0, 3, 3]);
  assert.equal(evenlySpaced(data, 9).count, 4);
});

test("training config: defaults, and one-line errors naming the field", () => {
  const c = parseLmTrainConfig({});
  assert.equal(c.model.context_length, 128);
  assert.equal(c.training.grad_clip, 1);
  const bad: [unknown, RegExp][] = [
    [{ model: { num_attention_heads: 4, num_key_value_heads: 3 } }, /field "model\.num_key_value_heads" is 3/],
    [{ training: { lr: 1e-3, min_lr: 1e-2 } }, /field "training\.min_lr" is 0\.01: expected min_lr <= lr/],
    [{ model: { head_dim: 7 } }, /field "model\.head_dim" is 7/],
    [{ training: { batchsize: 4 } }, /unknown field "batchsize" in training/],
  ];
  for (const [input, re] of bad)
    assert.throws(
      () => parseLmTrainConfig(input, "c.json"),
      (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes("\n"),
      JSON.stringify(input),
    );
});

test("sampling: top-k and temperature follow the distribution computed by hand", () => {
  const logits = Float32Array.from([1, 3, 2, 3, -1]); // order: id 1, id 3 (tie, lower id first), id 2, id 0, id 4
  assert.equal(sampleFromLogits(logits, 5, 0, 40, 0.99), 1, "temperature 0 is greedy (lower id on ties)");
  // top-2 at temperature 0.5: ids 1 and 3 with equal weight
  assert.equal(sampleFromLogits(logits, 5, 0.5, 2, 0.49), 1);
  assert.equal(sampleFromLogits(logits, 5, 0.5, 2, 0.51), 3);
  // top-3 at temperature 1: weights e^3, e^3, e^2 for ids 1, 3, 2
  const z = 2 * Math.exp(3) + Math.exp(2);
  const p1 = Math.exp(3) / z;
  assert.equal(sampleFromLogits(logits, 5, 1, 3, p1 - 1e-6), 1);
  assert.equal(sampleFromLogits(logits, 5, 1, 3, p1 + 1e-6), 3);
  assert.equal(sampleFromLogits(logits, 5, 1, 3, 2 * p1 + 1e-6), 2);
  // top-k 0 = all: the lowest logit is reachable only at the very top of [0, 1)
  const all = [0, 1, 2, 3, 4].reduce((s, i) => s + Math.exp(logits[i]), 0);
  assert.equal(sampleFromLogits(logits, 5, 1, 0, 1 - Math.exp(-1) / all / 2), 4);
});
