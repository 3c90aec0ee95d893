// The orthogonality penalty against its definition and central differences, and the EMA
// co-activation mask against numbers worked out by hand.
import assert from "node:assert/strict";
import { test } from "node:test";
import { refBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import { CoactMask, OrthoPenalty, symmetricGram } from "../../src/sae/ortho.ts";

function frob(w: Float64Array, m: number, d: number, mask: Uint8Array | null): number {
  let s = 0;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < m; j++) {
      if (mask && !mask[i * m + j]) continue;
      let g = 0;
      for (let c = 0; c < d; c++) g += w[i * d + c] * w[j * d + c];
      s += (g - (i === j ? 1 : 0)) ** 2;
    }
  return Math.sqrt(s);
}

test("ortho: ||M o (W W^T - I)||_F and its gradient match the definition and central differences", () => {
  const m = 12;
  const d = 5;
  const rng = new Rng(4);
  const w = rng.fillNormal(new Float64Array(m * d), 0.5);
  const mask = new Uint8Array(m * m);
  for (let i = 0; i < m; i++)
    for (let j = 0; j <= i; j++) mask[i * m + j] = mask[j * m + i] = i === j || rng.next() < 0.4 ? 1 : 0;
  for (const mk of [null, mask]) {
    const pen = new OrthoPenalty<Float64Array>(refBackend, m, d, "f64");
    const v = pen.evaluate(w, mk);
    assert.ok(Math.abs(v - frob(w, m, d, mk)) < 1e-12 * v);
    const grad = new Float64Array(m * d).fill(0.25); // added into
    pen.addGradient(w, 0.3, grad);
    const eps = 1e-6;
    for (let k = 0; k < w.length; k++) {
      const keep = w[k];
      w[k] = keep + eps;
      const up = frob(w, m, d, mk);
      w[k] = keep - eps;
      const down = frob(w, m, d, mk);
      w[k] = keep;
      const numeric = 0.25 + (0.3 * (up - down)) / (2 * eps);
      assert.ok(Math.abs(grad[k] - numeric) < 1e-7, `dW[${k}] ${grad[k]} vs ${numeric}`);
    }
  }
});

test("ortho: orthonormal rows give 0 and a zero gradient", () => {
  const w = new Float64Array([1, 0, 0, 0, 1, 0]); // [2, 3]
  const pen = new OrthoPenalty<Float64Array>(refBackend, 2, 3, "f64");
  assert.equal(pen.evaluate(w, null), 0);
  const g = new Float64Array(6);
  pen.addGradient(w, 1, g);
  assert.deepEqual([...g], [0, 0, 0, 0, 0, 0]);
});

test("EMA mask: C, E and M of two hand-made batches", () => {
  // Batch 1, codes [3 tokens, 3 features]: columns h0 = (1, 0, 1), h1 = (1, 1, 0), h2 = 0 (never fires).
  // |h0| = |h1| = sqrt 2; C01 = 1 / (2 + 1e-8), C00 = C11 = 2 / (2 + 1e-8), C02 = C12 = C22 = 0.
  // E = 0.01 (C - 0.1): E01 = 0.01 (1 / (2 + 1e-8) - 0.1) ~ 0.004 > 0, E02 = E12 = -0.001.
  const mk = new CoactMask<Float64Array>(refBackend, 3, 0.99, 0.1, "f64");
  mk.update(new Float64Array([1, 1, 0, 0, 1, 0, 1, 0, 0]), 3);
  const c01 = 1 / (2 + 1e-8);
  const e1 = [0.01 * (2 / (2 + 1e-8) - 0.1), 0.01 * (c01 - 0.1), -0.001];
  const want1 = [e1[0], e1[1], -0.001, e1[1], e1[0], -0.001, -0.001, -0.001, -0.001];
  for (const [i, v] of want1.entries()) assert.ok(Math.abs(mk.ema[i] - v) < 1e-15, `E[${i}] ${mk.ema[i]} vs ${v}`);
  assert.deepEqual([...mk.mask], [1, 1, 0, 1, 1, 0, 0, 0, 1]);
  // Batch 2, codes [2, 3]: h0 = (2, 0), h1 = (0, 3), h2 = (0, 1): C01 = 0, C12 = 3 / (3 + 1e-8) ~ 1, C02 = 0.
  // E01 = 0.99 * 0.004 - 0.001 = 0.00296 > 0 (still masked in); E12 = 0.99 * -0.001 + 0.01 * (C12 - 0.1) ~ 0.00801 > 0;
  // E02 = 0.99 * -0.001 - 0.001 = -0.00199.
  mk.update(new Float64Array([2, 0, 0, 0, 3, 1]), 2);
  const c12 = 3 / (3 + 1e-8);
  assert.ok(Math.abs(mk.ema[1] - (0.99 * e1[1] - 0.001)) < 1e-15);
  assert.ok(Math.abs(mk.ema[5] - (0.99 * -0.001 + 0.01 * (c12 - 0.1))) < 1e-15);
  assert.ok(Math.abs(mk.ema[2] - -0.00199) < 1e-15);
  assert.ok(Math.abs(mk.ema[1] - 0.00296) < 1e-10 && Math.abs(mk.ema[5] - 0.00801) < 1e-10);
  assert.deepEqual([...mk.mask], [1, 1, 0, 1, 1, 1, 0, 1, 1]);
});

test("symmetricGram: the blocked syrk equals the full product, rows and columns, odd sizes past the leaf", () => {
  for (const [n, k] of [
    [1601, 3],
    [1000, 2],
    [17, 5],
  ] as const) {
    const rng = new Rng(n);
    const x = rng.fillNormal(new Float64Array(n * k));
    const rowsC = new Float64Array(n * n).fill(Number.NaN);
    symmetricGram(refBackend, false, n, k, x, k, rowsC); // x as [n, k]: rows
    const colsC = new Float64Array(n * n).fill(Number.NaN);
    symmetricGram(refBackend, true, n, k, x, n, colsC); // x as [k, n]: columns
    for (let i = 0; i < n; i += 7)
      for (let j = 0; j < n; j++) {
        let r = 0;
        let c = 0;
        for (let p = 0; p < k; p++) {
          r += x[i * k + p] * x[j * k + p];
          c += x[p * n + i] * x[p * n + j];
        }
        assert.ok(Math.abs(rowsC[i * n + j] - r) < 1e-12, `rows C[${i}, ${j}]`);
        assert.ok(Math.abs(colsC[i * n + j] - c) < 1e-12, `cols C[${i}, ${j}]`);
        assert.equal(rowsC[i * n + j], rowsC[j * n + i]);
      }
  }
});
