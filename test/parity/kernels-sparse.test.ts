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

/** Sorts each row's k indices ascending (topkRows lists them by value; topkSelect by column). */
function byColumn(idx: Int32Array, k: number): void {
  for (let o = 0; o + k <= idx.length && k > 0; o += k) idx.subarray(o, o + k).sort();
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

  for (const [rows, cols, k, kAux, withBias] of [
    [1, 5, 2, 1, true],
    [9, 64, 3, 5, false],
    [33, 300, 8, 40, true],
    [17, 2048, 32, 256, true],
    [8, 4096, 16, 60, true],
    [5, 100, 0, 7, true],
  ] as [number, number, number, number, boolean][]) {
    test(`topkSelect ${rows}x${cols} k ${k} kAux ${kAux}: ref, native and topkRows of ReLU(x + b) agree`, () => {
      // Integer-valued x makes ties; a third of the columns are "dead".
      const x = new Float32Array(rows * cols);
      for (let i = 0; i < x.length; i++) x[i] = Math.round(normal(rng, 1)[0] * 4);
      const bias = withBias ? normal(rng, cols) : null;
      const mask = new Uint8Array(cols);
      for (let c = 0; c < cols; c++) mask[c] = c % 3 === 1 ? 1 : 0;
      const run = (be: Backend) => {
        const o = {
          idx: new Int32Array(rows * k),
          val: new Float32Array(rows * k),
          auxIdx: new Int32Array(rows * kAux),
          auxVal: new Float32Array(rows * kAux),
        };
        be.topkSelect(x, bias, rows, cols, k, o.idx, o.val, mask, kAux, o.auxIdx, o.auxVal);
        return o;
      };
      const a = run(native);
      const b = run(ref);
      assertExact("idx", a.idx, b.idx);
      assertExact("val", a.val, b.val);
      assertExact("auxIdx", a.auxIdx, b.auxIdx);
      assertExact("auxVal", a.auxVal, b.auxVal);
      // Independent: the dense kernels (addBias, relu, topkRows; live columns at -inf for aux).
      const v = new Float32Array(rows * cols);
      if (bias) ref.addBias(x, bias, rows, cols, v);
      else v.set(x);
      ref.relu(v, v);
      const out = new Float32Array(rows * cols);
      if (k > 0) {
        const idx = new Int32Array(rows * k);
        ref.topkRows(v, rows, cols, k, out, idx);
        byColumn(idx, k);
        assertExact("idx = topkRows (by column)", a.idx, idx);
        for (let i = 0; i < idx.length; i++) assert.equal(a.val[i], v[Math.floor(i / k) * cols + idx[i]]);
      }
      const masked = v.map((y, i) => (mask[i % cols] ? y : Number.NEGATIVE_INFINITY));
      const auxIdx = new Int32Array(rows * kAux);
      ref.topkRows(masked, rows, cols, kAux, out, auxIdx);
      byColumn(auxIdx, kAux);
      assertExact("auxIdx = topkRows over the masked columns (by column)", a.auxIdx, auxIdx);
      // Without a mask: no aux selection.
      for (const be of [native, ref]) {
        const idx = new Int32Array(rows * k);
        be.topkSelect(
          x,
          bias,
          rows,
          cols,
          k,
          idx,
          new Float32Array(rows * k),
          null,
          0,
          new Int32Array(0),
          new Float32Array(0),
        );
        assertExact("idx without mask", idx, a.idx);
      }
    });
  }

  test("topkSelect: kAux past the masked columns and bad lengths are one-line RangeErrors", () => {
    const x = new Float32Array(2 * 4);
    const mask = new Uint8Array([1, 0, 0, 1]);
    for (const be of [native, ref]) {
      const sel = (kAux: number, idxLen = 2) =>
        be.topkSelect(
          x,
          null,
          2,
          4,
          1,
          new Int32Array(idxLen),
          new Float32Array(2),
          mask,
          kAux,
          new Int32Array(2 * kAux),
          new Float32Array(2 * kAux),
        );
      assertThrowsOneLine("kAux > masked", () => sel(3), RangeError);
      assertThrowsOneLine("idx length", () => sel(1, 3), RangeError);
    }
  });

  for (const [label, rows, cols, K, make] of [
    ["ties", 9, 70, 40, (i: number) => Math.round(normal(rng, 1)[0] * 3) + (i % 7 === 0 ? 0.5 : 0)],
    ["gaussian", 64, 512, 64 * 8, () => normal(rng, 1)[0]],
    ["few positives: zeros fill up", 8, 40, 30, (i: number) => (i % 13 === 0 ? 1 + (i % 5) : -1)],
    ["positives in few blocks", 4, 64, 20, (i: number) => (i % 64 < 16 ? 1 + (i % 3) : -2)],
  ] as [string, number, number, number, (i: number) => number][]) {
    test(`batchTopkSelect (${label}) ${rows}x${cols} K ${K}: ref, native and the dense batch TopK agree`, () => {
      const x = Float32Array.from({ length: rows * cols }, (_, i) => make(i));
      const bias = label === "gaussian" ? normal(rng, cols) : null;
      const run = (be: Backend) => {
        const o = { rowPtr: new Int32Array(rows + 1), idx: new Int32Array(K), val: new Float32Array(K) };
        be.batchTopkSelect(x, bias, rows, cols, K, o.rowPtr, o.idx, o.val);
        return o;
      };
      const a = run(native);
      const b = run(ref);
      assertExact("rowPtr", a.rowPtr, b.rowPtr);
      assertExact("idx", a.idx, b.idx);
      assertExact("val", a.val, b.val);
      // Independent: topkRows over the batch as one row of ReLU(x + b), its flat indices by position.
      const v = new Float32Array(rows * cols);
      if (bias) ref.addBias(x, bias, rows, cols, v);
      else v.set(x);
      ref.relu(v, v);
      const flat = new Int32Array(K);
      ref.topkRows(v, 1, rows * cols, K, new Float32Array(rows * cols), flat);
      flat.sort();
      assert.equal(a.rowPtr[rows], K);
      for (let r = 0; r < rows; r++)
        for (let e = a.rowPtr[r]; e < a.rowPtr[r + 1]; e++) {
          assert.equal(r * cols + a.idx[e], flat[e], `entry ${e}`);
          assert.equal(a.val[e], v[flat[e]]);
        }
    });
  }

  test("addTransposed: out += alpha t^T, native = ref = the definition", () => {
    for (const [rows, cols] of [
      [1, 1],
      [3, 70],
      [65, 33],
      [300, 129],
    ]) {
      const t = normal(rng, rows * cols);
      const o0 = normal(rng, rows * cols);
      const run = (be: Backend) => {
        const o = o0.slice();
        be.addTransposed(t, rows, cols, -0.5, o);
        return o;
      };
      const want = o0.slice();
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++)
          want[c * rows + r] = Math.fround(want[c * rows + r] + Math.fround(-0.5 * t[r * cols + c]));
      assertExact("native", run(native), want);
      assertClose("ref", run(ref), want);
    }
  });

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
