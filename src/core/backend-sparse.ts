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
 *
 * The decoder of an SAE with codes h [rows, m] as S: x^ = spmm(S, W_dec); W_dec.grad += spmm(S^T, g);
 * dh at the active entries = sddmm(S, g, W_dec): nnz * d multiply-adds each instead of rows * m * d.
 */
import type { FloatArray } from "./backend.ts";

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
}
