/**
 * The native backend's sparse-code kernels (src/core/backend-sparse.ts, native/src/kernels/sparse.cc);
 * NativeBackend (native.ts) extends this class. The addon validates dims, lengths and indices itself.
 */
import type { FloatArray } from "../backend.ts";
import type { SparseKernels } from "../backend-sparse.ts";
import { f32 } from "./native-eval.ts";
import { NativeSae } from "./native-sae.ts";

export class NativeSparse extends NativeSae implements SparseKernels {
  csrFromDense(
    x: FloatArray,
    rows: number,
    cols: number,
    rowPtr: Int32Array,
    idx: Int32Array,
    val: FloatArray,
  ): number {
    f32("csrFromDense", x, val);
    return this.addon.csrFromDense(x, rows, cols, rowPtr, idx, val);
  }

  csrGather(x: FloatArray, rows: number, cols: number, rowPtr: Int32Array, idx: Int32Array, val: FloatArray): void {
    f32("csrGather", x, val);
    this.addon.csrGather(x, rows, cols, rowPtr, idx, val);
  }

  csrTranspose(
    rowPtr: Int32Array, // [rows + 1]
    idx: Int32Array, // [nnz]
    val: FloatArray, // [nnz]
    rows: number,
    cols: number,
    colPtr: Int32Array, // [cols + 1]
    rowIdx: Int32Array, // [nnz]
    valT: FloatArray, // [nnz]
  ): void {
    f32("csrTranspose", val, valT);
    this.addon.csrTranspose(rowPtr, idx, val, rows, cols, colPtr, rowIdx, valT);
  }

  spmm(
    rowPtr: Int32Array, // [rows + 1]
    idx: Int32Array, // [nnz]
    val: FloatArray, // [nnz]
    rows: number,
    b: FloatArray, // [cols, n]
    n: number,
    alpha: number,
    beta: number,
    c: FloatArray, // [rows, n]
  ): void {
    f32("spmm", val, b, c);
    this.addon.spmm(rowPtr, idx, val, rows, b, n, alpha, beta, c);
  }

  sddmm(
    rowPtr: Int32Array, // [rows + 1]
    idx: Int32Array, // [nnz]
    rows: number,
    a: FloatArray, // [rows, n]
    b: FloatArray, // [cols, n]
    n: number,
    alpha: number,
    out: FloatArray, // [nnz]
  ): void {
    f32("sddmm", a, b, out);
    this.addon.sddmm(rowPtr, idx, rows, a, b, n, alpha, out);
  }

  csrScatter(
    rowPtr: Int32Array, // [rows + 1]
    idx: Int32Array, // [nnz]
    val: FloatArray, // [nnz]
    rows: number,
    cols: number,
    accumulate: boolean,
    out: FloatArray, // [rows, cols]
  ): void {
    f32("csrScatter", val, out);
    this.addon.csrScatter(rowPtr, idx, val, rows, cols, accumulate, out);
  }
}
