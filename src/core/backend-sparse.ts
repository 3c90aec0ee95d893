/**
 * Backend kernels on sparse codes (part of the Backend interface, src/core/backend.ts): the SAE
 * step's decoder and its backward over the active latents only. A sparse S [rows, cols] is CSR:
 * rowPtr [rows + 1] (rowPtr[0] = 0, non-decreasing), idx [nnz] (the column of each entry, in
 * [0, cols)), val [nnz]; the arrays may be longer than nnz = rowPtr[rows].
 *
 *   csrFromDense(x, rows, cols, rowPtr, idx, val) -> nnz   the entries x != 0 of x [rows, cols], by row then
 *                                                 column; when idx / val hold fewer than nnz entries only
 *                                                 rowPtr is written (grow them to nnz and call again)
 *   csrGather(x, rows, cols, rowPtr, idx, val)    val_e = x[r, idx_e] for the entries e of row r
 *   csrTranspose(rowPtr, idx, val, rows, cols, colPtr, rowIdx, valT)   S^T [cols, rows] in CSR, entries
 *                                                 of a column in row order
 *   spmm(rowPtr, idx, val, rows, B, n, alpha, beta, C)   C [rows, n] = beta C + alpha S B,  B [cols, n]
 *   sddmm(rowPtr, idx, rows, A, B, n, alpha, out)  out_e = alpha <A[r], B[idx_e]>,  A [rows, n], B [cols, n]
 *   csrScatter(rowPtr, idx, val, rows, cols, accumulate, out)  out [rows, cols] = S (0 elsewhere), or
 *                                                 out += S when accumulate; duplicate entries add
 *   topkSelect(x, bias, rows, cols, k, idx, val, mask, kAux, auxIdx, auxVal)   with v = ReLU(x + bias)
 *                                                 (bias [cols] or null; NaN stays NaN): idx / val [rows, k]
 *                                                 the k largest v of each row (equal values: the lower
 *                                                 column; NaN ranks as -inf), in increasing column order; when
 *                                                 mask [cols] is given, auxIdx / auxVal [rows, kAux] the kAux
 *                                                 largest v over the columns with mask != 0 (kAux <= their
 *                                                 count; without a mask auxIdx / auxVal are empty)
 *   batchTopkSelect(x, bias, rows, cols, K, rowPtr, idx, val)   with v = ReLU(x + bias): the K largest v
 *                                                 of the whole batch [rows, cols] (equal values: the lower
 *                                                 flat index r cols + c; NaN ranks as -inf) as a CSR of K
 *                                                 entries, columns increasing within a row (BatchTopK)
 *   addTransposed(t, rows, cols, alpha, out)      out [cols, rows] += alpha t^T,  t [rows, cols]
 *
 * The decoder of an SAE with codes h [rows, m] as S: x^ = spmm(S, W_dec); W_dec.grad += spmm(S^T, g);
 * dh at the active entries = sddmm(S, g, W_dec): nnz * d multiply-adds each instead of rows * m * d.
 */
import type { FloatArray } from "./float-array.ts";

export interface SparseKernels {
  csrFromDense(x: FloatArray, rows: number, cols: number, rowPtr: Int32Array, idx: Int32Array, val: FloatArray): number;
  csrGather(x: FloatArray, rows: number, cols: number, rowPtr: Int32Array, idx: Int32Array, val: FloatArray): void;
  csrTranspose(
    rowPtr: Int32Array,
    idx: Int32Array,
    val: FloatArray,
    rows: number,
    cols: number,
    colPtr: Int32Array,
    rowIdx: Int32Array,
    valT: FloatArray,
  ): void;
  spmm(
    rowPtr: Int32Array,
    idx: Int32Array,
    val: FloatArray,
    rows: number,
    b: FloatArray,
    n: number,
    alpha: number,
    beta: number,
    c: FloatArray,
  ): void;
  sddmm(
    rowPtr: Int32Array,
    idx: Int32Array,
    rows: number,
    a: FloatArray,
    b: FloatArray,
    n: number,
    alpha: number,
    out: FloatArray,
  ): void;
  csrScatter(
    rowPtr: Int32Array,
    idx: Int32Array,
    val: FloatArray,
    rows: number,
    cols: number,
    accumulate: boolean,
    out: FloatArray,
  ): void;
  topkSelect(
    x: FloatArray,
    bias: FloatArray | null,
    rows: number,
    cols: number,
    k: number,
    idx: Int32Array,
    val: FloatArray,
    mask: Uint8Array | null,
    kAux: number,
    auxIdx: Int32Array,
    auxVal: FloatArray,
  ): void;
  batchTopkSelect(
    x: FloatArray,
    bias: FloatArray | null,
    rows: number,
    cols: number,
    K: number,
    rowPtr: Int32Array,
    idx: Int32Array,
    val: FloatArray,
  ): void;
  addTransposed(t: FloatArray, rows: number, cols: number, alpha: number, out: FloatArray): void;
}
