/**
 * Backend kernels of evaluation (part of the Backend interface, src/core/backend.ts): comparing a
 * patched forward's logits with the clean ones (src/eval/ce.ts), per row, sums in float64:
 *
 *   logitSoftmax:  p_r = softmax(l_r),  lse_r = log sum_v exp(l_rv),  pl_r = sum_v p_rv l_rv
 *   logitCompare:  lseQ_r = log sum_v exp(q_rv),  pq_r = sum_v p_rv q_rv
 *
 * so KL(softmax(l_r) || softmax(q_r)) = (pl_r - pq_r) + lseQ_r - lse_r and CE_r = lseQ_r - q_r[target]
 * (the compare pass reads only p and q: at a large vocabulary memory traffic bounds it).
 */
import type { FloatArray } from "./float-array.ts";

export interface EvalKernels {
  /** logits, p [rows, vocab] (same array type); lse, pl [rows] float64. */
  logitSoftmax(
    logits: FloatArray,
    rows: number,
    vocab: number,
    p: FloatArray,
    lse: Float64Array,
    pl: Float64Array,
  ): void;
  /** p, q [rows, vocab] (same array type); lseQ, pq [rows] float64. */
  logitCompare(p: FloatArray, q: FloatArray, rows: number, vocab: number, lseQ: Float64Array, pq: Float64Array): void;
}
