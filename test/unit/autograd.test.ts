// Tape mechanics: accumulation, parameter gradients across steps, reset and buffer reuse, errors,
// and a 2-layer MLP whose loss and gradients match an independent loop and finite differences.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Tape, type Var } from "../../src/autograd/tape.ts";
import type { Backend } from "../../src/core/backend.ts";
import { loadAddon } from "../../src/core/backends/addon.ts";
import { nativeBackend } from "../../src/core/backends/index.ts";
import { RefBackend } from "../../src/core/backends/ref.ts";
import { Parameter } from "../../src/core/parameter.ts";
import { Rng } from "../../src/core/tensor.ts";

const ref = new RefBackend();
const f64 = (v: number[]) => Float64Array.from(v);
const p64 = (name: string, shape: number[], seed: number) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Parameter(name, new Rng(seed).fillUniform(new Float64Array(n), -1, 1), shape);
};

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = "value"): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    assert.ok(err <= tol, `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

describe("tape mechanics", () => {
  test("an input used twice gets the sum of both paths: d/dx sum(x*x + x) = 2x + 1", () => {
    const t = new Tape(ref, { dtype: "float64" });
    const x = t.input(f64([1, -2, 0.5]), [3]);
    const y = t.sum(t.add(t.mul(x, x), x));
    assert.equal(y.data[0], 1 + 4 + 0.25 + 1 - 2 + 0.5);
    t.backward(y);
    close(x.grad ?? [], [3, -3, 2], 0, "dx");
  });

  test("parameter gradients accumulate across backward calls until zeroGrad", () => {
    const w = new Parameter("w", f64([1, 2]), [2]);
    const t = new Tape(ref, { dtype: "float64" });
    const step = () => {
      t.reset();
      const loss = t.sumSquares(t.param(w)); // d/dw = 2w
      t.backward(loss);
      return loss;
    };
    step();
    close(w.grad, [2, 4], 0, "one step");
    const loss = step();
    close(w.grad, [4, 8], 0, "two steps");
    t.backward(loss); // the same recording again also adds
    close(w.grad, [6, 12], 0, "backward twice");
    w.zeroGrad();
    step();
    close(w.grad, [2, 4], 0, "after zeroGrad");
  });

  test("the same parameter used through two leaves accumulates both contributions", () => {
    const w = new Parameter("w", f64([3]), [1]);
    const t = new Tape(ref, { dtype: "float64" });
    const loss = t.sum(t.mul(t.param(w), t.param(w))); // w^2 -> 2w
    t.backward(loss);
    close(w.grad, [6], 0);
  });

  test("intermediate gradients are exposed; values off the loss path get none; constants get none", () => {
    const t = new Tape(ref, { dtype: "float64" });
    const x = t.input(f64([1, 2]), [2]);
    const c = t.constant(f64([5, 7]), [2]);
    const h = t.mul(x, c);
    const unused = t.exp(x);
    const loss = t.sum(h);
    t.backward(loss);
    close(h.grad ?? [], [1, 1], 0, "dh");
    close(x.grad ?? [], [5, 7], 0, "dx");
    assert.equal(unused.grad, null);
    assert.equal(c.grad, null);
    assert.equal(c.requiresGrad, false);
  });

  test("reset replays into the same buffers with the same results; a stale Var is refused", () => {
    const w = p64("w", [3, 2], 1);
    const x = new Rng(2).fillUniform(new Float64Array(12), -1, 1);
    const t = new Tape(ref, { dtype: "float64" });
    const run = () => {
      t.reset();
      w.zeroGrad();
      const h = t.gelu(t.matmul(t.constant(x, [4, 3]), t.param(w)));
      const loss = t.mean(t.mul(h, h));
      t.backward(loss);
      return { h, loss: loss.data[0], grad: Float64Array.from(w.grad) };
    };
    const a = run();
    const hData = a.h.data;
    const b = run();
    assert.equal(b.h.data, hData, "output buffer reused on replay");
    assert.equal(b.loss, a.loss);
    close(b.grad, a.grad, 0, "same gradient");
    assert.throws(() => t.relu(a.h), /before tape.reset\(\)/);
    // A different graph after reset still computes correctly.
    t.reset();
    const y = t.sum(t.scale(t.param(w), 2));
    w.zeroGrad();
    t.backward(y);
    close(w.grad, [2, 2, 2, 2, 2, 2], 0, "new graph");
  });

  test("backward errors: non-scalar without a seed, a seed of the wrong size, nothing to differentiate", () => {
    const t = new Tape(ref, { dtype: "float64" });
    const x = t.input(f64([1, 2, 3]), [3]);
    const y = t.scale(x, 2);
    assert.throws(() => t.backward(y), /not a scalar; pass a seed of 3 entries/);
    assert.throws(() => t.backward(y, f64([1])), RangeError);
    t.backward(y, f64([1, 0, -1]));
    close(x.grad ?? [], [2, 0, -2], 0, "seeded");
    const k = t.sum(t.constant(f64([1]), [1]));
    assert.throws(() => t.backward(k), /does not depend on any parameter/);
  });

  test("type and shape errors are one line and name the problem", () => {
    const t = new Tape(ref, { dtype: "float64" });
    assert.throws(() => t.param(Parameter.zeros("w32", [2])), /Float32Array but the tape runs on Float64Array/);
    assert.throws(() => t.input(f64([1, 2]), [3]), RangeError);
    const a = t.input(f64([1, 2, 3, 4, 5, 6]), [2, 3]);
    assert.throws(() => t.matmul(a, a), /matmul: inner dims differ/);
    assert.throws(() => t.add(a, t.reshape(a, [3, 2])), /add: shapes differ/);
    assert.throws(() => t.layerNorm(a, t.input(f64([1, 1, 1]), [3])), /both gamma and beta/);
    const native = { ...ref, name: "native" } as unknown as Backend;
    assert.throws(() => new Tape(native, { dtype: "float64" }), /float64 needs the ref backend/);
  });

  test("a float32 tape on ref matches the float64 tape to float32 precision", () => {
    const x = new Rng(3).fillUniform(new Float64Array(8), -1, 1);
    const run = (dtype: "float32" | "float64") => {
      const t = new Tape(ref, { dtype });
      const Arr = dtype === "float32" ? Float32Array : Float64Array;
      const xv = t.input(Arr.from(x), [2, 4]);
      const loss = t.sum(t.softmax(t.layerNorm(t.mul(xv, xv))));
      const w = t.mean(t.mul(t.softmax(t.mul(xv, xv)), xv));
      t.backward(t.add(t.reshape(loss, [1]), t.reshape(w, [1])), Arr.from([1]));
      return Float64Array.from(xv.grad ?? []);
    };
    close(run("float32"), run("float64"), 1e-5, "float32 vs float64");
  });
});

describe("2-layer MLP end to end", () => {
  // loss = mean_{r,j} (gelu(x W1 + b1) W2 + b2 - target)^2, written here as plain loops.
  const [B, D, H, O] = [4, 3, 5, 2];
  const x = new Rng(10).fillUniform(new Float64Array(B * D), -1, 1);
  const target = new Rng(11).fillUniform(new Float64Array(B * O), -1, 1);
  const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  const naiveLoss = (w1: Float64Array, b1: Float64Array, w2: Float64Array, b2: Float64Array) => {
    let s = 0;
    for (let r = 0; r < B; r++) {
      const h = new Float64Array(H);
      for (let j = 0; j < H; j++) {
        let a = b1[j];
        for (let i = 0; i < D; i++) a += x[r * D + i] * w1[i * H + j];
        h[j] = gelu(a);
      }
      for (let o = 0; o < O; o++) {
        let y = b2[o];
        for (let j = 0; j < H; j++) y += h[j] * w2[j * O + o];
        s += (y - target[r * O + o]) ** 2;
      }
    }
    return s / (B * O);
  };

  test("loss equals the plain loop and every parameter gradient matches finite differences", () => {
    const params = [p64("W1", [D, H], 1), p64("b1", [H], 2), p64("W2", [H, O], 3), p64("b2", [O], 4)];
    const [W1, b1, W2, b2] = params;
    const t = new Tape(ref, { dtype: "float64" });
    const h = t.gelu(t.addRowVec(t.matmul(t.constant(x, [B, D]), t.param(W1)), t.param(b1)));
    const y = t.addRowVec(t.matmul(h, t.param(W2)), t.param(b2));
    const loss = t.mse(y, t.constant(target, [B, O]));
    const f = () => naiveLoss(W1.data, b1.data, W2.data, b2.data);
    assert.ok(Math.abs(loss.data[0] - f()) < 1e-14, `loss ${loss.data[0]} vs ${f()}`);
    t.backward(loss);
    const eps = 1e-6;
    for (const p of params) {
      for (let i = 0; i < p.data.length; i++) {
        const keep = p.data[i];
        p.data[i] = keep + eps;
        const up = f();
        p.data[i] = keep - eps;
        const down = f();
        p.data[i] = keep;
        const num = (up - down) / (2 * eps);
        assert.ok(Math.abs(p.grad[i] - num) < 1e-8, `${p.name}[${i}]: ${p.grad[i]} vs ${num}`);
      }
    }
  });
});

describe("native (float32) against ref (float64)", () => {
  // A tiny transformer block and SAE head touching most kernels: embedding, RMSNorm, matmul,
  // RoPE, batched attention with softcap and causal softmax, LayerNorm, GELU, tied logits,
  // cross-entropy, TopK, MSE and L1.
  const [V, T, D, heads] = [7, 6, 8, 2];
  const hd = D / heads;
  const ids = Int32Array.from([1, 4, 6, 0, 4, 2]);
  const targets = Int32Array.from([4, 6, 0, -1, 2, 5]);
  const positions = Int32Array.from([0, 1, 2, 3, 4, 5]);
  const shapes: [string, number[]][] = [
    ["emb", [V, D]],
    ["norm", [D]],
    ["wq", [D, D]],
    ["wk", [D, D]],
    ["wv", [D, D]],
    ["gamma", [D]],
    ["beta", [D]],
    ["enc", [D, 12]],
  ];
  const init = shapes.map(([, s], i) => new Rng(100 + i).fillUniform(new Float64Array(s[0] * (s[1] ?? 1)), -0.8, 0.8));

  /** Parameter gradients of the graph; gemm = false swaps every product for non-GEMM ops. */
  function grads(backend: Backend, dtype: "float32" | "float64", gemm: boolean): Float64Array[] {
    const Arr = dtype === "float32" ? Float32Array : Float64Array;
    const params = shapes.map(([name, s], i) => new Parameter(name, Arr.from(init[i]), s));
    const t = new Tape(backend, { dtype });
    const [emb, norm, wq, wk, wv, gamma, beta, enc] = params.map((p) => t.param(p));
    const x = t.embedding(emb, ids);
    const xn = t.rmsNorm(x, norm, { offset: 1 });
    let h: Var;
    if (gemm) {
      const heads3 = (w: Var, rope: boolean) => {
        let q = t.reshape(t.matmul(xn, w), [T, heads, hd]);
        if (rope) q = t.rope(q, positions, 10000);
        return t.swapAxes01(q); // [heads, T, hd]
      };
      const qk = t.bmm(heads3(wq, true), heads3(wk, true), { transB: true });
      const att = t.bmm(t.causalSoftmax(t.softcap(t.scale(qk, 1 / Math.sqrt(hd)), 5)), heads3(wv, false));
      h = t.add(x, t.reshape(t.swapAxes01(att), [T, D])); // [T, D]
    } else {
      const q = t.reshape(t.rope(t.reshape(xn, [T, heads, hd]), positions, 10000), [T, D]);
      const mix = t.causalSoftmax(t.sliceLast(q, 0, T)); // [T, T] weights from the rotated values
      h = t.add(x, t.concatLast([t.mulColVec(t.sliceLast(q, 0, 2), t.sumCols(mix)), t.sliceLast(q, 2, D)]));
    }
    const hn = t.gelu(t.layerNorm(h, gamma, beta));
    const logits = gemm ? t.matmul(hn, emb, { transB: true }) : t.sliceLast(t.concatLast([hn, hn]), 0, V);
    const lm = t.crossEntropy(t.softcap(logits, 3), targets);
    const pre = gemm ? t.matmul(hn, enc) : t.mulRowVec(hn, norm);
    const code = t.topkRows(t.relu(pre), 4);
    const recon = gemm ? t.matmul(code, enc, { transB: true }) : code;
    const sae = t.add(t.mse(recon, hn), t.scale(t.mean(t.abs(code)), 0.1));
    t.backward(t.add(lm, sae));
    return params.map((p) => Float64Array.from(p.grad));
  }

  function compare(got: Float64Array[], want: Float64Array[]): void {
    want.forEach((w, i) => {
      const scale = Math.max(1e-3, ...w.map(Math.abs));
      for (let j = 0; j < w.length; j++) {
        assert.ok(
          Math.abs(got[i][j] - w[j]) <= 1e-4 * scale,
          `${shapes[i][0]}[${j}]: native ${got[i][j]} vs ref ${w[j]} (scale ${scale})`,
        );
      }
    });
  }

  const native = nativeBackend();
  const noNative = native ? false : "the native addon is not available";
  test("parameter gradients agree to 1e-4 (graph without GEMM)", { skip: noNative }, () => {
    compare(grads(native as Backend, "float32", false), grads(ref, "float64", false));
  });
  const noGemm = noNative || (typeof loadAddon()?.sgemm !== "function" && "the native addon has no sgemm yet");
  test("parameter gradients of a small transformer block + SAE head agree to 1e-4", { skip: noGemm }, () => {
    compare(grads(native as Backend, "float32", true), grads(ref, "float64", true));
  });
});
