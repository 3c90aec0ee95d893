/**
 * Causal multi-head attention core shared by the architectures, per (batch, head) GEMMs:
 *
 *   S_bh = alpha * Q_bh K_bg^T                       [T, T]  (g = h / (H / KV): grouped-query)
 *   S_bh = cap * tanh(S_bh / cap)                    (optional soft-capping, Gemma-2)
 *   P_bh = softmax over keys j <= i, i - j < window  (window <= 0: unlimited)
 *   Y_bh = P_bh V_bg                                 [T, headDim], written at head h's columns of Y
 *
 * Q, K, V are read in place from the projection outputs: row (b*T + t) of a buffer with row stride
 * `stride` holds head h at columns [offset + h*headDim, offset + (h+1)*headDim). Subarray views
 * for every (batch, head) are built once per workspace, so a forward allocates nothing.
 */
import type { Backend } from "../core/backend.ts";

export interface HeadLayout {
  buf: Float32Array; // [batch * seq, stride]
  stride: number;
  offset: number;
}

export interface AttentionDims {
  batch: number;
  seq: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

/** Precomputed views of one layer's attention buffers. */
export class AttentionViews {
  readonly dims: AttentionDims;
  readonly q: Float32Array[]; // per (b, h)
  readonly k: Float32Array[]; // per (b, g)
  readonly v: Float32Array[]; // per (b, g)
  readonly scores: Float32Array[]; // per (b, h): [T, T] views of preatt
  readonly probs: Float32Array[]; // per (b, h): [T, T] views of att
  readonly y: Float32Array[]; // per (b, h)
  readonly qStride: number;
  readonly kStride: number;
  readonly vStride: number;
  readonly yStride: number;

  constructor(
    dims: AttentionDims,
    q: HeadLayout,
    k: HeadLayout,
    v: HeadLayout,
    preatt: Float32Array, // [batch, nHeads, seq, seq]
    att: Float32Array, // [batch, nHeads, seq, seq]
    y: HeadLayout, // [batch * seq, stride], heads at [offset + h*headDim, ...)
  ) {
    const { batch: B, seq: T, nHeads: H, nKvHeads: KV, headDim: hd } = dims;
    if (H % KV !== 0) throw new RangeError(`attention: ${H} heads are not a multiple of ${KV} key/value heads`);
    if (preatt.length !== B * H * T * T || att.length !== B * H * T * T)
      throw new RangeError(`attention: score buffers must hold ${B * H * T * T} entries`);
    this.dims = dims;
    this.qStride = q.stride;
    this.kStride = k.stride;
    this.vStride = v.stride;
    this.yStride = y.stride;
    const view = (l: HeadLayout, b: number, h: number) => {
      const start = b * T * l.stride + l.offset + h * hd;
      return l.buf.subarray(start, start + (T - 1) * l.stride + hd);
    };
    this.q = [];
    this.y = [];
    this.scores = [];
    this.probs = [];
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        this.q.push(view(q, b, h));
        this.y.push(view(y, b, h));
        const s = (b * H + h) * T * T;
        this.scores.push(preatt.subarray(s, s + T * T));
        this.probs.push(att.subarray(s, s + T * T));
      }
    }
    this.k = [];
    this.v = [];
    for (let b = 0; b < B; b++) {
      for (let g = 0; g < KV; g++) {
        this.k.push(view(k, b, g));
        this.v.push(view(v, b, g));
      }
    }
  }
}

/**
 * Runs the attention core. preatt ends holding the (capped) scores, att the probabilities
 * (both [batch, nHeads, seq, seq], kept for a backward pass), y the per-head outputs.
 */
export function attentionForward(
  be: Backend,
  views: AttentionViews,
  preatt: Float32Array, // [batch, nHeads, seq, seq]
  att: Float32Array, // [batch, nHeads, seq, seq]
  alpha: number,
  softcap: number | null,
  window: number,
): void {
  const { batch: B, seq: T, nHeads: H, nKvHeads: KV, headDim: hd } = views.dims;
  const rep = H / KV;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kv = b * KV + Math.floor(h / rep);
      // S [T, T] = alpha * Q [T, hd] K^T
      be.gemm(
        false,
        true,
        T,
        T,
        hd,
        alpha,
        views.q[b * H + h],
        views.qStride,
        views.k[kv],
        views.kStride,
        0,
        views.scores[b * H + h],
        T,
      );
    }
  }
  if (softcap !== null) be.softcap(preatt, softcap, preatt);
  be.causalSoftmax(preatt, B * H, T, window, att);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kv = b * KV + Math.floor(h / rep);
      // Y_bh [T, hd] = P [T, T] V [T, hd]
      be.gemm(
        false,
        false,
        T,
        hd,
        T,
        1,
        views.probs[b * H + h],
        T,
        views.v[kv],
        views.vStride,
        0,
        views.y[b * H + h],
        views.yStride,
      );
    }
  }
}
