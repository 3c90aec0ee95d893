/**
 * Native vs ref parity, part 5: the sparse-code kernels (src/core/backend-sparse.ts): CSR from a
 * dense matrix, gather, transpose, spmm, sddmm and scatter, on codes of several densities (empty
 * rows, a full row, one column), checked against the ref twin and against the dense GEMM of the
 * same matrices (an independent computation), plus the one-line errors on a bad CSR.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Backend } from "../../src/core/backend.ts";
import { assertClose, assertExact, assertThrowsOneLine, native, normal, Rng, ref, skip } from "./parity-util.ts";

/** A [rows, cols] code matrix with about `density` of its entries nonzero, row 0 empty, row 1 full. */
function codes(rng: Rng, rows: number, cols: number, density: number): Float32Array {
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < x.length; i++) if (rng.next() < density) x[i] = 0.1 + rng.next();
  if (rows > 0) x.fill(0, 0, cols);
  if (rows > 1) for (let j = 0; j < cols; j++) x[cols + j] = 0.5 + rng.next();
  return x;
}

interface Csr {
  rowPtr: Int32Array;
  idx: Int32Array;
  val: Float32Array;
  nnz: number;
}

function toCsr(B: Backend, x: Float32Array, rows: number, cols: number): Csr {
  const rowPtr = new Int32Array(rows + 1);
  const idx = new Int32Array(rows * cols);
  const val = new Float32Array(rows * cols);
  const nnz = B.csrFromDense(x, rows, cols, rowPtr, idx, val);
  return { rowPtr, idx, val, nnz };
}

const SHAPES: [number, number, number, number][] = [
  // rows, cols (= m), n (= d), density
  [2, 3, 1, 0.5],
  [7, 33, 129, 0.1],
  [64, 300, 257, 0.05],
  [256, 512, 600, 0.1],
];

describe("parity: sparse-code kernels", { skip }, () => {
  const rng = new Rng(91);
  for (const [rows, cols, n, density] of SHAPES) {
    test(`csrFromDense, gather, transpose, scatter ${rows}x${cols}`, () => {
      const x = codes(rng, rows, cols, density);
      const a = toCsr(native, x, rows, cols);
      const b = toCsr(ref, x, rows, cols);
      assert.equal(a.nnz, b.nnz);
      assertExact("rowPtr", a.rowPtr, b.rowPtr);
      assertExact("idx", a.idx.subarray(0, a.nnz), b.idx.subarray(0, b.nnz));
      assertExact("val", a.val.subarray(0, a.nnz), b.val.subarray(0, b.nnz));
      let nz = 0;
      for (const v of x) if (v !== 0) nz++;
      assert.equal(a.nnz, nz, "nnz = the count of nonzeros");
      const g = new Float32Array(a.nnz);
      native.csrGather(x, rows, cols, a.rowPtr, a.idx, g);
      assertExact("gather", g, a.val.subarray(0, a.nnz));
      const dense = new Float32Array(rows * cols).fill(7);
      native.csrScatter(a.rowPtr, a.idx, a.val, rows, cols, false, dense);
      assertExact("scatter is the inverse", dense, x);
      native.csrScatter(a.rowPtr, a.idx, a.val, rows, cols, true, dense);
      for (let i = 0; i < x.length; i++) assert.equal(dense[i], 2 * x[i], "scatter-add");
      native.csrScatter(a.rowPtr, a.idx, a.val, rows, cols, false, dense);
      assertExact("scatter is the inverse", dense, x);
      const t = (B: Backend) => {
        const colPtr = new Int32Array(cols + 1);
        const rowIdx = new Int32Array(a.nnz);
        const valT = new Float32Array(a.nnz);
        B.csrTranspose(a.rowPtr, a.idx, a.val, rows, cols, colPtr, rowIdx, valT);
        return { colPtr, rowIdx, valT };
      };
      const tn = t(native);
      const tr = t(ref);
      assertExact("colPtr", tn.colPtr, tr.colPtr);
      assertExact("rowIdx", tn.rowIdx, tr.rowIdx);
      assertExact("valT", tn.valT, tr.valT);
      // The transpose scattered back equals the dense transpose.
      const back = new Float32Array(cols * rows);
      native.csrScatter(tn.colPtr, tn.rowIdx, tn.valT, cols, rows, false, back);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) assert.equal(back[c * rows + r], x[r * cols + c]);
    });

    test(`spmm and sddmm ${rows}x${cols}, n ${n}: ref, native and the dense GEMM agree`, () => {
      const x = codes(rng, rows, cols, density);
      const s = toCsr(native, x, rows, cols);
      const B = normal(rng, cols * n);
      const C0 = normal(rng, rows * n);
      for (const [alpha, beta] of [
        [1, 0],
        [-0.5, 1],
        [2, 0.25],
      ]) {
        const out = (be: Backend) => {
          const c = C0.slice();
          be.spmm(s.rowPtr, s.idx, s.val, rows, B, n, alpha, beta, c);
          return c;
        };
        const want = C0.slice();
        ref.gemm(false, false, rows, n, cols, alpha, x, cols, B, n, beta, want, n);
        assertClose(`spmm a=${alpha} b=${beta}`, out(native), out(ref));
        assertClose(`spmm vs gemm a=${alpha} b=${beta}`, out(native), want);
      }
      const A = normal(rng, rows * n);
      const sd = (be: Backend) => {
        const o = new Float32Array(s.nnz);
        be.sddmm(s.rowPtr, s.idx, rows, A, B, n, 0.5, o);
        return o;
      };
      const full = new Float32Array(rows * cols);
      ref.gemm(false, true, rows, cols, n, 0.5, A, n, B, n, 0, full, cols);
      const sampled = new Float32Array(s.nnz);
      ref.csrGather(full, rows, cols, s.rowPtr, s.idx, sampled);
      assertClose("sddmm", sd(native), sd(ref));
      assertClose("sddmm vs sampled gemm", sd(native), sampled);
    });
  }

  test("a bad CSR is a one-line RangeError, never a read out of bounds", () => {
    const B = new Float32Array(3 * 4);
    const C = new Float32Array(2 * 4);
    const val = new Float32Array(4);
    const ok = new Int32Array([0, 1, 2]);
    for (const be of [native, ref]) {
      assertThrowsOneLine("idx outside", () => be.spmm(ok, new Int32Array([0, 3]), val, 2, B, 4, 1, 0, C), RangeError);
      assertThrowsOneLine(
        "rowPtr decreasing",
        () => be.spmm(new Int32Array([0, 2, 1]), new Int32Array([0, 1]), val, 2, B, 4, 1, 0, C),
        RangeError,
      );
      assertThrowsOneLine(
        "rowPtr past idx",
        () => be.sddmm(new Int32Array([0, 1, 9]), new Int32Array([0, 1]), 2, C, B, 4, 1, val),
        RangeError,
      );
      assertThrowsOneLine(
        "B not a multiple",
        () => be.spmm(ok, new Int32Array([0, 1]), val, 2, new Float32Array(5), 4, 1, 0, C),
        RangeError,
      );
      // Too few slots: the count comes back, rowPtr is written, idx / val are left alone.
      const rp = new Int32Array(3);
      const few = new Int32Array(2).fill(-7);
      assert.equal(be.csrFromDense(new Float32Array([1, 0, 1, 1]), 2, 2, rp, few, new Float32Array(2)), 3);
      assert.deepEqual([...rp], [0, 1, 3]);
      assert.deepEqual([...few], [-7, -7]);
    }
  });
});
