/**
 * matryoshka (Bussmann et al. 2025), DESIGN.md s.2 and the pins: BatchTopK codes h (batchtopk.ts,
 * threshold EMA and JumpReLU inference included) decoded by nested prefixes. With group sizes
 * f_j * m for the fractions f = [1/32, 1/16, 1/8, 1/4, 17/32] and prefix ends m_1 < ... < m_J = m,
 *
 *   x^_j  = h[:, :m_j] W_dec[:m_j] + b_dec
 *   recon = mean_j mean_b ||x - x^_j||^2
 *   L     = recon + AuxK (with e = x - x^_J, the full prefix)
 *
 * Backward: with G_j = sum_{j' >= j} d recon / d x^_j' (suffix sums), group j's columns get
 * d h[:, g_j] = G_j W_dec[g_j]^T and d W_dec[g_j] = h[:, g_j]^T G_j; d b_dec = colsum(G_1).
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import { badOption, UsageError } from "../../core/errors.ts";
import { SparseCodes } from "../sparse-codes.ts";
import type { SaeFactory, SaeHyper } from "../types.ts";
import { RowWorkspace } from "../workspace.ts";
import { BatchTopKSae } from "./batchtopk.ts";
import type { EncoderWs } from "./encoder-sae.ts";
import { checkCommon, checkThresholdBeta, checkTopK, type FactoryOptions } from "./init.ts";
import { residual } from "./standard.ts";

/**
 * Cumulative prefix ends [m_1, ..., m_J = m] from group fractions of m: every f * m must be a
 * positive integer and the fractions must add up to 1 (for the default fractions: m divisible by 32).
 */
export function matryoshkaPrefixEnds(m: number, fractions: readonly number[]): number[] {
  if (fractions.length === 0) throw badOption("matryoshkaFractions", fractions, "a non-empty list of fractions of m");
  const ends: number[] = [];
  let end = 0;
  for (const f of fractions) {
    const size = f * m;
    const rounded = Math.round(size);
    if (!Number.isFinite(size) || rounded < 1 || Math.abs(size - rounded) > 1e-9 * m) {
      throw new UsageError(
        `matryoshka group fraction ${f} of m = ${m} is ${size} features: expected a positive integer (with the default fractions m must be divisible by 32)`,
      );
    }
    end += rounded;
    ends.push(end);
  }
  if (end !== m)
    throw new UsageError(
      `matryoshka group fractions [${fractions.join(", ")}] cover ${end} of m = ${m} features: they must add up to 1`,
    );
  return ends;
}

/** Views into one rows-sized workspace: h and dh from column start_j on, e_j [rows, d]. */
interface GroupViews<A extends FloatArray> {
  h: A;
  hs: A[];
  dhs: A[];
  E: A[];
}

export class MatryoshkaSae<A extends FloatArray> extends BatchTopKSae<A> {
  readonly prefixEnds: readonly number[];
  private readonly mws: RowWorkspace<"E", A>; // [J, rows, d]: e_j = x - x^_j
  private views: GroupViews<A> | null = null;
  private readonly starts: readonly number[]; // [0, m_1, ..., m_{J-1}]
  private readonly decRows: A[]; // W_dec[start_j:] per group
  private readonly decGradRows: A[];

  constructor(hyper: SaeHyper, backend: Backend, options: FactoryOptions<A>) {
    super(hyper, backend, options, "matryoshka");
    this.prefixEnds = matryoshkaPrefixEnds(this.m, hyper.matryoshkaFractions);
    const J = this.prefixEnds.length;
    this.mws = new RowWorkspace(this.make, { E: J * this.d });
    const starts = [0, ...this.prefixEnds.slice(0, -1)];
    this.starts = starts;
    this.decRows = starts.map((s) => this.W_dec.data.subarray(s * this.d) as A);
    this.decGradRows = starts.map((s) => this.W_dec.grad.subarray(s * this.d) as A);
  }

  /** Group views of h, dh and the per-prefix residuals, rebuilt only when rows change. */
  private groupViews(w: EncoderWs<A>, rows: number): GroupViews<A> {
    if (this.views && this.views.h === w.h) return this.views;
    const E = this.mws.at(rows).E;
    const n = rows * this.d;
    this.views = {
      h: w.h,
      hs: this.starts.map((s) => w.h.subarray(s) as A),
      dhs: this.starts.map((s) => w.dh.subarray(s) as A),
      E: this.prefixEnds.map((_, j) => E.subarray(j * n, (j + 1) * n) as A),
    };
    return this.views;
  }

  private sparseGroups: SparseGroups<A> | null = null;

  /**
   * reconstruct on sparse codes (trainSparse): S_j = h's entries in group j (fromColumnRange, h's rows
   * are sorted by column), x^_j = x^_{j-1} + S_j W_dec, and backward with the suffix sums G_j:
   * W_dec.grad += S_j^T G_j, d h on S_j's entries = <G_j, W_dec rows> (sddmm), mapped back to h's order.
   */
  protected override reconstructSparse(x: A, w: EncoderWs<A>, rows: number, gw: number): { recon: number; dpre: A } {
    const { backend: bk, d, m } = this;
    const sg =
      this.sparseGroups ??
      (this.sparseGroups = {
        groups: this.prefixEnds.map(() => new SparseCodes(bk, m, this.make)),
        srcPos: this.prefixEnds.map(() => new Int32Array(0)),
        dpre: this.make(0),
      });
    const src = this.sparse;
    const nnz = src.values().length;
    if (sg.dpre.length < nnz) sg.dpre = this.make(Math.ceil(nnz * 1.25));
    const dpre = sg.dpre.subarray(0, nnz) as A;
    const recon = this.prefixes(x, w, rows, gw, {
      decode: (j, beta, xhat) => {
        const g = sg.groups[j];
        sg.srcPos[j] = g.fromColumnRange(src, this.starts[j], this.prefixEnds[j], sg.srcPos[j]);
        g.decode(this.W_dec.data, d, 1, beta, xhat);
      },
      backward: (j, G) => {
        const g = sg.groups[j];
        g.decoderGrad(G, d, 1, this.W_dec);
        const dh = g.codeGradValues(G, this.W_dec.data, d, 1);
        const pos = sg.srcPos[j];
        for (let e = 0; e < dh.length; e++) dpre[pos[e]] = dh[e];
      },
    });
    return { recon, dpre };
  }

  protected override reconstruct(x: A, w: EncoderWs<A>, rows: number, gw: number): number {
    const { backend: bk, d, m } = this;
    const v = this.groupViews(w, rows);
    const len = (j: number) => this.prefixEnds[j] - this.starts[j];
    return this.prefixes(x, w, rows, gw, {
      decode: (j, beta, xhat) =>
        bk.gemm(false, false, rows, d, len(j), 1, v.hs[j], m, this.decRows[j], d, beta, xhat, d),
      backward: (j, G) => {
        bk.gemm(false, true, rows, len(j), d, 1, G, d, this.decRows[j], d, 0, v.dhs[j], m);
        bk.gemm(true, false, len(j), d, rows, 1, v.hs[j], m, G, d, 1, this.decGradRows[j], d);
      },
    });
  }

  /**
   * The prefix loss and its backward around the group kernels: x^_j = x^_{j-1} + (group j's decode,
   * beta 0 for j = 0, then + b_dec), e_j = x - x^_j; then G_j = sum_{j' >= j} d recon / d x^_j' and
   * group j's backward with G_j; b_dec.grad += colsum(G_1). Leaves w.e = e_J; returns recon.
   */
  private prefixes(
    x: A,
    w: EncoderWs<A>,
    rows: number,
    gw: number,
    group: { decode(j: number, beta: number, xhat: A): void; backward(j: number, G: A): void },
  ): number {
    const { backend: bk, d } = this;
    const J = this.prefixEnds.length;
    const v = this.groupViews(w, rows);
    const xhat = w.dxhat; // the running prefix reconstruction, then G (suffix sums of d x^_j)
    let sum = 0;
    for (let j = 0; j < J; j++) {
      group.decode(j, j === 0 ? 0 : 1, xhat);
      if (j === 0) bk.addBias(xhat, this.b_dec.data, rows, d, xhat);
      sum += residual(bk, x, xhat, rows, v.E[j]);
    }
    w.e.set(v.E[J - 1]);
    const G = xhat;
    G.fill(0);
    const c = (-2 * gw) / (rows * J);
    for (let j = J - 1; j >= 0; j--) {
      bk.axpy(c, v.E[j], G);
      group.backward(j, G);
    }
    bk.sumRows(G, rows, d, this.colD, false);
    bk.axpy(1, this.colD, this.b_dec.grad);
    return sum / J;
  }
}

/** Matryoshka's per-group sparse codes (trainSparse): S_j = h's entries in group j, their entries in h's order. */
interface SparseGroups<A extends FloatArray> {
  groups: SparseCodes<A>[];
  srcPos: Int32Array[];
  dpre: A; // [nnz of h] d L / d h at h's entries
}

export const matryoshkaFactory: SaeFactory = (hyper, backend, options) => {
  checkCommon("matryoshka", hyper, backend, options);
  checkTopK(hyper);
  checkThresholdBeta(hyper);
  matryoshkaPrefixEnds(hyper.m, hyper.matryoshkaFractions);
  return new MatryoshkaSae(hyper, backend, options);
};
