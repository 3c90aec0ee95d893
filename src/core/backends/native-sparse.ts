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

  topkSelect(
    x: FloatArray, // [rows, cols]
    bias: FloatArray | null, // [cols]
    rows: number,
    cols: number,
    k: number,
    idx: Int32Array, // [rows, k]
    val: FloatArray, // [rows, k]
    mask: Uint8Array | null, // [cols]
    kAux: number,
    auxIdx: Int32Array, // [rows, kAux]
    auxVal: FloatArray, // [rows, kAux]
  ): void {
    f32("topkSelect", x, val, auxVal);
    if (bias !== null) f32("topkSelect", bias);
    this.addon.topkSelect(x, bias, rows, cols, k, idx, val, mask, kAux, auxIdx, auxVal);
  }

  batchTopkSelect(
    x: FloatArray, // [rows, cols]
    bias: FloatArray | null, // [cols]
    rows: number,
    cols: number,
    K: number,
    rowPtr: Int32Array, // [rows + 1]
    idx: Int32Array, // [>= K]
    val: FloatArray, // [>= K]
  ): void {
    f32("batchTopkSelect", x, val);
    if (bias !== null) f32("batchTopkSelect", bias);
    this.addon.batchTopkSelect(x, bias, rows, cols, K, rowPtr, idx, val);
  }

  addTransposed(t: FloatArray, rows: number, cols: number, alpha: number, out: FloatArray): void {
    f32("addTransposed", t, out);
    this.addon.addTransposed(t, rows, cols, alpha, out);
  }
}
