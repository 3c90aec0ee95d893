/**
 * AuxK on dead latents (Gao et al. 2024), shared by topk, batchtopk and matryoshka
 * (/work/notes/sae-pins.md):
 *
 *   n_dead = #dead;  aux = 0 if n_dead = 0 or coef = 0;  else k_aux = min(auxK, n_dead),
 *   e  = x - x^                                    (detached; matryoshka: the full prefix x^)
 *   a  = per token the k_aux largest of ReLU(pre) over the dead features (others 0)   [rows, m]
 *   e^ = a W_dec                                   (no b_dec)
 *   aux = coef * min(n_dead / auxK, 1) * mean_b ||e - e^||^2
 *
 * Gradients flow into W_dec and, through a, into pre (hence W_enc, b_enc and b_dec's input term).
 * Selection reuses the per-row TopK kernel on ReLU(pre) with the live features set to -inf (k_aux
 * <= n_dead, so they are never picked). When k_aux / m is small (SparseCodes.useSparse) the decode
 * and its backward run on a's k_aux entries per row (sparseLoss) instead of dense GEMMs.
 */
import type { Backend, FloatArray } from "../core/backend.ts";
import type { Parameter } from "../core/parameter.ts";
import { SparseCodes } from "./sparse-codes.ts";
import { RowWorkspace } from "./workspace.ts";

export class AuxK<A extends FloatArray> {
  private readonly bk: Backend;
  private readonly d: number;
  private readonly m: number;
  private readonly auxK: number;
  private readonly coef: number;
  private readonly ws: RowWorkspace<"masked" | "a" | "ra", A>;
  private readonly idxStore: RowWorkspace<"idx", Int32Array>;
  private idxView: Int32Array = new Int32Array(0);
  private readonly liveBias: A; // [m] 0 on dead features, -inf on live ones
  private readonly sparse: SparseCodes<A>;
  private readonly make: (n: number) => A;
  private preAt: A; // [rows * kAux] pre at the selected entries

  constructor(bk: Backend, d: number, m: number, auxK: number, coef: number, make: (n: number) => A) {
    this.bk = bk;
    this.d = d;
    this.m = m;
    this.auxK = auxK;
    this.coef = coef;
    this.ws = new RowWorkspace(make, { masked: m, a: m, ra: d });
    this.idxStore = new RowWorkspace((n) => new Int32Array(n), { idx: coef > 0 ? Math.min(auxK, m) : 0 });
    this.liveBias = make(m);
    this.sparse = new SparseCodes(bk, m, make);
    this.make = make;
    this.preAt = make(0);
  }

  /**
   * The AuxK loss of one micro-batch, and its backward weighted by gw: W_dec.grad += ..., and the
   * gradient wrt pre ADDED into dpre [rows, m]. pre [rows, m]; e = x - x^ [rows, d]; dead [m] or null.
   */
  loss(
    pre: FloatArray, // [rows, m]
    e: FloatArray, // [rows, d]
    rows: number,
    dead: Uint8Array | null, // [m]
    W_dec: Parameter<A>, // [m, d]
    gw: number,
    dpre: FloatArray, // [rows, m] accumulated
  ): number {
    const { m, d, bk } = this;
    if (this.coef === 0 || dead === null) return 0;
    if (dead.length !== m) throw new RangeError(`AuxK: deadMask has ${dead.length} entries, expected m = ${m}`);
    let nDead = 0;
    for (let i = 0; i < m; i++) if (dead[i]) nDead++;
    if (nDead === 0) return 0;
    const kAux = Math.min(this.auxK, nDead);
    const w = this.ws.at(rows);
    const idx = this.idx(rows, kAux);
    const masked = w.masked;
    // masked = ReLU(pre) on the dead features, -inf on the live ones.
    for (let i = 0; i < m; i++) this.liveBias[i] = dead[i] ? 0 : Number.NEGATIVE_INFINITY;
    bk.relu(pre, masked);
    bk.addBias(masked, this.liveBias, rows, m, masked);
    bk.topkRows(masked, rows, m, kAux, w.a, idx);
    const scale = this.coef * Math.min(nDead / this.auxK, 1);
    if (SparseCodes.sizeAllows(m, d) && SparseCodes.useSparse(rows * kAux, rows, m))
      return this.sparseLoss(pre, e, rows, idx, kAux, scale, W_dec, gw, dpre);
    // ra = e - a W_dec
    w.ra.set(e);
    bk.gemm(false, false, rows, d, m, -1, w.a, m, W_dec.data, d, 1, w.ra, d);
    const aux = (scale * bk.sumSquares(w.ra)) / rows;
    if (gw !== 0) {
      // d aux / d e^ = -2 scale (e - e^) / rows, weighted by gw.
      const g = (-2 * scale * gw) / rows;
      bk.gemm(true, false, m, d, rows, g, w.a, m, w.ra, d, 1, W_dec.grad, d);
      const da = masked; // reused: the selection input is no longer needed
      bk.gemm(false, true, rows, m, d, g, w.ra, d, W_dec.data, d, 0, da, m);
      bk.topkRowsBackward(da, idx, rows, m, kAux, da);
      bk.reluBackward(pre, da, da);
      bk.add(dpre, da, dpre);
    }
    return aux;
  }

  /**
   * The same loss and backward with a as a sparse matrix of its k_aux entries per row
   * (sparse-codes.ts): e^ = a W_dec, W_dec.grad and d a on those entries only.
   */
  private sparseLoss(
    pre: FloatArray, // [rows, m]
    e: FloatArray, // [rows, d]
    rows: number,
    idx: Int32Array, // [rows, kAux]
    kAux: number,
    scale: number,
    W_dec: Parameter<A>, // [m, d]
    gw: number,
    dpre: FloatArray, // [rows, m] accumulated
  ): number {
    const { d, bk } = this;
    const w = this.ws.at(rows);
    const sc = this.sparse;
    sc.fromRowIndices(w.a, idx, rows, kAux);
    w.ra.set(e);
    sc.decode(W_dec.data, d, -1, 1, w.ra);
    const aux = (scale * bk.sumSquares(w.ra)) / rows;
    if (gw !== 0) {
      const g = (-2 * scale * gw) / rows;
      sc.decoderGrad(w.ra, d, g, W_dec);
      const da = sc.codeGradValues(w.ra, W_dec.data, d, g);
      const preAt = this.preAt.length >= da.length ? this.preAt : (this.preAt = this.make(da.length));
      sc.gather(pre as A, preAt);
      for (let i = 0; i < da.length; i++) if (!(preAt[i] > 0)) da[i] = 0; // ReLU backward
      sc.scatter(da, true, dpre as A);
    }
    return aux;
  }

  private idx(rows: number, kAux: number): Int32Array {
    const store = this.idxStore.at(rows).idx;
    const n = rows * kAux;
    if (this.idxView.buffer !== store.buffer || this.idxView.length !== n) this.idxView = store.subarray(0, n);
    return this.idxView;
  }
}
