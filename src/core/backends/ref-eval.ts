/**
 * Ref backend, the evaluation kernels (src/core/backend-eval.ts) as float64 loops:
 *   logitSoftmax:  p_r = softmax(l_r), lse_r = logsumexp(l_r), pl_r = sum_v p_rv l_rv
 *   logitCompare:  lseQ_r = logsumexp(q_r), pq_r = sum_v p_rv q_rv
 */
import type { FloatArray } from "../backend.ts";
import { f64s, floats } from "./ref-check.ts";
import { RefNn } from "./ref-nn.ts";

export class RefEval extends RefNn {
  logitSoftmax(
    logits: FloatArray,
    rows: number,
    vocab: number,
    p: FloatArray,
    lse: Float64Array,
    pl: Float64Array,
  ): void {
    const K = "logitSoftmax";
    this.rowsCols(K, rows, vocab, "vocab");
    if (vocab < 1) throw new RangeError(`${K}: vocab must be >= 1`);
    floats(K, "logits", logits, rows * vocab);
    floats(K, "p", p, rows * vocab, logits);
    f64s(K, "lse", lse, rows);
    f64s(K, "pl", pl, rows);
    for (let r = 0; r < rows; r++) {
      const o = r * vocab;
      const z = this.logSumExp(logits, o, vocab);
      let a = 0;
      for (let v = o; v < o + vocab; v++) {
        p[v] = Math.exp(logits[v] - z);
        a += p[v] * logits[v];
      }
      lse[r] = z;
      pl[r] = a;
    }
  }

  logitCompare(
    p: FloatArray, // [rows, vocab]
    q: FloatArray, // [rows, vocab]
    rows: number,
    vocab: number,
    lseQ: Float64Array, // [rows]
    pq: Float64Array, // [rows]
  ): void {
    const K = "logitCompare";
    this.rowsCols(K, rows, vocab, "vocab");
    if (vocab < 1) throw new RangeError(`${K}: vocab must be >= 1`);
    floats(K, "p", p, rows * vocab);
    floats(K, "q", q, rows * vocab, p);
    f64s(K, "lseQ", lseQ, rows);
    f64s(K, "pq", pq, rows);
    for (let r = 0; r < rows; r++) {
      const o = r * vocab;
      let c = 0;
      for (let v = o; v < o + vocab; v++) c += p[v] * q[v];
      lseQ[r] = this.logSumExp(q, o, vocab);
      pq[r] = c;
    }
  }
}
