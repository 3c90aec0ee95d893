// Finite-difference gradient checking of tape graphs on the ref backend in float64.
//
// For a graph y = build(x_1..x_n) and a fixed random weight w, L = sum(w * y). The tape's
// gradients (backward with seed w) are compared with central differences
// (L(x + eps e_j) - L(x - eps e_j)) / (2 eps) for every entry j of every input that wants one.
// Error measure per entry: |analytic - numeric| / max(1, |analytic|, |numeric|).
import assert from "node:assert/strict";
import { Tape, type Var } from "../../src/autograd/tape.ts";
import type { FloatArray } from "../../src/core/backend.ts";
import { RefBackend } from "../../src/core/backends/ref.ts";
import { numel, Rng, type Shape } from "../../src/core/tensor.ts";

export const ref = new RefBackend();

export interface CheckInput {
  data: Float64Array;
  shape: Shape;
  /** false: a constant (no gradient checked). Default true. */
  grad?: boolean;
}

export interface GradcheckResult {
  maxError: number;
  /** Op names the graph recorded (inputs excluded). */
  ops: string[];
}

export function gradcheck(
  build: (t: Tape, xs: Var[]) => Var,
  inputs: CheckInput[],
  options: { eps?: number; tol?: number; seed?: number } = {},
): GradcheckResult {
  const eps = options.eps ?? 1e-6;
  const tol = options.tol ?? 1e-6;
  const t = new Tape(ref, { dtype: "float64" });
  const record = () => {
    t.reset();
    const xs = inputs.map((x) => t.input(x.data, x.shape, x.grad !== false));
    return { xs, y: build(t, xs) };
  };
  const { xs, y } = record();
  const ops = t.recordedOps().filter((o) => o !== "@input");
  const w = new Rng(options.seed ?? 7).fillUniform(new Float64Array(y.size), -1, 1);
  t.backward(y, w);
  const analytic = xs.map((x) => (x.grad ? Float64Array.from(x.grad) : new Float64Array(x.size)));
  const loss = () => {
    const out = record().y.data;
    let s = 0;
    for (let i = 0; i < out.length; i++) s += w[i] * out[i];
    return s;
  };
  let maxError = 0;
  inputs.forEach((inp, i) => {
    if (inp.grad === false) return;
    const d = inp.data;
    for (let j = 0; j < d.length; j++) {
      const keep = d[j];
      d[j] = keep + eps;
      const up = loss();
      d[j] = keep - eps;
      const down = loss();
      d[j] = keep;
      const numeric = (up - down) / (2 * eps);
      const a = analytic[i][j];
      const err = Math.abs(a - numeric) / Math.max(1, Math.abs(a), Math.abs(numeric));
      maxError = Math.max(maxError, err);
      assert.ok(
        err < tol,
        `${ops.join(" -> ")}: d/dinput${i}[${j}] analytic ${a} vs numeric ${numeric} (error ${err.toExponential(2)})`,
      );
    }
  });
  return { maxError, ops };
}

/** Uniform entries in [lo, hi). */
export function uniform(shape: Shape, seed: number, lo = -1, hi = 1): CheckInput {
  return { data: new Rng(seed).fillUniform(new Float64Array(numel(shape)), lo, hi), shape };
}

/** Entries with |x| in [lo, hi) and random signs (away from kinks at 0). */
export function awayFromZero(shape: Shape, seed: number, lo = 0.2, hi = 1.5): CheckInput {
  const rng = new Rng(seed);
  const data = new Float64Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = (rng.next() < 0.5 ? -1 : 1) * (lo + (hi - lo) * rng.next());
  return { data, shape };
}

/** Each row a shuffled ladder of values 0.3 apart plus small noise: no near-ties (TopK). */
export function distinctRows(rows: number, cols: number, seed: number): CheckInput {
  const rng = new Rng(seed);
  const data = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: cols }, (_, i) => i);
    for (let i = cols - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let c = 0; c < cols; c++) data[r * cols + c] = 0.3 * (order[c] - cols / 2) + 0.05 * rng.next();
  }
  return { data, shape: [rows, cols] };
}

/** A float64 copy (for comparisons that must not see later writes into tape buffers). */
export function copy(a: FloatArray | null): Float64Array {
  return a ? Float64Array.from(a) : new Float64Array(0);
}
