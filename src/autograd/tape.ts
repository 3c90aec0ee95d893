/**
 * Tape: the autograd's user-facing class. One typed method per row of the op table (ops.ts),
 * each a plain `apply` call; recording, buffers and reverse mode live in TapeCore (tape-core.ts).
 *
 *   const t = new Tape(backend);                 // float32; new Tape(ref, { dtype: "float64" }) for checks
 *   const h = t.relu(t.addRowVec(t.matmul(x, t.param(W)), t.param(b)));
 *   const loss = t.mse(t.matmul(h, t.param(V)), target);
 *   t.backward(loss);                            // W.grad, b.grad, V.grad accumulate
 *   t.reset();                                   // next step replays into the same buffers
 *
 * Shapes in the comments: R, C = rows and last dim of x; vectors may have any shape of that size.
 */
import type { Shape } from "../core/tensor.ts";
import type { MatmulAttrs, RmsNormAttrs } from "./ops.ts";
import { TapeCore } from "./tape-core.ts";
import type { Var } from "./types.ts";

export type { Dtype, TapeOptions } from "./tape-core.ts";
export { Var } from "./types.ts";

export class Tape extends TapeCore {
  // ---------------------------------------------------------------- products, arithmetic
  /** a [m, k] (or [k, m] with transA), b [k, n] (or [n, k] with transB) -> [m, n]. */
  matmul(a: Var, b: Var, attrs?: MatmulAttrs): Var {
    return this.apply("matmul", [a, b], attrs);
  }
  /** a [G, m, k], b [G, k, n] (transposes per group) -> [G, m, n]. */
  bmm(a: Var, b: Var, attrs?: MatmulAttrs): Var {
    return this.apply("bmm", [a, b], attrs);
  }
  add(a: Var, b: Var): Var {
    return this.apply("add", [a, b]);
  }
  sub(a: Var, b: Var): Var {
    return this.apply("sub", [a, b]);
  }
  /** Elementwise product (same shapes). */
  mul(a: Var, b: Var): Var {
    return this.apply("mul", [a, b]);
  }
  /** alpha x (alpha a constant). */
  scale(x: Var, alpha: number): Var {
    return this.apply("scale", [x], { alpha });
  }
  /** x + c (c a constant). */
  addScalar(x: Var, c: number): Var {
    return this.apply("addScalar", [x], { c });
  }
  /** x * s with s a learned scalar Var (one entry). */
  mulScalar(x: Var, s: Var): Var {
    return this.apply("mulScalar", [x, s]);
  }
  /** x [R, C] + v [C] (bias). */
  addRowVec(x: Var, v: Var): Var {
    return this.apply("addRowVec", [x, v]);
  }
  /** x [R, C] - v [C]. */
  subRowVec(x: Var, v: Var): Var {
    return this.apply("subRowVec", [x, v]);
  }
  /** x [R, C] * v [C] (per-column gain). */
  mulRowVec(x: Var, v: Var): Var {
    return this.apply("mulRowVec", [x, v]);
  }
  /** x [R, C] + s [R] (per-row value). */
  addColVec(x: Var, s: Var): Var {
    return this.apply("addColVec", [x, s]);
  }
  /** x [R, C] - s [R]. */
  subColVec(x: Var, s: Var): Var {
    return this.apply("subColVec", [x, s]);
  }
  /** x [R, C] * s [R]. */
  mulColVec(x: Var, s: Var): Var {
    return this.apply("mulColVec", [x, s]);
  }
  /** x [R, C] / s [R]. */
  divColVec(x: Var, s: Var): Var {
    return this.apply("divColVec", [x, s]);
  }

  // ---------------------------------------------------------------- reductions
  /** Sum of all entries -> []. */
  sum(x: Var): Var {
    return this.apply("sum", [x]);
  }
  /** Mean of all entries -> []. */
  mean(x: Var): Var {
    return this.apply("mean", [x]);
  }
  /** x [R, C] -> [C], summed over rows. */
  sumRows(x: Var): Var {
    return this.apply("sumRows", [x]);
  }
  /** x [R, C] -> [R], summed over columns. */
  sumCols(x: Var): Var {
    return this.apply("sumCols", [x]);
  }
  /** sum x^2 -> []. */
  sumSquares(x: Var): Var {
    return this.apply("sumSquares", [x]);
  }
  /** mean (a - b)^2 over all entries -> []. */
  mse(a: Var, b: Var): Var {
    return this.apply("mse", [a, b]);
  }
  /** Mean over the last dim: [..., C] -> [...]. */
  rowMean(x: Var): Var {
    return this.apply("rowMean", [x]);
  }
  /** Biased variance over the last dim: [..., C] -> [...]. */
  rowVar(x: Var): Var {
    return this.apply("rowVar", [x]);
  }

  // ---------------------------------------------------------------- pointwise
  relu(x: Var): Var {
    return this.apply("relu", [x]);
  }
  /** GELU, tanh approximation. */
  gelu(x: Var): Var {
    return this.apply("gelu", [x]);
  }
  /** cap tanh(x / cap). */
  softcap(x: Var, cap: number): Var {
    return this.apply("softcap", [x], { cap });
  }
  abs(x: Var): Var {
    return this.apply("abs", [x]);
  }
  sigmoid(x: Var): Var {
    return this.apply("sigmoid", [x]);
  }
  exp(x: Var): Var {
    return this.apply("exp", [x]);
  }
  log(x: Var): Var {
    return this.apply("log", [x]);
  }
  sqrt(x: Var): Var {
    return this.apply("sqrt", [x]);
  }

  // ---------------------------------------------------------------- normalization, attention, loss
  /** LayerNorm over the last dim, with optional affine gamma, beta [C] (both or neither). */
  layerNorm(x: Var, gamma: Var | null = null, beta: Var | null = null, eps = 1e-5): Var {
    if ((gamma === null) !== (beta === null)) throw new TypeError("layerNorm: pass both gamma and beta, or neither");
    return this.apply("layerNorm", gamma && beta ? [x, gamma, beta] : [x], { eps });
  }
  /** RMSNorm over the last dim: x rstd (offset + w), w [C]. */
  rmsNorm(x: Var, w: Var, attrs?: RmsNormAttrs): Var {
    return this.apply("rmsNorm", [x, w], attrs);
  }
  /** Softmax over the last dim. */
  softmax(x: Var): Var {
    return this.apply("softmax", [x]);
  }
  /** Causal softmax of scores [G, T, T] or [T, T]; window > 0 limits keys to i - j < window. */
  causalSoftmax(scores: Var, window = 0): Var {
    return this.apply("causalSoftmax", [scores], { window });
  }
  /** Mean cross-entropy of logits [R, V] over rows whose target (Int32Array [R]) is not -1 -> []. */
  crossEntropy(logits: Var, targets: Int32Array): Var {
    return this.apply("crossEntropy", [logits], { targets });
  }
  /** Keep the k largest entries per row (last dim), zero the rest. */
  topkRows(x: Var, k: number): Var {
    return this.apply("topkRows", [x], { k });
  }
  /** table [V, D], ids [n] -> [n, D]. */
  embedding(table: Var, ids: Int32Array): Var {
    return this.apply("embedding", [table], { ids });
  }
  /** Rotary embedding of x [n, heads, headDim] at positions [n]. */
  rope(x: Var, positions: Int32Array, theta: number): Var {
    return this.apply("rope", [x], { positions, theta });
  }

  // ---------------------------------------------------------------- shapes
  /** A view with another shape of the same size (one dim may be -1). */
  reshape(x: Var, shape: Shape): Var {
    return this.apply("reshape", [x], { shape });
  }
  /** [R, C] -> [C, R]. */
  transpose(x: Var): Var {
    return this.apply("transpose", [x]);
  }
  /** [A, B, C] -> [B, A, C]. */
  swapAxes01(x: Var): Var {
    return this.apply("swapAxes01", [x]);
  }
  /** x[start:end] along the first dim (a view). */
  sliceFirst(x: Var, start: number, end: number): Var {
    return this.apply("sliceFirst", [x], { start, end });
  }
  /** x[..., start:end] along the last dim. */
  sliceLast(x: Var, start: number, end: number): Var {
    return this.apply("sliceLast", [x], { start, end });
  }
  concatFirst(xs: readonly Var[]): Var {
    return this.apply("concatFirst", xs);
  }
  concatLast(xs: readonly Var[]): Var {
    return this.apply("concatLast", xs);
  }
}
