/**
 * The native backend's fused LM-training kernels (native/src/kernels/lm_fused.cc and
 * attention_fused.cc), a base class of NativeBackend: GeGLU forward/backward, soft-capped
 * logits + cross-entropy (+ gradient), and causal grouped-query attention forward/backward
 * (q, k, v contiguous or packed in one q|k|v matrix).
 * Semantics are on the Backend interface (src/core/backend.ts); the addon checks dims and lengths.
 */
import type { FloatArray } from "../backend.ts";
import { f32 } from "./native-eval.ts";
import { NativeSparse } from "./native-sparse.ts";

export abstract class NativeLmKernels extends NativeSparse {
  geglu(gate: FloatArray /* [n] */, up: FloatArray /* [n] */, out: FloatArray /* [n] */): void {
    f32("geglu", gate, up, out);
    this.addon.geglu(gate, up, out);
  }

  gegluBackward(
    gate: FloatArray, // [n]
    up: FloatArray, // [n]
    dOut: FloatArray, // [n]
    dGate: FloatArray, // [n]
    dUp: FloatArray, // [n]
  ): void {
    f32("gegluBackward", gate, up, dOut, dGate, dUp);
    this.addon.gegluBackward(gate, up, dOut, dGate, dUp);
  }

  gegluPacked(gu: FloatArray /* [rows, 2m] */, rows: number, m: number, out: FloatArray /* [rows, m] */): void {
    f32("gegluPacked", gu, out);
    this.addon.gegluPacked(gu, rows, m, out);
  }

  gegluPackedBackward(
    gu: FloatArray, // [rows, 2m]
    dOut: FloatArray, // [rows, m]
    rows: number,
    m: number,
    dGu: FloatArray, // [rows, 2m]
  ): void {
    f32("gegluPackedBackward", gu, dOut, dGu);
    this.addon.gegluPackedBackward(gu, dOut, rows, m, dGu);
  }

  softcapCrossEntropy(
    z: FloatArray, // [rows, vocab]
    targets: Int32Array, // [rows]
    rows: number,
    vocab: number,
    cap: number,
    dloss: FloatArray | null, // [rows]
    losses: FloatArray, // [rows]
    dz: FloatArray | null, // [rows, vocab]
  ): number {
    f32("softcapCrossEntropy", z, dloss, losses, dz);
    return this.addon.softcapCrossEntropy(z, targets, rows, vocab, cap, dloss, losses, dz);
  }

  attentionForwardFused(
    q: FloatArray, // [B*T, H*hd], or a view of [B*T, stride] (packed q|k|v)
    k: FloatArray, // [B*T, KV*hd], or a view of [B*T, stride]
    v: FloatArray, // [B*T, KV*hd], or a view of [B*T, stride]
    batch: number,
    seq: number,
    heads: number,
    kvHeads: number,
    headDim: number,
    alpha: number,
    cap: number,
    window: number,
    scores: FloatArray, // [B, H, T, T]
    probs: FloatArray, // [B, H, T, T]
    y: FloatArray, // [B*T, H*hd]
    stride = 0, // row stride of packed q, k, v; 0 = contiguous
  ): void {
    f32("attentionForwardFused", q, k, v, scores, probs, y);
    this.addon.attentionForwardFused(
      q,
      k,
      v,
      batch,
      seq,
      heads,
      kvHeads,
      headDim,
      alpha,
      cap,
      window,
      scores,
      probs,
      y,
      stride,
    );
  }

  attentionBackwardFused(
    q: FloatArray, // [B*T, H*hd], or a view of [B*T, stride] (packed q|k|v)
    k: FloatArray, // [B*T, KV*hd], or a view of [B*T, stride]
    v: FloatArray, // [B*T, KV*hd], or a view of [B*T, stride]
    batch: number,
    seq: number,
    heads: number,
    kvHeads: number,
    headDim: number,
    alpha: number,
    cap: number,
    window: number,
    scores: FloatArray, // [B, H, T, T]
    probs: FloatArray, // [B, H, T, T]
    dy: FloatArray, // [B*T, H*hd]
    dq: FloatArray, // laid out like q
    dk: FloatArray, // laid out like k
    dv: FloatArray, // laid out like v
    stride = 0, // row stride of packed q, k, v (and dq, dk, dv); 0 = contiguous
  ): void {
    f32("attentionBackwardFused", q, k, v, scores, probs, dy, dq, dk, dv);
    const a = [q, k, v, batch, seq, heads, kvHeads, headDim, alpha, cap, window, scores, probs, dy, dq, dk, dv, stride];
    this.addon.attentionBackwardFused(...a);
  }
}
