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
  private dh: A; // [nnz] scratch of codeGrad
  private transposed = false;

  constructor(
    private readonly bk: Backend,
    private readonly m: number,
    private readonly make: (n: number) => A,
  ) {
    this.val = make(0);
    this.valT = make(0);
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
    if (!this.transposed) {
      this.bk.csrTranspose(this.rowPtr, this.idx, this.val, this.rows, this.m, this.colPtr, this.rowIdx, this.valT);
      this.transposed = true;
    }
    this.bk.spmm(this.colPtr, this.rowIdx, this.valT, this.m, g, d, alpha, 1, W.grad);
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
