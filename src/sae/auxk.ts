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
 * Selection (loss): the per-row TopK kernel on ReLU(pre) with the live features set to -inf (k_aux
 * <= n_dead, so they are never picked); the TopK family's sparse step selects with topkSelect
 * instead (selection, then selectionLoss). When k_aux / m is small (SparseCodes.useSparse) the
 * decode and its backward run on a's k_aux entries per row (selectionLoss) instead of dense GEMMs,
 * reading a compact copy of W_dec's dead rows.
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
  /** d aux / d pre at the selection's entries after selectionLoss (a view; empty when gw = 0). */
  grad: A;
  private readonly make: (n: number) => A;
  private readonly compact: SparseCodes<A>; // the selection on the dead rows' compact copy
  private readonly pos: Int32Array; // [m] feature -> its row in the compact copy (-1: live)
  private readonly deadList: Int32Array; // [m] the dead features, in order
  private Wd: A; // [n_dead, d] the dead rows of W_dec
  private Gd: A; // [n_dead, d] their gradient

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
    this.grad = make(0);
    this.make = make;
    this.compact = new SparseCodes(bk, m, make);
    this.pos = new Int32Array(m);
    this.deadList = new Int32Array(m);
    this.Wd = make(0);
    this.Gd = make(0);
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
    const plan = this.plan(dead);
    if (plan === null || dead === null) return 0;
    const { kAux, scale } = plan;
    const w = this.ws.at(rows);
    const idx = this.idx(rows, kAux);
    const masked = w.masked;
    // masked = ReLU(pre) on the dead features, -inf on the live ones.
    for (let i = 0; i < m; i++) this.liveBias[i] = dead[i] ? 0 : Number.NEGATIVE_INFINITY;
    bk.relu(pre, masked);
    bk.addBias(masked, this.liveBias, rows, m, masked);
    bk.topkRows(masked, rows, m, kAux, w.a, idx);
    if (SparseCodes.sizeAllows(m, d) && SparseCodes.useSparse(rows * kAux, rows, m)) {
      this.sparse.fromRowIndices(w.a, idx, rows, kAux);
      const aux = this.selectionLoss(e, rows, scale, W_dec, gw, dead);
      if (gw !== 0) this.sparse.scatter(this.grad, true, dpre as A);
      return aux;
    }
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
   * k_aux and the loss scale coef min(n_dead / auxK, 1) for the dead mask [m], or null when the
   * loss is 0 (coef 0, no mask or no dead feature).
   */
  plan(dead: Uint8Array | null): { kAux: number; scale: number } | null {
    if (this.coef === 0 || dead === null) return null;
    if (dead.length !== this.m)
      throw new RangeError(`AuxK: deadMask has ${dead.length} entries, expected m = ${this.m}`);
    let nDead = 0;
    for (let i = 0; i < this.m; i++) if (dead[i]) nDead++;
    if (nDead === 0) return null;
    return { kAux: Math.min(this.auxK, nDead), scale: this.coef * Math.min(nDead / this.auxK, 1) };
  }

  /**
   * Views [rows * kAux] of the selection's columns and values (a's entries, a = ReLU(pre) >= 0) for
   * a kernel to fill (topkSelect) before selectionLoss.
   */
  selection(rows: number, kAux: number): { idx: Int32Array; val: A } {
    return this.sparse.uniform(rows, kAux);
  }

  /** The selection as a sparse matrix [rows, m] (its pattern, for the encoder's backward). */
  get selected(): SparseCodes<A> {
    return this.sparse;
  }

  /**
   * The loss and its backward with a = the selection already in `selected` (k_aux entries per
   * row): e^ = a W_dec, W_dec.grad on a's rows and d aux / d pre on its entries, zero where a = 0
   * (the ReLU), left in `grad` in the selection's order (nothing scattered). e [rows, d].
   */
  selectionLoss(
    e: FloatArray, // [rows, d]
    rows: number,
    scale: number,
    W_dec: Parameter<A>, // [m, d]
    gw: number,
    dead: Uint8Array, // [m]
  ): number {
    const { d, m, bk } = this;
    const w = this.ws.at(rows);
    // The selection only touches dead rows of W_dec: run it on a compact copy of them (contiguous,
    // n_dead x d: a smaller working set, and no cache-set aliasing when the dead rows are evenly
    // strided), with the selection's columns renumbered into that copy.
    const pos = this.pos;
    let nDead = 0;
    for (let i = 0; i < m; i++) {
      pos[i] = dead[i] ? nDead : -1;
      if (dead[i]) this.deadList[nDead++] = i;
    }
    if (this.Wd.length < nDead * d) {
      this.Wd = this.make(nDead * d);
      this.Gd = this.make(nDead * d);
    }
    const Wd = this.Wd.subarray(0, nDead * d) as A;
    const W = W_dec.data;
    for (let j = 0; j < nDead; j++) Wd.set(W.subarray(this.deadList[j] * d, (this.deadList[j] + 1) * d), j * d);
    const sc = this.compact;
    sc.fromRemapped(this.sparse, pos, nDead);
    w.ra.set(e);
    sc.decode(Wd, d, -1, 1, w.ra);
    const aux = (scale * bk.sumSquares(w.ra)) / rows;
    if (gw !== 0) {
      const g = (-2 * scale * gw) / rows;
      const Gd = this.Gd.subarray(0, nDead * d) as A;
      Gd.fill(0);
      sc.decoderGradInto(w.ra, d, g, Gd);
      const G = W_dec.grad;
      for (let j = 0; j < nDead; j++) {
        const o = this.deadList[j] * d;
        for (let c = 0; c < d; c++) G[o + c] += Gd[j * d + c];
      }
      const da = sc.codeGradValues(w.ra, Wd, d, g);
      const a = sc.values();
      for (let i = 0; i < da.length; i++) if (!(a[i] > 0)) da[i] = 0; // ReLU backward (a = ReLU(pre))
      this.grad = da;
    } else {
      this.grad = this.grad.subarray(0, 0) as A;
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
