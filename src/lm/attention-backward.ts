/**
 * Backward of the causal attention core of attention.ts, per (batch, head) GEMMs. Forward:
 *
 *   S_bh = alpha * Q_bh K_bg^T          [T, T]     (g = h / (H / KV): grouped-query)
 *   C_bh = cap * tanh(S_bh / cap)                 (optional soft-capping; preatt holds C)
 *   P_bh = causal (sliding-window) softmax(C_bh)   (att holds P; masked entries are 0)
 *   Y_bh = P_bh V_bg                    [T, hd]
 *
 * Backward, given dY:
 *
 *   dP_bh  = dY_bh V_bg^T                          dV_bg += P_bh^T dY_bh   (summed over the group's heads)
 *   dC_bh  = P_bh * (dP_bh - rowsum(dP_bh * P_bh)) (softmaxBackward; masked entries get 0 since P = 0)
 *   dS_bh  = dC_bh * (1 - (C_bh / cap)^2)          (softcapBackward)
 *   dQ_bh  = alpha dS_bh K_bg                      dK_bg += alpha dS_bh^T Q_bh
 *
 * dQ, dK, dV, dY are laid out like Q, K, V, Y (an AttentionViews over the gradient buffers, built
 * once per workspace); dQ, dK, dV are overwritten. dScores [batch, heads, T, T] is scratch.
 */
import type { Backend, FloatArray } from "../core/backend.ts";
import type { AttentionViews } from "./attention.ts";

export function attentionBackward(
  be: Backend,
  fwd: AttentionViews, // views of the forward's q, k, v, preatt (capped scores), att (probabilities)
  grad: AttentionViews, // views of dq, dk, dv, dScores (as both score buffers), dy
  dScores: FloatArray, // [batch, nHeads, seq, seq] scratch
  preatt: FloatArray, // [batch, nHeads, seq, seq] capped scores C from the forward
  att: FloatArray, // [batch, nHeads, seq, seq] probabilities P from the forward
  alpha: number,
  softcap: number | null,
): void {
  const { batch: B, seq: T, nHeads: H, nKvHeads: KV, headDim: hd } = fwd.dims;
  const rep = H / KV;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const kv = b * KV + Math.floor(h / rep);
      const first = h % rep === 0 ? 0 : 1; // dK, dV: the group's first head overwrites, the others add
      // dP [T, T] = dY [T, hd] V^T
      be.gemm(false, true, T, T, hd, 1, grad.y[bh], grad.yStride, fwd.v[kv], fwd.vStride, 0, grad.scores[bh], T);
      // dV [T, hd] += P^T dY
      be.gemm(true, false, T, hd, T, 1, fwd.probs[bh], T, grad.y[bh], grad.yStride, first, grad.v[kv], grad.vStride);
    }
  }
  be.softmaxBackward(att, dScores, B * H * T, T, dScores);
  if (softcap !== null) be.softcapBackward(preatt, dScores, softcap, dScores);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const kv = b * KV + Math.floor(h / rep);
      const first = h % rep === 0 ? 0 : 1;
      // dQ [T, hd] = alpha dS K
      be.gemm(false, false, T, hd, T, alpha, grad.scores[bh], T, fwd.k[kv], fwd.kStride, 0, grad.q[bh], grad.qStride);
      // dK [T, hd] += alpha dS^T Q
      be.gemm(
        true,
        false,
        T,
        hd,
        T,
        alpha,
        grad.scores[bh],
        T,
        fwd.q[bh],
        fwd.qStride,
        first,
        grad.k[kv],
        grad.kStride,
      );
    }
  }
}
