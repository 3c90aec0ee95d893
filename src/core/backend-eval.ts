/**
 * Backend kernels of evaluation (part of the Backend interface, src/core/backend.ts): comparing a
 * patched forward's logits with the clean ones (src/eval/ce.ts), per row, sums in float64:
 *
 *   logitSoftmax:  p_r = softmax(l_r),  lse_r = log sum_v exp(l_rv)
 *   logitCompare:  lseQ_r = log sum_v exp(q_rv),  cross_r = sum_v p_rv (l_rv - q_rv)
 *
 * so KL(softmax(l_r) || softmax(q_r)) = cross_r + lseQ_r - lse_r and CE_r = lseQ_r - q_r[target].
 */
import type { FloatArray } from "./backend.ts";

export interface EvalKernels {
  /** logits, p [rows, vocab] (same array type); lse [rows] float64. */
  logitSoftmax(logits: FloatArray, rows: number, vocab: number, p: FloatArray, lse: Float64Array): void;
  /** clean, p, q [rows, vocab] (same array type); lseQ, cross [rows] float64. */
  logitCompare(
    clean: FloatArray,
    p: FloatArray,
    q: FloatArray,
    rows: number,
    vocab: number,
    lseQ: Float64Array,
    cross: Float64Array,
  ): void;
}
