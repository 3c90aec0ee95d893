import assert from "node:assert/strict";
import { test } from "node:test";
import { Parameter } from "../../src/core/parameter.ts";
import { numel, Rng, Tensor } from "../../src/core/tensor.ts";

test("numel and shape validation", () => {
  assert.equal(numel([]), 1);
  assert.equal(numel([2, 3, 4]), 24);
  assert.equal(numel([5, 0]), 0);
  assert.throws(() => numel([2, -1]), /bad shape/);
  assert.throws(() => new Tensor(new Float32Array(5), [2, 3]), /has 5 entries but shape \[2, 3\] needs 6/);
});

test("reshape and rows are views on the same data", () => {
  const t = Tensor.from([0, 1, 2, 3, 4, 5], [3, 2]);
  const r = t.rows(1, 3);
  assert.deepEqual([...r.data], [2, 3, 4, 5]);
  assert.deepEqual(r.shape, [2, 2]);
  r.data[0] = 42;
  assert.equal(t.data[2], 42);
  assert.deepEqual(t.reshape([2, 3]).shape, [2, 3]);
  assert.throws(() => t.rows(2, 4), /outside leading dim 3/);
  const c = t.clone();
  c.data[0] = -1;
  assert.equal(t.data[0], 0);
});

test("Rng is deterministic and its normals have mean 0, variance 1", () => {
  const a = new Rng(7).fillNormal(new Float64Array(20000));
  const b = new Rng(7).fillNormal(new Float64Array(20000));
  assert.deepEqual(a, b);
  let s = 0;
  let s2 = 0;
  for (const v of a) {
    s += v;
    s2 += v * v;
  }
  const mean = s / a.length;
  const variance = s2 / a.length - mean * mean;
  // Standard errors: mean ~ 1/sqrt(n) = 0.007, variance ~ sqrt(2/n) = 0.01.
  assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
  const u = new Rng(1).fillUniform(new Float32Array(1000), 2, 3);
  assert.ok(u.every((v) => v >= 2 && v < 3));
});

test("Parameter allocates a gradient of the same type and decays matrices only", () => {
  const p = new Parameter("w", new Float64Array(6), [2, 3]);
  assert.ok(p.grad instanceof Float64Array);
  assert.equal(p.grad.length, 6);
  assert.equal(p.decay, true);
  assert.equal(Parameter.zeros("b", [3]).decay, false);
  p.grad[1] = 3;
  p.zeroGrad();
  assert.equal(p.grad[1], 0);
  assert.throws(() => new Parameter("x", new Float32Array(2), [3]), /parameter x: data has 2 entries/);
});
