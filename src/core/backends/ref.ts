/**
 * The ref backend: every Backend kernel as a plain TypeScript loop, the oracle the native addon
 * and the autograd are tested against. Exact semantics are documented on the interface
 * (src/core/backend.ts); this file restates only the equations.
 *
 * - Arithmetic runs in float64 (JS numbers); results are stored into whatever array type was
 *   passed, Float32Array or Float64Array (all float arrays of one call share that type).
 * - Outputs may alias the first input where the interface allows it: every loop reads what it
 *   needs of a row before it writes that row.
 * - Arguments are checked like the addon checks them (ref-check.ts): a wrong array kind is a
 *   TypeError, a length inconsistent with the dims or an index out of range a RangeError.
 *   Lengths must match the dims exactly, except gemm's strided operands (at least what the
 *   strides need).
 */
import type { Backend, Bf16Matrix, FloatArray } from "../backend.ts";
import { bf16WeightRef, gemmBf16Ref } from "../bf16-ref.ts";
import { dim, f32s, finite, floats, indicesIn, int32s, num, u16s } from "./ref-check.ts";
import * as half from "./ref-half.ts";
import { RefLm } from "./ref-lm.ts";

/** The ref backend: kernels of ref-basic.ts, ref-nn.ts, ref-eval.ts, ref-sae.ts, ref-sparse.ts and ref-lm.ts plus embeddings, RoPE, AdamW and conversions. */
export class RefBackend extends RefLm implements Backend {
  readonly name = "ref" as const;

  // ---------------------------------------------------------------- bf16 weight GEMM (bf16-ref.ts: the TS twin)
  bf16Weight(w: Float32Array, n: number, k: number, transW: boolean): Bf16Matrix {
    return bf16WeightRef(w, n, k, transW);
  }

  /** out[i, j] = sum_k bf16(x[i, k]) w[j, k], fp32 running sum. */
  gemmBf16(x: Float32Array, m: number, w: Bf16Matrix, out: Float32Array): void {
    if (w.layout !== "plain") throw new TypeError("gemmBf16: this bf16 weight was packed by the native backend");
    gemmBf16Ref(x, m, w.k, w.data, w.n, out);
  }

  // ---------------------------------------------------------------- embeddings and positions
  /** out[i] = table[ids[i]]. */
  embeddingGather(table: FloatArray, ids: Int32Array, vocab: number, dim_: number, out: FloatArray): void {
    const K = "embeddingGather";
    this.rowsCols(K, vocab, dim_, "dim", "vocab");
    floats(K, "table", table, vocab * dim_);
    int32s(K, "ids", ids, ids.length);
    floats(K, "out", out, ids.length * dim_, table);
    indicesIn(K, "ids", ids, vocab);
    for (let i = 0; i < ids.length; i++) {
      const src = ids[i] * dim_;
      for (let d = 0; d < dim_; d++) out[i * dim_ + d] = table[src + d];
    }
  }

  /** dtable[ids[i]] += dout[i]. */
  embeddingScatterAdd(dout: FloatArray, ids: Int32Array, vocab: number, dim_: number, dtable: FloatArray): void {
    const K = "embeddingScatterAdd";
    this.rowsCols(K, vocab, dim_, "dim", "vocab");
    int32s(K, "ids", ids, ids.length);
    floats(K, "dout", dout, ids.length * dim_);
    floats(K, "dtable", dtable, vocab * dim_, dout);
    indicesIn(K, "ids", ids, vocab);
    for (let i = 0; i < ids.length; i++) {
      const dst = ids[i] * dim_;
      for (let d = 0; d < dim_; d++) dtable[dst + d] += dout[i * dim_ + d];
    }
  }

  /**
   * Rotate pairs (i, i + h/2) of each head by f = pos theta^(-2i/h):
   * out[i] = x[i] cos f - x[i + h/2] sin f, out[i + h/2] = x[i + h/2] cos f + x[i] sin f (inverse: f -> -f).
   * Rows of x and out have `stride` entries, the heads first (a packed q|k|v row: q|k rotated, v untouched).
   */
  rope(
    x: FloatArray, // [n, heads, headDim]
    positions: Int32Array, // [n]
    n: number,
    heads: number,
    headDim: number,
    theta: number,
    inverse: boolean,
    out: FloatArray, // [n, heads, headDim], or [n, stride] with the heads first in each row
    stride = heads * headDim,
  ): void {
    const K = "rope";
    dim(K, "n", n);
    dim(K, "heads", heads);
    dim(K, "headDim", headDim);
    finite(K, "theta", theta, (t) => t > 0, "finite and > 0");
    if (headDim % 2 !== 0) throw new RangeError(`${K}: headDim must be even, got ${headDim}`);
    if (typeof inverse !== "boolean") throw new TypeError(`${K}: argument 'inverse' must be a boolean`);
    dim(K, "stride", stride);
    if (stride < heads * headDim) throw new RangeError(`${K}: stride must be >= heads*headDim`);
    const strided = stride !== heads * headDim;
    floats(K, "x", x, strided ? -1 : n * heads * headDim);
    int32s(K, "positions", positions, n);
    floats(K, "out", out, strided ? -1 : n * heads * headDim, x);
    const min = n === 0 ? 0 : (n - 1) * stride + heads * headDim;
    if (x.length < min || out.length < min)
      throw new RangeError(`${K}: x and out must hold (n - 1) * stride + heads*headDim = ${min} entries`);
    const half_ = headDim / 2;
    const sign = inverse ? -1 : 1;
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < half_; i++) {
        const f = positions[t] * theta ** ((-2 * i) / headDim);
        const cos = Math.cos(f);
        const sin = sign * Math.sin(f);
        for (let h = 0; h < heads; h++) {
          const o = t * stride + h * headDim;
          const a = x[o + i];
          const b = x[o + i + half_];
          out[o + i] = a * cos - b * sin;
          out[o + i + half_] = b * cos + a * sin;
        }
      }
    }
  }

  // ---------------------------------------------------------------- optimizer
  /** m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr (mhat / (sqrt(vhat) + eps) + wd p). */
  adamw(
    param: FloatArray, // [n]
    grad: FloatArray, // [n]
    m: FloatArray, // [n]
    v: FloatArray, // [n]
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
  ): void {
    const K = "adamw";
    floats(K, "param", param, -1);
    floats(K, "grad", grad, param.length, param);
    floats(K, "m", m, param.length, param);
    floats(K, "v", v, param.length, param);
    num(K, "lr", lr);
    finite(K, "beta1", beta1, (b) => b >= 0 && b < 1, "in [0, 1)");
    finite(K, "beta2", beta2, (b) => b >= 0 && b < 1, "in [0, 1)");
    num(K, "eps", eps);
    num(K, "weightDecay", weightDecay);
    dim(K, "step", step);
    if (step < 1) throw new RangeError(`${K}: argument 'step' must be >= 1, got ${step}`);
    const c1 = 1 - beta1 ** step;
    const c2 = 1 - beta2 ** step;
    for (let i = 0; i < param.length; i++) {
      const g = grad[i];
      const mi = beta1 * m[i] + (1 - beta1) * g;
      const vi = beta2 * v[i] + (1 - beta2) * g * g;
      m[i] = mi;
      v[i] = vi;
      const p = param[i];
      param[i] = p - lr * (mi / c1 / (Math.sqrt(vi / c2) + eps) + weightDecay * p);
    }
  }

  // ---------------------------------------------------------------- dtype conversion
  f16ToF32(src: Uint16Array, out: Float32Array): void {
    u16s("f16ToF32", "src", src, -1);
    f32s("f16ToF32", "out", out, src.length);
    half.f16ToF32(src, out);
  }

  f32ToF16(src: Float32Array, out: Uint16Array): void {
    f32s("f32ToF16", "src", src, -1);
    u16s("f32ToF16", "out", out, src.length);
    half.f32ToF16(src, out);
  }

  bf16ToF32(src: Uint16Array, out: Float32Array): void {
    u16s("bf16ToF32", "src", src, -1);
    f32s("bf16ToF32", "out", out, src.length);
    half.bf16ToF32(src, out);
  }

  f32ToBf16(src: Float32Array, out: Uint16Array): void {
    f32s("f32ToBf16", "src", src, -1);
    u16s("f32ToBf16", "out", out, src.length);
    half.f32ToBf16(src, out);
  }
}
