/**
 * The decoder of an SAE step over the active latents only (issue 18's sparse step), on the
 * backend's CSR kernels (src/core/backend-sparse.ts). With S = the codes h [rows, m] as a sparse
 * matrix of nnz entries and W_dec [m, d]:
 *
 *   decode       y = alpha S W_dec + beta y                      (spmm: nnz d multiply-adds)
 *   decoderGrad  W_dec.grad += alpha S^T g, g [rows, d]           (S^T built once per batch; spmm)
 *   codeGrad     dh at the entries of S = alpha g W_dec^T, written dense into dh [rows, m]
 *                (0 elsewhere) or accumulated into it             (sddmm, then a scatter)
 *
 * against rows m d for each dense GEMM. Exact (same sums, other order) for any codes; worth it
 * when the decoder is large and the codes sparse: `sizeAllows` and `useSparse` say when
 * (SPARSE_DECODER). The entries of S are the
 * nonzeros of h (fromDense) or a given row-wise index list (fromRowIndices: TopK's k per row,
 * zeros allowed).
 */
import type { Backend, FloatArray } from "../core/backend.ts";
import type { Parameter } from "../core/parameter.ts";

/**
 * Column statistics of dense codes h [rows, m] (SaeModule.codeColumnStats): colSum [m] = the column
 * sums (overwritten), fired [m] += the count of entries > 0 per column.
 */
export function denseColumnStats(
  bk: Backend,
  h: FloatArray,
  rows: number,
  m: number,
  colSum: FloatArray,
  fired: Int32Array,
): void {
  bk.sumRows(h, rows, m, colSum, false);
  bk.activeStats(h, rows, m, fired, denseStats);
}
const denseStats = new Float64Array(2);

/**
 * When the SAE step runs its decoder on sparse codes: a decoder of at least minDecoderSize
 * weights (m d; below it W_dec sits in cache and the dense GEMM wins: measured on d = m = 256,
 * where the CSR build and spmm cost more than the GEMMs they replace) and codes of density
 * (nnz / (rows m)) at most maxDensity: the row-wise spmm / sddmm run near 24 GFLOP/s against
 * about 390 for the dense GEMM (measured at d = m = 2304, 2 cores), so the break-even is near 6%:
 * relu and the paper archs at ~10% L0 stay dense there, TopK's k = 32 of 2304 goes sparse.
 * Tests may change both.
 */
export const SPARSE_DECODER = { maxDensity: 0.06, minDecoderSize: 1 << 20 };

export class SparseCodes<A extends FloatArray> {
  rows = 0;
  nnz = 0;
  private rowPtr = new Int32Array(1);
  private idx = new Int32Array(0);
  private val: A;
  private colPtr: Int32Array;
  private rowIdx = new Int32Array(0);
  private valT: A;
  private valT2: A; // [nnz] S^T's values for transposedProduct
  private dh: A; // [nnz] scratch of codeGrad
  private transposed = false;

  constructor(
    private readonly bk: Backend,
    private m: number,
    private readonly make: (n: number) => A,
  ) {
    this.val = make(0);
    this.valT = make(0);
    this.valT2 = make(0);
    this.dh = make(0);
    this.colPtr = new Int32Array(m + 1);
  }

  /** True when a decoder of m x d weights may run on sparse codes (then look at the density: useSparse). */
  static sizeAllows(m: number, d: number): boolean {
    return m * d >= SPARSE_DECODER.minDecoderSize && SPARSE_DECODER.maxDensity >= 0;
  }

  /** The most entries codes over rows x m may have for the sparse decoder (maxDensity rows m). */
  static maxNnz(rows: number, m: number): number {
    return Math.floor(SPARSE_DECODER.maxDensity * rows * m);
  }

  /** True when codes with nnz entries over rows x m allow the sparse decoder. */
  static useSparse(nnz: number, rows: number, m: number): boolean {
    return nnz <= SparseCodes.maxNnz(rows, m);
  }

  private ensure(rows: number, cap: number): void {
    if (this.rowPtr.length !== rows + 1) this.rowPtr = new Int32Array(rows + 1);
    if (this.idx.length < cap) {
      this.idx = new Int32Array(cap);
      this.val = this.make(cap);
      this.rowIdx = new Int32Array(cap);
      this.valT = this.make(cap);
      this.valT2 = this.make(cap);
      this.dh = this.make(cap);
    }
    this.rows = rows;
    this.transposed = false;
  }

  /**
   * S = the nonzeros of h [rows, m], when there are at most maxNnz of them (default rows m);
   * returns their count either way. Past maxNnz only the count is taken (the kernel's count pass)
   * and S is left unfilled: the caller runs the dense decoder (useSparse is false for that count
   * when maxNnz = maxNnz(rows, m)). Storage grows to the largest nnz used (+25%), never past maxNnz.
   */
  fromDense(h: A, rows: number, maxNnz = rows * this.m): number {
    const limit = Math.max(0, Math.min(rows * this.m, maxNnz));
    this.ensure(rows, Math.min(limit, Math.max(this.idx.length, 1024)));
    let nnz = this.bk.csrFromDense(h, rows, this.m, this.rowPtr, this.idx, this.val);
    if (nnz > this.idx.length && nnz <= limit) {
      this.ensure(rows, Math.min(limit, Math.ceil(nnz * 1.25)));
      nnz = this.bk.csrFromDense(h, rows, this.m, this.rowPtr, this.idx, this.val);
    }
    this.nnz = nnz <= this.idx.length ? nnz : 0;
    return nnz;
  }

  /** S = the entries (r, idx[r k + t]) of h [rows, m], t < k (TopK's indices; values taken from h). */
  fromRowIndices(h: A, idx: Int32Array, rows: number, k: number): number {
    this.ensure(rows, rows * k);
    for (let r = 0; r <= rows; r++) this.rowPtr[r] = r * k;
    this.idx.set(idx.subarray(0, rows * k));
    this.nnz = rows * k;
    this.bk.csrGather(h, rows, this.m, this.rowPtr, this.idx, this.val);
    return this.nnz;
  }

  /**
   * S with k entries in each of rows rows (TopK's selection): returns views of its column indices
   * and values [rows * k], for a kernel (topkSelect) to fill before S is used.
   */
  uniform(rows: number, k: number): { idx: Int32Array; val: A } {
    this.ensure(rows, rows * k);
    for (let r = 0; r <= rows; r++) this.rowPtr[r] = r * k;
    this.nnz = rows * k;
    return { idx: this.idx.subarray(0, this.nnz), val: this.val.subarray(0, this.nnz) as A };
  }

  /**
   * S = the K largest ReLU(pre + bias) of the whole batch pre [rows, m] (BatchTopK; bias [m] or
   * null), columns increasing within a row (backend.batchTopkSelect).
   */
  fromBatchTopK(pre: A, bias: A | null, rows: number, K: number): void {
    this.ensure(rows, K);
    this.bk.batchTopkSelect(pre, bias, rows, this.m, K, this.rowPtr, this.idx, this.val);
    this.nnz = K;
  }

  /**
   * S = the entries of src with a column in [c0, c1), in src's order (src's rows sorted by column
   * give a column group of the codes: matryoshka's prefixes); src's entry of each is written into
   * srcPos [nnz] (grown as needed; returned).
   */
  fromColumnRange(src: SparseCodes<A>, c0: number, c1: number, srcPos: Int32Array): Int32Array {
    const rows = src.rows;
    let n = 0;
    for (let e = 0; e < src.nnz; e++) if (src.idx[e] >= c0 && src.idx[e] < c1) n++;
    this.ensure(rows, n);
    const pos = srcPos.length >= n ? srcPos : new Int32Array(Math.ceil(n * 1.25));
    let o = 0;
    this.rowPtr[0] = 0;
    for (let r = 0; r < rows; r++) {
      for (let e = src.rowPtr[r]; e < src.rowPtr[r + 1]; e++) {
        const c = src.idx[e];
        if (c < c0 || c >= c1) continue;
        this.idx[o] = c;
        this.val[o] = src.val[e];
        pos[o++] = e;
      }
      this.rowPtr[r + 1] = o;
    }
    this.nnz = n;
    return pos;
  }

  /** The column indices of S (a view of nnz entries, values()'s order). */
  columns(): Int32Array {
    return this.idx.subarray(0, this.nnz);
  }

  /**
   * S = src with its columns renumbered by pos (column c -> pos[c], which must lie in [0, cols)),
   * same rows, entries and values: src on a compacted set of cols columns (AuxK's dead features).
   */
  fromRemapped(src: SparseCodes<A>, pos: Int32Array, cols: number): void {
    this.m = cols;
    if (this.colPtr.length !== cols + 1) this.colPtr = new Int32Array(cols + 1);
    this.ensure(src.rows, src.nnz);
    this.rowPtr.set(src.rowPtr.subarray(0, src.rows + 1));
    for (let e = 0; e < src.nnz; e++) this.idx[e] = pos[src.idx[e]];
    this.val.set(src.val.subarray(0, src.nnz));
    this.nnz = src.nnz;
  }

  /** The number of entries of S with a value > 0 (the active codes, for L0). */
  countPositive(): number {
    const v = this.val;
    let n = 0;
    for (let e = 0; e < this.nnz; e++) if (v[e] > 0) n++;
    return n;
  }

  /** colSum [m] = S's column sums (overwritten), fired [m] += the count of entries > 0 per column. */
  columnStats(colSum: A, fired: Int32Array): void {
    colSum.fill(0);
    const { idx, val } = this;
    for (let e = 0; e < this.nnz; e++) {
      colSum[idx[e]] += val[e];
      if (val[e] > 0) fired[idx[e]]++;
    }
  }

  /** out [m] += the column sums of S with the given values [nnz] (duplicates add). */
  addColumnSums(values: A, out: A): void {
    const idx = this.idx;
    for (let e = 0; e < this.nnz; e++) out[idx[e]] += values[e];
  }

  /**
   * out [m, n] = beta out + S'^T B with S' = S's pattern with the given values [nnz], B [rows, n]
   * (the encoder's weight gradient x^T dpre, transposed, for dpre on S's entries).
   */
  transposedProduct(values: A, B: A, n: number, beta: number, out: A): void {
    this.bk.csrTranspose(this.rowPtr, this.idx, values, this.rows, this.m, this.colPtr, this.rowIdx, this.valT2);
    this.bk.spmm(this.colPtr, this.rowIdx, this.valT2, this.m, B, n, 1, beta, out);
  }

  /** The values of S (a view of nnz entries; overwrite to change S's values, e.g. into a gradient). */
  values(): A {
    return this.val.subarray(0, this.nnz) as A;
  }

  /** y [rows, d] = alpha S W + beta y, W [m, d]. */
  decode(W: A, d: number, alpha: number, beta: number, y: A): void {
    this.bk.spmm(this.rowPtr, this.idx, this.val, this.rows, W, d, alpha, beta, y);
  }

  /** Wgrad [m, d] += alpha S^T g, g [rows, d]. */
  decoderGrad(g: A, d: number, alpha: number, W: Parameter<A>): void {
    this.decoderGradInto(g, d, alpha, W.grad);
  }

  /** out [m, d] += alpha S^T g, g [rows, d]. */
  decoderGradInto(g: A, d: number, alpha: number, out: A): void {
    if (!this.transposed) {
      this.bk.csrTranspose(this.rowPtr, this.idx, this.val, this.rows, this.m, this.colPtr, this.rowIdx, this.valT);
      this.transposed = true;
    }
    this.bk.spmm(this.colPtr, this.rowIdx, this.valT, this.m, g, d, alpha, 1, out);
  }

  /** dh [rows, m] = (accumulate ? dh : 0) + alpha g W^T at the entries of S (0 elsewhere). g [rows, d], W [m, d]. */
  codeGrad(g: A, W: A, d: number, alpha: number, accumulate: boolean, dh: A): void {
    this.scatter(this.codeGradValues(g, W, d, alpha), accumulate, dh);
  }

  /** Like codeGrad, but leaves the values at the entries (nnz) in `values()`'s order, not scattered. */
  codeGradValues(g: A, W: A, d: number, alpha: number): A {
    this.bk.sddmm(this.rowPtr, this.idx, this.rows, g, W, d, alpha, this.dh);
    return this.dh.subarray(0, this.nnz) as A;
  }

  /** out [rows, m] (+)= S with the given values [nnz] (in values()'s order). */
  scatter(values: A, accumulate: boolean, out: A): void {
    this.bk.csrScatter(this.rowPtr, this.idx, values, this.rows, this.m, accumulate, out);
  }

  /** values[e] = x[r, idx_e] for the entries of S, x [rows, m]. */
  gather(x: A, values: A): void {
    this.bk.csrGather(x, this.rows, this.m, this.rowPtr, this.idx, values);
  }
}
