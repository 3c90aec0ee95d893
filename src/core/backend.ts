/**
 * The Backend interface: the few sharp kernels every part of msae is built from.
 *
 * Conventions (llm.c style: flat arrays + explicit dims, no allocation inside a kernel):
 * - Every matrix is row-major. "[R, C]" in a comment means a flat array of R*C entries, row r at r*C.
 * - Outputs are written into caller-provided buffers (preallocated, reused across steps).
 *   Unless a kernel says otherwise an output may alias its first input (in place).
 * - `accumulate` flags on gradient outputs mean "add into", otherwise "overwrite".
 * - The `native` backend takes Float32Array only; the `ref` backend also takes Float64Array
 *   (all arrays of one call share one type) so gradient checks can run in float64.
 * - Index arrays are Int32Array. Half-precision storage is a Uint16Array of raw bits.
 * - Dims are validated by the native addon (a wrong length throws a one-line RangeError, never a crash).
 */
import type { EvalKernels } from "./backend-eval.ts";
import type { SaeKernels } from "./backend-sae.ts";
import type { SparseKernels } from "./backend-sparse.ts";
import type { FloatArray } from "./float-array.ts";

export type { FloatArray };

/**
 * A weight matrix W [n, k] rounded to bfloat16 once (round to nearest even): "packed" for the
 * native kernels (layout in native/src/kernels/gemm_bf16.h), "plain" [n, k] bits for the ref twin.
 */
export interface Bf16Matrix {
  readonly n: number;
  readonly k: number;
  readonly layout: "packed" | "plain";
  readonly data: Uint16Array;
}

export interface Backend extends EvalKernels, SaeKernels, SparseKernels {
  /** "native" (C++ addon) or "ref" (pure TypeScript oracle). */
  readonly name: "native" | "ref";

  // ---------------------------------------------------------------- GEMM
  /**
   * C = alpha * op(A) op(B) + beta * C, op(X) = X or X^T.
   * op(A) [m, k], op(B) [k, n], C [m, n]; lda/ldb/ldc are the row strides of A, B, C as stored
   * (A stored [m, k] when !transA else [k, m]; B stored [k, n] when !transB else [n, k]).
   * beta = 0 ignores what C held (NaN included).
   */
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: FloatArray,
    lda: number,
    b: FloatArray,
    ldb: number,
    beta: number,
    c: FloatArray,
    ldc: number,
  ): void;

  // ---------------------------------------------------------------- bf16 weight GEMM (src/core/bf16-gemm.ts)
  /** w [n, k] (transW = false) or [k, n] (transW = true) -> bf16(W) [n, k] in this backend's layout. */
  bf16Weight(w: Float32Array, n: number, k: number, transW: boolean): Bf16Matrix;
  /** out [m, n] = bf16(x [m, k]) . W^T, fp32 accumulation (w from this backend's bf16Weight). */
  gemmBf16(x: Float32Array, m: number, w: Bf16Matrix, out: Float32Array): void;

  // ---------------------------------------------------------------- elementwise
  /** out = a + b (same length). */
  add(a: FloatArray, b: FloatArray, out: FloatArray): void;
  /** out = a * b (same length). */
  mul(a: FloatArray, b: FloatArray, out: FloatArray): void;
  /** out = alpha * x. */
  scale(x: FloatArray, alpha: number, out: FloatArray): void;
  /** y += alpha * x. */
  axpy(alpha: number, x: FloatArray, y: FloatArray): void;
  /** x [rows, cols], bias [cols]: out[r, c] = x[r, c] + bias[c]. */
  addBias(x: FloatArray, bias: FloatArray, rows: number, cols: number, out: FloatArray): void;
  /** x [rows, cols], s [rows]: out[r, c] = x[r, c] * s[r]  (per-row gradient scaling). */
  scaleRows(x: FloatArray, s: FloatArray, rows: number, cols: number, out: FloatArray): void;
  /** x [rows, cols], s [cols]: out[r, c] = x[r, c] * s[c]  (per-column gradient scaling). */
  scaleCols(x: FloatArray, s: FloatArray, rows: number, cols: number, out: FloatArray): void;
  /** out = max(x, 0). */
  relu(x: FloatArray, out: FloatArray): void;
  /** dx = dy * [x > 0]  (dx may alias dy). */
  reluBackward(x: FloatArray, dy: FloatArray, dx: FloatArray): void;
  /** GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
  gelu(x: FloatArray, out: FloatArray): void;
  /** dx = dy * gelu'(x)  (dx may alias dy). */
  geluBackward(x: FloatArray, dy: FloatArray, dx: FloatArray): void;
  /** Soft-capping: out = cap * tanh(x / cap). */
  softcap(x: FloatArray, cap: number, out: FloatArray): void;
  /** dx = dy * (1 - (y / cap)^2), y the forward output (dx may alias dy). */
  softcapBackward(y: FloatArray, dy: FloatArray, cap: number, dx: FloatArray): void;

  // ---------------------------------------------------------------- reductions
  /** x [rows, cols] -> out [cols] = sum over rows (bias gradient). */
  sumRows(x: FloatArray, rows: number, cols: number, out: FloatArray, accumulate: boolean): void;
  /** x [rows, cols] -> out [rows] = sum over cols. */
  sumCols(x: FloatArray, rows: number, cols: number, out: FloatArray, accumulate: boolean): void;
  /** x [rows, cols] -> mean [cols], variance [cols] over rows (biased, divides by rows). */
  colMeanVar(x: FloatArray, rows: number, cols: number, mean: FloatArray, variance: FloatArray): void;
  /** sum_i x_i^2, accumulated in float64 (global-norm clipping). */
  sumSquares(x: FloatArray): number;
  /**
   * The smallest i with x[i] NaN, +Inf or -Inf, or -1 when every entry is finite (the loaders'
   * NaN / Inf scan: src/io/finite.ts). Reads x only.
   */
  firstNonFinite(x: FloatArray): number;

  // ---------------------------------------------------------------- normalization
  /**
   * LayerNorm over the last dim. x, out [rows, cols]; gamma, beta [cols] or null (no affine);
   * mean, rstd [rows] are written for the backward. out = (x - mean) * rstd * gamma + beta,
   * rstd = 1 / sqrt(var + eps), var biased.
   */
  layerNorm(
    x: FloatArray,
    gamma: FloatArray | null,
    beta: FloatArray | null,
    rows: number,
    cols: number,
    eps: number,
    out: FloatArray,
    mean: FloatArray,
    rstd: FloatArray,
  ): void;
  /** Backward of layerNorm. dx [rows, cols] overwritten; dgamma, dbeta [cols] accumulated (may be null). */
  layerNormBackward(
    dy: FloatArray,
    x: FloatArray,
    gamma: FloatArray | null,
    mean: FloatArray,
    rstd: FloatArray,
    rows: number,
    cols: number,
    dx: FloatArray,
    dgamma: FloatArray | null,
    dbeta: FloatArray | null,
  ): void;
  /**
   * RMSNorm: out = x * rstd * (offset + w), rstd = 1 / sqrt(mean(x^2) + eps).
   * offset = 1 gives Gemma's (1 + w); offset = 0 the plain form. w [cols]; rstd [rows] written.
   * With residual and sum [rows, cols] (both or neither): also sum = residual + out, in the same pass
   * (a pre-norm block's residual stream: x_next = x + RMSNorm(branch)).
   */
  rmsNorm(
    x: FloatArray,
    w: FloatArray,
    offset: number,
    rows: number,
    cols: number,
    eps: number,
    out: FloatArray,
    rstd: FloatArray,
    residual?: FloatArray | null,
    sum?: FloatArray | null,
  ): void;
  /** Backward of rmsNorm. dx overwritten (accumulate: dx += the gradient); dw [cols] accumulated (may be null). */
  rmsNormBackward(
    dy: FloatArray,
    x: FloatArray,
    w: FloatArray,
    offset: number,
    rstd: FloatArray,
    rows: number,
    cols: number,
    dx: FloatArray,
    dw: FloatArray | null,
    accumulate?: boolean,
  ): void;

  // ---------------------------------------------------------------- softmax, attention, loss
  /** Row softmax: x, out [rows, cols]. */
  softmax(x: FloatArray, rows: number, cols: number, out: FloatArray): void;
  /** dx = y * (dy - sum(dy * y)) per row (dx may alias dy). */
  softmaxBackward(y: FloatArray, dy: FloatArray, rows: number, cols: number, dx: FloatArray): void;
  /**
   * Causal (optionally sliding-window) softmax over attention scores.
   * x, out [groups, t, t]: row i of each group may see keys j with j <= i and i - j < window
   * (window <= 0 means unlimited); other entries of out are 0. Backward is softmaxBackward.
   */
  causalSoftmax(x: FloatArray, groups: number, t: number, window: number, out: FloatArray): void;
  /**
   * Cross-entropy per row: logits [rows, vocab], targets [rows] (-1 = ignored, loss 0).
   * losses [rows] = logsumexp(logits) - logits[target]. Returns the number of non-ignored rows.
   */
  crossEntropy(logits: FloatArray, targets: Int32Array, rows: number, vocab: number, losses: FloatArray): number;
  /** dlogits [rows, vocab] = (softmax(logits) - onehot(target)) * dloss[row]; ignored rows get 0. */
  crossEntropyBackward(
    logits: FloatArray,
    targets: Int32Array,
    dloss: FloatArray,
    rows: number,
    vocab: number,
    dlogits: FloatArray,
  ): void;

  // ---------------------------------------------------------------- fused LM-training kernels
  /** GeGLU: out = gelu(gate) * up (tanh GELU). gate, up, out [n]. */
  geglu(gate: FloatArray, up: FloatArray, out: FloatArray): void;
  /** dUp = dOut * gelu(gate); dGate = dOut * up * gelu'(gate). All [n]; dGate or dUp may alias dOut. */
  gegluBackward(gate: FloatArray, up: FloatArray, dOut: FloatArray, dGate: FloatArray, dUp: FloatArray): void;
  /**
   * GeGLU on gate and up packed in one matrix: gu [rows, 2m] (row r = gate_r | up_r, the output of
   * one GEMM with the stacked weight [Wg; Wu]); out [rows, m] = gelu(gu[:, :m]) * gu[:, m:].
   */
  gegluPacked(gu: FloatArray, rows: number, m: number, out: FloatArray): void;
  /** Backward of gegluPacked: dOut [rows, m] -> dGu [rows, 2m] = dGate | dUp (may alias gu). */
  gegluPackedBackward(gu: FloatArray, dOut: FloatArray, rows: number, m: number, dGu: FloatArray): void;
  /**
   * Soft-capped logits + cross-entropy in one pass over z [rows, vocab] (raw logits), targets [rows]
   * (-1 = ignored): c = cap tanh(z / cap) (cap = 0: c = z), losses [rows] = logsumexp(c) - c[target];
   * with dloss [rows] and dz [rows, vocab] (both or neither; dz may alias z):
   * dz = (softmax(c) - onehot(target)) * dloss * (1 - (c / cap)^2), ignored rows 0. Returns the scored count.
   */
  softcapCrossEntropy(
    z: FloatArray,
    targets: Int32Array,
    rows: number,
    vocab: number,
    cap: number,
    dloss: FloatArray | null,
    losses: FloatArray,
    dz: FloatArray | null,
  ): number;
  /**
   * Causal grouped-query attention in one kernel: q [batch*seq, heads*headDim], k, v
   * [batch*seq, kvHeads*headDim] (head h reads kv head h / (heads / kvHeads)); row i sees keys j with
   * j <= i and i - j < window (window <= 0: unlimited). S = alpha q k^T, C = cap tanh(S / cap)
   * (cap = 0: C = S), P = softmax(C), y = P v [batch*seq, heads*headDim]. scores (C) and probs (P)
   * [batch, heads, seq, seq] are written for the backward (0 outside the allowed band).
   * stride > 0 (packed q|k|v): q, k, v are row-strided views (row stride `stride` >=
   * (heads + 2 kvHeads) headDim) into one [batch*seq, stride] matrix, e.g. qkv, qkv.subarray(H hd),
   * qkv.subarray((H + KV) hd); y stays [batch*seq, heads*headDim]. 0 (default): contiguous.
   */
  attentionForwardFused(
    q: FloatArray,
    k: FloatArray,
    v: FloatArray,
    batch: number,
    seq: number,
    heads: number,
    kvHeads: number,
    headDim: number,
    alpha: number,
    cap: number,
    window: number,
    scores: FloatArray,
    probs: FloatArray,
    y: FloatArray,
    stride?: number,
  ): void;
  /**
   * Backward of attentionForwardFused given dy (laid out like y): dq, dk, dv (laid out like q, k, v,
   * with the same stride when packed) overwritten.
   */
  attentionBackwardFused(
    q: FloatArray,
    k: FloatArray,
    v: FloatArray,
    batch: number,
    seq: number,
    heads: number,
    kvHeads: number,
    headDim: number,
    alpha: number,
    cap: number,
    window: number,
    scores: FloatArray,
    probs: FloatArray,
    dy: FloatArray,
    dq: FloatArray,
    dk: FloatArray,
    dv: FloatArray,
    stride?: number,
  ): void;

  // ---------------------------------------------------------------- sparsity
  /**
   * Per-row TopK: x [rows, cols] -> out [rows, cols] keeping the k largest values of each row
   * (ties broken by lower index) and zero elsewhere; idx [rows, k] receives their columns.
   */
  topkRows(x: FloatArray, rows: number, cols: number, k: number, out: FloatArray, idx: Int32Array): void;
  /** dx [rows, cols] = dy at the kept positions idx [rows, k], 0 elsewhere. */
  topkRowsBackward(dy: FloatArray, idx: Int32Array, rows: number, cols: number, k: number, dx: FloatArray): void;

  // ---------------------------------------------------------------- embeddings and positions
  /** table [vocab, dim], ids [n] -> out [n, dim] (throws on an id outside [0, vocab)). */
  embeddingGather(table: FloatArray, ids: Int32Array, vocab: number, dim: number, out: FloatArray): void;
  /** dtable[ids[i]] += dout[i] (dout [n, dim], dtable [vocab, dim]). */
  embeddingScatterAdd(dout: FloatArray, ids: Int32Array, vocab: number, dim: number, dtable: FloatArray): void;
  /**
   * Rotary position embedding, HF "rotate_half" layout: x, out [n, heads, headDim]; positions [n].
   * For i < headDim/2, with f = pos * theta^(-2i/headDim):
   *   out[i] = x[i] cos f - x[i + h/2] sin f;  out[i + h/2] = x[i + h/2] cos f + x[i] sin f.
   * inverse = true applies the transposed rotation (the backward).
   * stride (default heads*headDim): the row stride of x and out, whose rows then hold the heads in
   * their first heads*headDim entries (q|k of a packed q|k|v matrix; the rest of a row is untouched).
   */
  rope(
    x: FloatArray,
    positions: Int32Array,
    n: number,
    heads: number,
    headDim: number,
    theta: number,
    inverse: boolean,
    out: FloatArray,
    stride?: number,
  ): void;

  // ---------------------------------------------------------------- optimizer
  /**
   * Fused AdamW step on one tensor (decoupled weight decay, bias-corrected, step >= 1):
   *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
   *   p -= lr * (m / (1 - b1^step) / (sqrt(v / (1 - b2^step)) + eps) + wd * p)
   */
  adamw(
    param: FloatArray,
    grad: FloatArray,
    m: FloatArray,
    v: FloatArray,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
  ): void;

  // ---------------------------------------------------------------- dtype conversion
  /** IEEE binary16 bits -> float32. */
  f16ToF32(src: Uint16Array, out: Float32Array): void;
  /** float32 -> binary16 bits, round to nearest even, overflow to inf, NaN kept. */
  f32ToF16(src: Float32Array, out: Uint16Array): void;
  /** bfloat16 bits -> float32. */
  bf16ToF32(src: Uint16Array, out: Float32Array): void;
  /** float32 -> bfloat16 bits, round to nearest even, NaN kept quiet. */
  f32ToBf16(src: Float32Array, out: Uint16Array): void;
}
