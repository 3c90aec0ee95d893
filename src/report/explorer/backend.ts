/**
 * The explorer's backend: the ref backend (pure TypeScript, float64 arithmetic) with one kernel
 * reordered for speed, gemm, since the explorer's time is almost all matrix products.
 *
 *   C = alpha op(A) op(B) + beta C,  op(A) [m, k], op(B) [k, n], C [m, n]
 *
 * Same equation, same checks and the same float64 accumulation as RefBackend.gemm; only the loop
 * order differs: when op(B) rows are contiguous (B not transposed) each row of C accumulates
 * A[i, p] B[p, :] in a float64 row buffer (unit stride, and zero A[i, p] skipped, which makes
 * sparse SAE codes times W_dec cheap); otherwise (B transposed) each C[i, j] is a unit-stride dot
 * product over four partial sums. Sums run in a different order than the ref loop, so results agree to float64 rounding
 * (tested against RefBackend.gemm). One difference: a zero A[i, p] times an infinite or NaN B[p, j]
 * contributes 0 here (NaN in the ref loop); model and SAE weights are finite (the loaders check).
 */
import type { FloatArray } from "../../core/backend.ts";
import { RefBackend } from "../../core/backends/ref.ts";
import { gemmArgs } from "../../core/backends/ref-check.ts";

export class ExplorerBackend extends RefBackend {
  private row = new Float64Array(0);

  override gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: FloatArray, // stored [m, k] (or [k, m] when transA), row stride lda
    lda: number,
    b: FloatArray, // stored [k, n] (or [n, k] when transB), row stride ldb
    ldb: number,
    beta: number,
    c: FloatArray, // [m, n], row stride ldc
    ldc: number,
  ): void {
    gemmArgs(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    const [ai, ap] = transA ? [1, lda] : [lda, 1];
    if (this.row.length < n) this.row = new Float64Array(n);
    const acc = this.row;
    for (let i = 0; i < m; i++) {
      const aRow = i * ai;
      if (!transB) {
        acc.fill(0, 0, n);
        for (let p = 0; p < k; p++) {
          const aip = a[aRow + p * ap];
          if (aip === 0) continue;
          const bRow = p * ldb;
          for (let j = 0; j < n; j++) acc[j] += aip * b[bRow + j];
        }
      } else {
        for (let j = 0; j < n; j++) {
          const bRow = j * ldb;
          let s = 0;
          if (ap === 1) {
            // four independent partial sums: the add latency, not the multiply, bounds a single chain
            let s1 = 0;
            let s2 = 0;
            let s3 = 0;
            let p = 0;
            for (; p + 3 < k; p += 4) {
              s += a[aRow + p] * b[bRow + p];
              s1 += a[aRow + p + 1] * b[bRow + p + 1];
              s2 += a[aRow + p + 2] * b[bRow + p + 2];
              s3 += a[aRow + p + 3] * b[bRow + p + 3];
            }
            for (; p < k; p++) s += a[aRow + p] * b[bRow + p];
            s += s1 + s2 + s3;
          } else for (let p = 0; p < k; p++) s += a[aRow + p * ap] * b[bRow + p];
          acc[j] = s;
        }
      }
      const cRow = i * ldc;
      if (beta === 0) for (let j = 0; j < n; j++) c[cRow + j] = alpha * acc[j];
      else for (let j = 0; j < n; j++) c[cRow + j] = alpha * acc[j] + beta * c[cRow + j];
    }
  }
}
