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
    const K = "topkSelect";
    this.rowsCols(K, rows, cols);
    dim(K, "k", k);
    dim(K, "kAux", kAux);
    if (k > cols) throw new RangeError(`${K}: k = ${k} exceeds cols = ${cols}`);
    floats(K, "x", x, rows * cols);
    if (bias !== null) floats(K, "bias", bias, cols, x);
    int32s(K, "idx", idx, rows * k);
    floats(K, "val", val, rows * k, x);
    const aux = mask !== null && kAux > 0;
    if (mask !== null) {
      if (!(mask instanceof Uint8Array)) throw new TypeError(`${K}: argument 'mask' must be a Uint8Array`);
      if (mask.length !== cols)
        throw new RangeError(`${K}: 'mask' has ${mask.length} entries, expected cols = ${cols}`);
    }
    let nMasked = 0;
    if (aux) for (let c = 0; c < cols; c++) if (mask[c]) nMasked++;
    if (aux && kAux > nMasked) throw new RangeError(`${K}: kAux = ${kAux} exceeds the ${nMasked} masked columns`);
    const kA = aux ? kAux : 0;
    int32s(K, "auxIdx", auxIdx, rows * kA);
    floats(K, "auxVal", auxVal, rows * kA, x);
    const v = new Float64Array(cols);
    const round = x instanceof Float32Array ? Math.fround : (y: number) => y;
    // Rank by value descending (NaN as -inf), then column ascending: a full sort per row.
    const order = (cand: number[]): number[] =>
      cand.sort((a, b) => {
        const ka = Number.isNaN(v[a]) ? Number.NEGATIVE_INFINITY : v[a];
        const kb = Number.isNaN(v[b]) ? Number.NEGATIVE_INFINITY : v[b];
        return ka !== kb ? kb - ka : a - b;
      });
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        // on float32 inputs a float32 sum (as the addon adds), so ties and order match it exactly
        const y = round(x[r * cols + c] + (bias ? bias[c] : 0));
        v[c] = Math.max(y, 0); // NaN stays NaN (JS max)
      }
      const all = Array.from({ length: cols }, (_, c) => c);
      const main = order(all.slice())
        .slice(0, k)
        .sort((a, b) => a - b);
      for (let j = 0; j < k; j++) {
        idx[r * k + j] = main[j];
        val[r * k + j] = v[main[j]];
      }
      if (kA === 0 || mask === null) continue;
      const dead = order(all.filter((c) => mask[c] !== 0))
        .slice(0, kA)
        .sort((a, b) => a - b);
      for (let j = 0; j < kA; j++) {
        auxIdx[r * kA + j] = dead[j];
        auxVal[r * kA + j] = v[dead[j]];
      }
    }
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
    const Kn = "batchTopkSelect";
    this.rowsCols(Kn, rows, cols);
    dim(Kn, "K", K);
    if (K > rows * cols) throw new RangeError(`${Kn}: K exceeds rows * cols`);
    floats(Kn, "x", x, rows * cols);
    if (bias !== null) floats(Kn, "bias", bias, cols, x);
    int32s(Kn, "rowPtr", rowPtr, rows + 1);
    floats(Kn, "val", val, -1, x);
    if (idx.length < K || val.length < K) throw new RangeError(`${Kn}: idx / val hold fewer than K entries`);
    const round = x instanceof Float32Array ? Math.fround : (y: number) => y;
    const v = new Float64Array(rows * cols);
    for (let i = 0; i < v.length; i++) v[i] = Math.max(round(x[i] + (bias ? bias[i % cols] : 0)), 0); // NaN stays
    const key = (i: number) => (Number.isNaN(v[i]) ? Number.NEGATIVE_INFINITY : v[i]);
    const order = Array.from({ length: v.length }, (_, i) => i).sort((a, b) => key(b) - key(a) || a - b);
    const kept = order.slice(0, K).sort((a, b) => a - b);
    rowPtr.fill(0);
    for (let e = 0; e < K; e++) {
      const f = kept[e];
      idx[e] = f % cols;
      val[e] = v[f];
      rowPtr[Math.floor(f / cols) + 1]++;
    }
    for (let r = 0; r < rows; r++) rowPtr[r + 1] += rowPtr[r];
  }

  addTransposed(t: FloatArray, rows: number, cols: number, alpha: number, out: FloatArray): void {
    const K = "addTransposed";
    this.rowsCols(K, rows, cols);
    num(K, "alpha", alpha);
    floats(K, "t", t, rows * cols);
    floats(K, "out", out, rows * cols, t);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] += alpha * t[r * cols + c];
  }
}
