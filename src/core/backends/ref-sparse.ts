/**
 * Ref backend, the sparse-code kernels (src/core/backend-sparse.ts, equations there) as float64 loops.
 */
import type { FloatArray } from "../backend.ts";
import { dim, floats, int32s, num } from "./ref-check.ts";
import { RefSae } from "./ref-sae.ts";

/** Validates a CSR [rows, cols] and returns nnz (as the addon does: rowPtr, then every idx). */
function csr(K: string, rowPtr: Int32Array, idx: Int32Array, rows: number, cols: number): number {
  int32s(K, "rowPtr", rowPtr, rows + 1);
  if (!(idx instanceof Int32Array)) throw new TypeError(`${K}: argument 'idx' must be a Int32Array`);
  if (rowPtr[0] !== 0) throw new RangeError(`${K}: rowPtr[0] must be 0`);
  for (let r = 0; r < rows; r++)
    if (rowPtr[r + 1] < rowPtr[r]) throw new RangeError(`${K}: rowPtr must be non-decreasing (row ${r})`);
  const nnz = rowPtr[rows];
  if (nnz > idx.length) throw new RangeError(`${K}: rowPtr[rows] exceeds idx.length`);
  for (let e = 0; e < nnz; e++)
    if (idx[e] < 0 || idx[e] >= cols) throw new RangeError(`${K}: idx[${e}] = ${idx[e]} is outside [0, ${cols})`);
  return nnz;
}

function atLeast(K: string, name: string, a: { length: number }, n: number): void {
  if (a.length < n) throw new RangeError(`${K}: ${name} holds fewer entries than rowPtr[rows]`);
}

export class RefSparse extends RefSae {
  csrFromDense(
    x: FloatArray,
    rows: number,
    cols: number,
    rowPtr: Int32Array,
    idx: Int32Array,
    val: FloatArray,
  ): number {
    const K = "csrFromDense";
    this.rowsCols(K, rows, cols);
    floats(K, "x", x, rows * cols);
    int32s(K, "rowPtr", rowPtr, rows + 1);
    floats(K, "val", val, -1, x);
    let e = 0;
    rowPtr[0] = 0;
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < cols; j++) if (x[r * cols + j] !== 0) e++;
      rowPtr[r + 1] = e;
    }
    if (e > idx.length || e > val.length) return e; // only rowPtr written: the caller grows idx / val
    e = 0;
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < cols; j++)
        if (x[r * cols + j] !== 0) {
          idx[e] = j;
          val[e++] = x[r * cols + j];
        }
    return e;
  }

  csrGather(x: FloatArray, rows: number, cols: number, rowPtr: Int32Array, idx: Int32Array, val: FloatArray): void {
    const K = "csrGather";
    this.rowsCols(K, rows, cols);
    const nnz = csr(K, rowPtr, idx, rows, cols);
    floats(K, "x", x, rows * cols);
    floats(K, "val", val, -1, x);
    atLeast(K, "val", val, nnz);
    for (let r = 0; r < rows; r++) for (let e = rowPtr[r]; e < rowPtr[r + 1]; e++) val[e] = x[r * cols + idx[e]];
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
    const K = "csrTranspose";
    dim(K, "rows", rows);
    dim(K, "cols", cols);
    const nnz = csr(K, rowPtr, idx, rows, cols);
    floats(K, "val", val, -1);
    atLeast(K, "val", val, nnz);
    int32s(K, "colPtr", colPtr, cols + 1);
    floats(K, "valT", valT, -1, val);
    atLeast(K, "rowIdx / valT", { length: Math.min(rowIdx.length, valT.length) }, nnz);
    colPtr.fill(0);
    for (let e = 0; e < nnz; e++) colPtr[idx[e] + 1]++;
    for (let c = 0; c < cols; c++) colPtr[c + 1] += colPtr[c];
    const next = colPtr.slice(0, cols);
    for (let r = 0; r < rows; r++)
      for (let e = rowPtr[r]; e < rowPtr[r + 1]; e++) {
        const dst = next[idx[e]]++;
        rowIdx[dst] = r;
        valT[dst] = val[e];
      }
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
    const K = "spmm";
    dim(K, "rows", rows);
    dim(K, "n", n);
    if (n < 1) throw new RangeError(`${K}: n must be >= 1`);
    num(K, "alpha", alpha);
    num(K, "beta", beta);
    floats(K, "B", b, -1);
    if (b.length % n !== 0) throw new RangeError(`${K}: B.length must be a multiple of n`);
    const nnz = csr(K, rowPtr, idx, rows, b.length / n);
    floats(K, "val", val, -1, b);
    atLeast(K, "val", val, nnz);
    floats(K, "C", c, rows * n, b);
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let e = rowPtr[r]; e < rowPtr[r + 1]; e++) s += val[e] * b[idx[e] * n + j];
        c[r * n + j] = (beta === 0 ? 0 : beta * c[r * n + j]) + alpha * s;
      }
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
    const K = "sddmm";
    dim(K, "rows", rows);
    dim(K, "n", n);
    if (n < 1) throw new RangeError(`${K}: n must be >= 1`);
    num(K, "alpha", alpha);
    floats(K, "B", b, -1);
    if (b.length % n !== 0) throw new RangeError(`${K}: B.length must be a multiple of n`);
    const nnz = csr(K, rowPtr, idx, rows, b.length / n);
    floats(K, "A", a, rows * n, b);
    floats(K, "out", out, -1, b);
    atLeast(K, "out", out, nnz);
    for (let r = 0; r < rows; r++)
      for (let e = rowPtr[r]; e < rowPtr[r + 1]; e++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += a[r * n + j] * b[idx[e] * n + j];
        out[e] = alpha * s;
      }
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
    const K = "csrScatter";
    this.rowsCols(K, rows, cols);
    const nnz = csr(K, rowPtr, idx, rows, cols);
    floats(K, "val", val, -1);
    atLeast(K, "val", val, nnz);
    floats(K, "out", out, rows * cols, val);
    if (!accumulate) out.fill(0);
    for (let r = 0; r < rows; r++) for (let e = rowPtr[r]; e < rowPtr[r + 1]; e++) out[r * cols + idx[e]] += val[e];
  }
}
