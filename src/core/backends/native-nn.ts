/**
 * The native backend's normalization, softmax / cross-entropy, TopK, embedding and RoPE kernels
 * (native/src/kernels/norms.cc, softmax.cc, topk.cc, embed.cc), a base class of NativeBackend.
 * Semantics are on the Backend interface (src/core/backend.ts); the addon checks dims and lengths.
 */
import type { FloatArray } from "../backend.ts";
import { f32 } from "./native-eval.ts";
import { NativeLmKernels } from "./native-lm.ts";

export abstract class NativeNn extends NativeLmKernels {
  // ---------------------------------------------------------------- normalization
  layerNorm(
    x: FloatArray, // [rows, cols]
    gamma: FloatArray | null, // [cols]
    beta: FloatArray | null, // [cols]
    rows: number,
    cols: number,
    eps: number,
    out: FloatArray, // [rows, cols]
    mean: FloatArray, // [rows]
    rstd: FloatArray, // [rows]
  ): void {
    f32("layerNorm", x, gamma, beta, out, mean, rstd);
    this.addon.layerNorm(x, gamma, beta, rows, cols, eps, out, mean, rstd);
  }

  layerNormBackward(
    dy: FloatArray, // [rows, cols]
    x: FloatArray, // [rows, cols]
    gamma: FloatArray | null, // [cols]
    mean: FloatArray, // [rows]
    rstd: FloatArray, // [rows]
    rows: number,
    cols: number,
    dx: FloatArray, // [rows, cols]
    dgamma: FloatArray | null, // [cols]
    dbeta: FloatArray | null, // [cols]
  ): void {
    f32("layerNormBackward", dy, x, gamma, mean, rstd, dx, dgamma, dbeta);
    this.addon.layerNormBackward(dy, x, gamma, mean, rstd, rows, cols, dx, dgamma, dbeta);
  }

  rmsNorm(
    x: FloatArray, // [rows, cols]
    w: FloatArray, // [cols]
    offset: number,
    rows: number,
    cols: number,
    eps: number,
    out: FloatArray, // [rows, cols]
    rstd: FloatArray, // [rows]
    residual: FloatArray | null = null, // [rows, cols]: with sum, sum = residual + out
    sum: FloatArray | null = null, // [rows, cols]
  ): void {
    f32("rmsNorm", x, w, out, rstd, residual, sum);
    this.addon.rmsNorm(x, w, offset, rows, cols, eps, out, rstd, residual, sum);
  }

  rmsNormBackward(
    dy: FloatArray, // [rows, cols]
    x: FloatArray, // [rows, cols]
    w: FloatArray, // [cols]
    offset: number,
    rstd: FloatArray, // [rows]
    rows: number,
    cols: number,
    dx: FloatArray, // [rows, cols]
    dw: FloatArray | null, // [cols]
    accumulate = false, // dx += the gradient
  ): void {
    f32("rmsNormBackward", dy, x, w, rstd, dx, dw);
    this.addon.rmsNormBackward(dy, x, w, offset, rstd, rows, cols, dx, dw, accumulate);
  }

  // ---------------------------------------------------------------- softmax, attention, loss
  softmax(x: FloatArray /* [rows, cols] */, rows: number, cols: number, out: FloatArray /* [rows, cols] */): void {
    f32("softmax", x, out);
    this.addon.softmax(x, rows, cols, out);
  }

  softmaxBackward(
    y: FloatArray, // [rows, cols]
    dy: FloatArray, // [rows, cols]
    rows: number,
    cols: number,
    dx: FloatArray, // [rows, cols]
  ): void {
    f32("softmaxBackward", y, dy, dx);
    this.addon.softmaxBackward(y, dy, rows, cols, dx);
  }

  causalSoftmax(x: FloatArray /* [groups, t, t] */, groups: number, t: number, window: number, out: FloatArray): void {
    f32("causalSoftmax", x, out);
    this.addon.causalSoftmax(x, groups, t, window, out);
  }

  crossEntropy(
    logits: FloatArray, // [rows, vocab]
    targets: Int32Array, // [rows]
    rows: number,
    vocab: number,
    losses: FloatArray, // [rows]
  ): number {
    f32("crossEntropy", logits, losses);
    return this.addon.crossEntropy(logits, targets, rows, vocab, losses);
  }

  crossEntropyBackward(
    logits: FloatArray, // [rows, vocab]
    targets: Int32Array, // [rows]
    dloss: FloatArray, // [rows]
    rows: number,
    vocab: number,
    dlogits: FloatArray, // [rows, vocab]
  ): void {
    f32("crossEntropyBackward", logits, dloss, dlogits);
    this.addon.crossEntropyBackward(logits, targets, dloss, rows, vocab, dlogits);
  }

  // ---------------------------------------------------------------- sparsity
  topkRows(
    x: FloatArray, // [rows, cols]
    rows: number,
    cols: number,
    k: number,
    out: FloatArray, // [rows, cols]
    idx: Int32Array, // [rows, k]
  ): void {
    f32("topkRows", x, out);
    this.addon.topkRows(x, rows, cols, k, out, idx);
  }

  topkRowsBackward(
    dy: FloatArray, // [rows, cols]
    idx: Int32Array, // [rows, k]
    rows: number,
    cols: number,
    k: number,
    dx: FloatArray, // [rows, cols]
  ): void {
    f32("topkRowsBackward", dy, dx);
    this.addon.topkRowsBackward(dy, idx, rows, cols, k, dx);
  }

  // ---------------------------------------------------------------- embeddings and positions
  embeddingGather(
    table: FloatArray, // [vocab, dim]
    ids: Int32Array, // [n]
    vocab: number,
    dim: number,
    out: FloatArray, // [n, dim]
  ): void {
    f32("embeddingGather", table, out);
    this.addon.embeddingGather(table, ids, vocab, dim, out);
  }

  embeddingScatterAdd(
    dout: FloatArray, // [n, dim]
    ids: Int32Array, // [n]
    vocab: number,
    dim: number,
    dtable: FloatArray, // [vocab, dim]
  ): void {
    f32("embeddingScatterAdd", dout, dtable);
    this.addon.embeddingScatterAdd(dout, ids, vocab, dim, dtable);
  }

  rope(
    x: FloatArray, // [n, heads, headDim], or [n, stride] with the heads first in each row
    positions: Int32Array, // [n]
    n: number,
    heads: number,
    headDim: number,
    theta: number,
    inverse: boolean,
    out: FloatArray, // [n, heads, headDim], or [n, stride] with the heads first in each row
    stride?: number,
  ): void {
    f32("rope", x, out);
    this.addon.rope(x, positions, n, heads, headDim, theta, inverse, out, stride);
  }
}
