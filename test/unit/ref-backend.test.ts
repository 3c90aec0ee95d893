// The ref backend against closed forms, hand-computed values, torch literals and finite differences.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FloatArray } from "../../src/core/backend.ts";
import { RefBackend } from "../../src/core/backends/ref.ts";
import { Rng } from "../../src/core/tensor.ts";

const ref = new RefBackend();
const f64 = (v: number[]) => Float64Array.from(v);

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12, what = "value"): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    assert.ok(
      err <= tol * Math.max(1, Math.abs(expected[i])),
      `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`,
    );
  }
}

/** Central-difference gradient of sum(w * f(x)) with respect to x. */
function numGrad(f: (x: Float64Array) => Float64Array, x: Float64Array, w: Float64Array, eps = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i];
    x[i] = keep + eps;
    const up = f(x);
    x[i] = keep - eps;
    const down = f(x);
    x[i] = keep;
    let s = 0;
    for (let j = 0; j < w.length; j++) s += w[j] * (up[j] - down[j]);
    g[i] = s / (2 * eps);
  }
  return g;
}

const rand = (n: number, seed: number, lo = -1, hi = 1) => new Rng(seed).fillUniform(new Float64Array(n), lo, hi);

describe("ref gemm", () => {
  // A = [[1,2,3],[4,5,6]], B = [[7,8],[9,10],[11,12]] -> AB = [[58,64],[139,154]]
  const A = [1, 2, 3, 4, 5, 6];
  const At = [1, 4, 2, 5, 3, 6];
  const B = [7, 8, 9, 10, 11, 12];
  const Bt = [7, 9, 11, 8, 10, 12];
  const AB = [58, 64, 139, 154];

  test("all four transpose combinations against a hand product", () => {
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      const c = new Float64Array(4);
      ref.gemm(ta, tb, 2, 2, 3, 1, f64(ta ? At : A), ta ? 2 : 3, f64(tb ? Bt : B), tb ? 3 : 2, 0, c, 2);
      close(c, AB, 0, `transA=${ta} transB=${tb}`);
    }
  });

  test("alpha, beta, beta = 0 ignores NaN in C, padded strides, Float32Array", () => {
    const c = f64([1, 1, 1, 1]);
    ref.gemm(false, false, 2, 2, 3, 2, f64(A), 3, f64(B), 2, 0.5, c, 2);
    close(c, [116.5, 128.5, 278.5, 308.5], 0);
    const cn = f64([Number.NaN, 0, 0, Number.NaN]);
    ref.gemm(false, false, 2, 2, 3, 1, f64(A), 3, f64(B), 2, 0, cn, 2);
    close(cn, AB, 0, "beta = 0 with NaN in C");
    // A stored with row stride 4 (one pad column), C with row stride 3.
    const aPad = f64([1, 2, 3, -9, 4, 5, 6, -9]);
    const cPad = new Float64Array(6).fill(7);
    ref.gemm(false, false, 2, 2, 3, 1, aPad, 4, f64(B), 2, 0, cPad, 3);
    close(cPad, [58, 64, 7, 139, 154, 7], 0, "padded");
    const c32 = new Float32Array(4);
    ref.gemm(false, false, 2, 2, 3, 1, Float32Array.from(A), 3, Float32Array.from(B), 2, 0, c32, 2);
    close(c32, AB, 0, "float32");
  });

  test("k = 0 gives beta C; bad arguments throw one-line errors", () => {
    const c = f64([1, 2]);
    ref.gemm(false, false, 1, 2, 0, 1, new Float64Array(0), 0, new Float64Array(0), 2, 3, c, 2);
    close(c, [3, 6], 0);
    const oneLine = (e: unknown) => e instanceof RangeError && !e.message.includes("\n");
    assert.throws(() => ref.gemm(false, false, 2, 2, 3, 1, f64(A).subarray(1), 3, f64(B), 2, 0, c, 2), oneLine);
    assert.throws(() => ref.gemm(false, false, 2, 2, 3, 1, f64(A), 2, f64(B), 2, 0, new Float64Array(4), 2), oneLine);
    assert.throws(
      () => ref.gemm(false, false, 2, 2, 3, 1, f64(A), 3, Float32Array.from(B), 2, 0, new Float64Array(4), 2),
      TypeError,
    );
    assert.throws(() => ref.gemm(false, false, 2.5, 2, 3, 1, f64(A), 3, f64(B), 2, 0, new Float64Array(4), 2), oneLine);
  });
});

describe("ref elementwise and reductions", () => {
  test("add, mul, scale, axpy, addBias, scaleRows, scaleCols", () => {
    const out = new Float64Array(4);
    ref.add(f64([1, 2, 3, 4]), f64([10, 20, 30, 40]), out);
    close(out, [11, 22, 33, 44], 0);
    ref.mul(f64([1, 2, 3, 4]), f64([10, 20, 30, 40]), out);
    close(out, [10, 40, 90, 160], 0);
    ref.scale(f64([1, -2, 3, 4]), -0.5, out);
    close(out, [-0.5, 1, -1.5, -2], 0);
    const y = f64([1, 1, 1, 1]);
    ref.axpy(2, f64([1, 2, 3, 4]), y);
    close(y, [3, 5, 7, 9], 0);
    // x = [[1,2],[3,4]]
    ref.addBias(f64([1, 2, 3, 4]), f64([10, 100]), 2, 2, out);
    close(out, [11, 102, 13, 104], 0);
    ref.scaleRows(f64([1, 2, 3, 4]), f64([2, -1]), 2, 2, out);
    close(out, [2, 4, -3, -4], 0);
    ref.scaleCols(f64([1, 2, 3, 4]), f64([2, -1]), 2, 2, out);
    close(out, [2, -2, 6, -4], 0);
    assert.throws(() => ref.add(f64([1, 2]), f64([1]), new Float64Array(2)), RangeError);
    assert.throws(() => ref.addBias(f64([1, 2, 3]), f64([1, 2]), 2, 2, new Float64Array(4)), RangeError);
  });

  test("relu (NaN kept) and its backward; in place", () => {
    const x = f64([-2, -0.5, 0, 0.5, 3, Number.NaN]);
    const out = new Float64Array(6);
    ref.relu(x, out);
    assert.deepEqual([...out.subarray(0, 5)], [0, 0, 0, 0.5, 3]);
    assert.ok(Number.isNaN(out[5]));
    const dy = f64([1, 2, 3, 4, 5, 6]);
    ref.reluBackward(x, dy, dy); // dx aliases dy
    assert.deepEqual([...dy], [0, 0, 0, 4, 5, 0]);
  });

  test("GELU (tanh) at known points (torch float64 values) and its derivative", () => {
    const x = f64([-3, -1, -0.5, 0, 0.5, 1, 2, 3]);
    const out = new Float64Array(8);
    ref.gelu(x, out);
    const torchGelu = [
      -0.0036373920817729943, -0.1588080093917233, -0.15428599017485606, 0, 0.34571400982514394, 0.8411919906082768,
      1.954597694087775, 2.996362607918227,
    ];
    close(out, torchGelu, 1e-14, "gelu");
    const dx = new Float64Array(8);
    ref.geluBackward(x, f64([1, 1, 1, 1, 1, 1, 1, 1]), dx);
    const torchDGelu = [
      -0.011584166630969648, -0.08296408384578258, 0.13263009646535764, 0.5, 0.8673699035346424, 1.0829640838457826,
      1.0860992566236183, 1.0115841666309695,
    ];
    close(dx, torchDGelu, 1e-13, "gelu'");
  });

  test("softcap: cap tanh(x/cap) at x = cap atanh(1/2) is cap/2; backward 1 - (y/cap)^2", () => {
    const cap = 30;
    const x = f64([cap * Math.atanh(0.5), 0, -cap * Math.atanh(0.5)]);
    const y = new Float64Array(3);
    ref.softcap(x, cap, y);
    close(y, [15, 0, -15], 1e-14);
    const dx = new Float64Array(3);
    ref.softcapBackward(y, f64([2, 2, 2]), cap, dx);
    close(dx, [1.5, 2, 1.5], 1e-14);
  });

  test("sumRows, sumCols (overwrite and accumulate), colMeanVar, sumSquares", () => {
    const x = f64([1, 2, 3, 6]); // [[1,2],[3,6]]
    const o = f64([100, 100]);
    ref.sumRows(x, 2, 2, o, false);
    close(o, [4, 8], 0);
    ref.sumRows(x, 2, 2, o, true);
    close(o, [8, 16], 0);
    ref.sumCols(x, 2, 2, o, false);
    close(o, [3, 9], 0);
    ref.sumCols(x, 2, 2, o, true);
    close(o, [6, 18], 0);
    const mean = new Float64Array(2);
    const variance = new Float64Array(2);
    ref.colMeanVar(x, 2, 2, mean, variance);
    close(mean, [2, 4], 0);
    close(variance, [1, 4], 0);
    assert.equal(ref.sumSquares(f64([3, 4, -12])), 169);
    assert.equal(ref.sumSquares(Float32Array.from([0.1])), Math.fround(0.1) ** 2); // accumulated in float64
  });
});

describe("ref normalization", () => {
  test("LayerNorm of [1,2,3,4] (mean 2.5, var 1.25) with and without affine; float32 output rounded once", () => {
    const eps = 1e-5;
    const r = 1 / Math.sqrt(1.25 + eps);
    const xh = [-1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r];
    const out = new Float64Array(4);
    const mean = new Float64Array(1);
    const rstd = new Float64Array(1);
    ref.layerNorm(f64([1, 2, 3, 4]), null, null, 1, 4, eps, out, mean, rstd);
    close(out, xh, 1e-15);
    close(mean, [2.5], 0);
    close(rstd, [r], 1e-15);
    const gamma = f64([1, 2, -1, 0.5]);
    const beta = f64([0, 1, 2, 3]);
    ref.layerNorm(f64([1, 2, 3, 4]), gamma, beta, 1, 4, eps, out, mean, rstd);
    close(out, [xh[0], 2 * xh[1] + 1, -xh[2] + 2, 0.5 * xh[3] + 3], 1e-15);
    const out32 = new Float32Array(4);
    ref.layerNorm(
      Float32Array.from([1, 2, 3, 4]),
      null,
      null,
      1,
      4,
      eps,
      out32,
      new Float32Array(1),
      new Float32Array(1),
    );
    close(out32, xh.map(Math.fround), 0, "float32");
  });

  test("LayerNorm backward (dx in place over dy, dgamma and dbeta accumulated) matches finite differences", () => {
    const rows = 3;
    const cols = 5;
    const x = rand(rows * cols, 1, -2, 2);
    const gamma = rand(cols, 2, 0.5, 1.5);
    const beta = rand(cols, 3);
    const w = rand(rows * cols, 4);
    const fwd = (xx: Float64Array, g: Float64Array, b: Float64Array) => {
      const o = new Float64Array(rows * cols);
      ref.layerNorm(xx, g, b, rows, cols, 1e-5, o, new Float64Array(rows), new Float64Array(rows));
      return o;
    };
    const mean = new Float64Array(rows);
    const rstd = new Float64Array(rows);
    ref.layerNorm(x, gamma, beta, rows, cols, 1e-5, new Float64Array(rows * cols), mean, rstd);
    const dgamma = f64([1, 1, 1, 1, 1]);
    const dbeta = f64([1, 1, 1, 1, 1]);
    const dx = w.slice();
    ref.layerNormBackward(dx, x, gamma, mean, rstd, rows, cols, dx, dgamma, dbeta);
    close(
      dx,
      numGrad((v) => fwd(v, gamma, beta), x, w),
      1e-8,
      "dx",
    );
    close(
      dgamma,
      numGrad((v) => fwd(x, v, beta), gamma, w).map((v) => v + 1),
      1e-8,
      "dgamma",
    );
    close(
      dbeta,
      numGrad((v) => fwd(x, gamma, v), beta, w).map((v) => v + 1),
      1e-8,
      "dbeta",
    );
  });

  test("RMSNorm of [3, 4] (mean square 12.5) with offset 1 and 0, backward by finite differences", () => {
    const out = new Float64Array(2);
    const rstd = new Float64Array(1);
    const r = 1 / Math.sqrt(12.5 + 1e-6);
    ref.rmsNorm(f64([3, 4]), f64([0, 1]), 1, 1, 2, 1e-6, out, rstd);
    close(out, [3 * r, 8 * r], 1e-15);
    ref.rmsNorm(f64([3, 4]), f64([2, 1]), 0, 1, 2, 1e-6, out, rstd);
    close(out, [6 * r, 4 * r], 1e-15);
    const rows = 2;
    const cols = 4;
    const x = rand(rows * cols, 5, -2, 2);
    const wt = rand(cols, 6);
    const wgt = rand(rows * cols, 7);
    const fwd = (xx: Float64Array, ww: Float64Array) => {
      const o = new Float64Array(rows * cols);
      ref.rmsNorm(xx, ww, 1, rows, cols, 1e-6, o, new Float64Array(rows));
      return o;
    };
    const rs = new Float64Array(rows);
    ref.rmsNorm(x, wt, 1, rows, cols, 1e-6, new Float64Array(rows * cols), rs);
    const dx = new Float64Array(rows * cols);
    const dw = new Float64Array(cols);
    ref.rmsNormBackward(wgt, x, wt, 1, rs, rows, cols, dx, dw);
    close(
      dx,
      numGrad((v) => fwd(v, wt), x, wgt),
      1e-8,
      "dx",
    );
    close(
      dw,
      numGrad((v) => fwd(x, v), wt, wgt),
      1e-8,
      "dw",
    );
  });
});

describe("ref softmax, attention, loss", () => {
  test("softmax of [0, ln 2] is [1/3, 2/3]; shift invariance; backward by finite differences", () => {
    const out = new Float64Array(4);
    ref.softmax(f64([0, Math.log(2), 1000, 1000 + Math.log(2)]), 2, 2, out);
    close(out, [1 / 3, 2 / 3, 1 / 3, 2 / 3], 1e-12); // 1000 + ln 2 is itself rounded at ~1e-13
    const x = rand(6, 8, -3, 3);
    const w = rand(6, 9);
    const y = new Float64Array(6);
    ref.softmax(x, 2, 3, y);
    const dx = w.slice();
    ref.softmaxBackward(y, dx, 2, 3, dx);
    const fwd = (v: Float64Array) => {
      const o = new Float64Array(6);
      ref.softmax(v, 2, 3, o);
      return o;
    };
    close(dx, numGrad(fwd, x, w), 1e-8);
  });

  test("causal softmax: uniform over visible keys, zero elsewhere, sliding window", () => {
    const t = 3;
    const out = new Float64Array(2 * t * t).fill(9);
    ref.causalSoftmax(new Float64Array(2 * t * t), 2, t, 0, out);
    const full = [1, 0, 0, 1 / 2, 1 / 2, 0, 1 / 3, 1 / 3, 1 / 3];
    close(out, [...full, ...full], 1e-15);
    ref.causalSoftmax(new Float64Array(t * t), 1, t, 2, out.subarray(0, t * t));
    close(out.subarray(0, t * t), [1, 0, 0, 1 / 2, 1 / 2, 0, 0, 1 / 2, 1 / 2], 1e-15, "window 2");
    // Masked scores do not leak into the visible ones.
    const x = f64([5, 100, 100, 0, Math.log(2), 100, 0, 0, 0]);
    ref.causalSoftmax(x, 1, t, 0, x); // in place
    close(x, [1, 0, 0, 1 / 3, 2 / 3, 0, 1 / 3, 1 / 3, 1 / 3], 1e-15, "in place");
  });

  test("cross-entropy = log-sum-exp - target logit by hand; ignored rows; backward", () => {
    const logits = f64([1, 2, 3, 0, 0, 0, 5, 5, 5]);
    const targets = Int32Array.from([2, -1, 0]);
    const losses = new Float64Array(3);
    const count = ref.crossEntropy(logits, targets, 3, 3, losses);
    assert.equal(count, 2);
    const lse = Math.log(Math.E + Math.E ** 2 + Math.E ** 3);
    close(losses, [lse - 3, 0, Math.log(3)], 1e-15);
    const dl = new Float64Array(9);
    ref.crossEntropyBackward(logits, targets, f64([2, 7, 0.5]), 3, 3, dl);
    const p = [Math.E / Math.exp(lse), Math.E ** 2 / Math.exp(lse), Math.E ** 3 / Math.exp(lse)];
    close(dl, [2 * p[0], 2 * p[1], 2 * (p[2] - 1), 0, 0, 0, 0.5 * (1 / 3 - 1), 0.5 / 3, 0.5 / 3], 1e-14);
    assert.throws(() => ref.crossEntropy(logits, Int32Array.from([3, 0, 0]), 3, 3, losses), RangeError);
    assert.throws(() => ref.crossEntropy(logits, Int32Array.from([-2, 0, 0]), 3, 3, losses), RangeError);
  });
});

describe("ref topk, embeddings, rope, adamw", () => {
  test("topkRows keeps the k largest, ties to the lower index, idx by value; backward", () => {
    const x = f64([3, 1, 4, 2, 1, 2, 2, 2]); // rows [3,1,4,2] and [1,2,2,2]
    const out = new Float64Array(8);
    const idx = new Int32Array(4);
    ref.topkRows(x, 2, 4, 2, out, idx);
    assert.deepEqual([...out], [3, 0, 4, 0, 0, 2, 2, 0]);
    assert.deepEqual([...idx], [2, 0, 1, 2]);
    const dx = f64([1, 2, 3, 4, 5, 6, 7, 8]);
    ref.topkRowsBackward(dx, idx, 2, 4, 2, dx); // in place
    assert.deepEqual([...dx], [1, 0, 3, 0, 0, 6, 7, 0]);
    assert.throws(() => ref.topkRows(x, 2, 4, 5, out, new Int32Array(10)), RangeError);
    // NaN ranks below every number, -inf included (equal rank: lower column first).
    const xn = f64([Number.NaN, 1, Number.NEGATIVE_INFINITY, 2]);
    const on = new Float64Array(4);
    const idn = new Int32Array(3);
    ref.topkRows(xn, 1, 4, 3, on, idn);
    assert.deepEqual([...idn], [3, 1, 0]);
    assert.ok(Number.isNaN(on[0]) && on[1] === 1 && on[2] === 0 && on[3] === 2);
    ref.topkRows(f64([Number.NaN, Number.NEGATIVE_INFINITY, 0]), 1, 3, 2, new Float64Array(3), idn.subarray(0, 2));
    assert.deepEqual([...idn.subarray(0, 2)], [2, 0]);
  });

  test("embedding gather and scatter-add with a repeated id; ids out of range throw", () => {
    const table = f64([0, 1, 10, 11, 20, 21]); // vocab 3, dim 2
    const out = new Float64Array(6);
    ref.embeddingGather(table, Int32Array.from([2, 0, 2]), 3, 2, out);
    assert.deepEqual([...out], [20, 21, 0, 1, 20, 21]);
    const dt = new Float64Array(6);
    ref.embeddingScatterAdd(f64([1, 2, 3, 4, 5, 6]), Int32Array.from([2, 0, 2]), 3, 2, dt);
    assert.deepEqual([...dt], [3, 4, 0, 0, 6, 8]);
    assert.throws(() => ref.embeddingGather(table, Int32Array.from([3]), 3, 2, new Float64Array(2)), RangeError);
    assert.throws(() => ref.embeddingGather(table, Int32Array.from([-1]), 3, 2, new Float64Array(2)), RangeError);
  });

  test("rope: a quarter turn, position 0 is the identity, inverse undoes it", () => {
    // headDim 4, theta = 4 / pi^2: pair (0,2) turns by pos rad, pair (1,3) by pos * pi/2.
    const theta = 4 / Math.PI ** 2;
    const x = f64([1, 2, 3, 4, 1, 2, 3, 4]); // n = 2 positions, 1 head
    const out = new Float64Array(8);
    ref.rope(x, Int32Array.from([0, 1]), 2, 1, 4, theta, false, out);
    const c = Math.cos(1);
    const s = Math.sin(1);
    close(out, [1, 2, 3, 4, 1 * c - 3 * s, -4, 3 * c + 1 * s, 2], 1e-15);
    const back = new Float64Array(8);
    ref.rope(out, Int32Array.from([0, 1]), 2, 1, 4, theta, true, back);
    close(back, x, 1e-15, "inverse");
    assert.throws(() => ref.rope(x, Int32Array.from([0, 1]), 2, 1, 3, theta, false, out), RangeError);
  });

  test("adamw: two steps by hand", () => {
    const p = f64([1, -2]);
    const g = f64([0.5, 0.5]);
    const m = new Float64Array(2);
    const v = new Float64Array(2);
    const [lr, b1, b2, eps, wd] = [0.1, 0.9, 0.999, 1e-8, 0.01];
    ref.adamw(p, g, m, v, lr, b1, b2, eps, wd, 1);
    // step 1: m = 0.05, v = 0.00025, mhat = 0.5, vhat = 0.25 -> update 0.5 / (0.5 + eps)
    close(m, [0.05, 0.05], 1e-15);
    close(v, [0.00025, 0.00025], 1e-15);
    const u1 = 0.5 / (0.5 + eps);
    const p1 = [1 - lr * (u1 + wd * 1), -2 - lr * (u1 + wd * -2)];
    close(p, p1, 1e-15);
    ref.adamw(p, f64([-1, 0]), m, v, lr, b1, b2, eps, wd, 2);
    // step 2, first entry: m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001 = 0.00124975
    const mh = -0.055 / (1 - 0.81);
    const vh = 0.00124975 / (1 - 0.999 ** 2);
    close(p.subarray(0, 1), [p1[0] - lr * (mh / (Math.sqrt(vh) + eps) + wd * p1[0])], 1e-14);
    assert.throws(() => ref.adamw(p, g, m, v, lr, b1, b2, eps, wd, 0), RangeError);
  });
});

describe("ref argument checks", () => {
  test("mixed float types, wrong lengths and bad dims give one-line errors", () => {
    const oneLine = (kind: typeof TypeError | typeof RangeError) => (e: unknown) =>
      e instanceof kind && !(e as Error).message.includes("\n");
    assert.throws(() => ref.add(f64([1]), Float32Array.of(1), new Float64Array(1)), oneLine(TypeError));
    assert.throws(() => ref.softmax(f64([1, 2, 3]), 2, 2, new Float64Array(4)), oneLine(RangeError));
    assert.throws(
      () => ref.layerNorm(f64([1, 2]), null, null, 1, 2, 1e-5, new Float64Array(2), new Float64Array(2), f64([0])),
      oneLine(RangeError),
    );
    assert.throws(() => ref.sumRows(f64([1, 2]), -1, -2, new Float64Array(1), false), oneLine(RangeError));
    assert.throws(
      () => ref.topkRowsBackward(f64([1, 2]), Int32Array.of(2), 1, 2, 1, new Float64Array(2)),
      oneLine(RangeError),
    );
    const fx: FloatArray = new Float64Array(1);
    assert.throws(() => ref.scale(fx, "2" as unknown as number, fx), oneLine(TypeError));
    assert.throws(() => ref.softcap(fx, 0, fx), oneLine(RangeError));
    assert.throws(() => ref.causalSoftmax(fx, 1, 1, 0.5, fx), oneLine(RangeError));
  });
});
