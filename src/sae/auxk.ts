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
 * <= n_dead, so they are never picked).
 */
import type { Backend, FloatArray } from "../core/backend.ts";
import type { Parameter } from "../core/parameter.ts";
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

  constructor(bk: Backend, d: number, m: number, auxK: number, coef: number, make: (n: number) => A) {
    this.bk = bk;
    this.d = d;
    this.m = m;
    this.auxK = auxK;
    this.coef = coef;
    this.ws = new RowWorkspace(make, { masked: m, a: m, ra: d });
    this.idxStore = new RowWorkspace((n) => new Int32Array(n), { idx: coef > 0 ? Math.min(auxK, m) : 0 });
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
    for (let r = 0; r < rows; r++) {
      const o = r * m;
      for (let i = 0; i < m; i++) {
        const v = pre[o + i];
        masked[o + i] = dead[i] ? Math.max(v, 0) : Number.NEGATIVE_INFINITY;
      }
    }
    bk.topkRows(masked, rows, m, kAux, w.a, idx);
    // ra = e - a W_dec
    w.ra.set(e);
    bk.gemm(false, false, rows, d, m, -1, w.a, m, W_dec.data, d, 1, w.ra, d);
    const scale = this.coef * Math.min(nDead / this.auxK, 1);
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

  private idx(rows: number, kAux: number): Int32Array {
    const store = this.idxStore.at(rows).idx;
    const n = rows * kAux;
    if (this.idxView.buffer !== store.buffer || this.idxView.length !== n) this.idxView = store.subarray(0, n);
    return this.idxView;
  }
}
