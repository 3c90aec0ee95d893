/**
 * The paper's five cumulative architectures as one module with options (DESIGN.md s.2 table and
 * pinned details); src/sae/paper/{base,...,multiscale}.ts pick the options. Forward and a
 * hand-written backward over flat row-major arrays (llm.c style), the same code in float32 on
 * `native` and float64 on `ref`.
 *
 *   input   u = x - b_dec (base)  |  n = Normalizer(x) (the others; no b_dec subtraction)
 *   encode  h = ReLU(input W_enc + b_enc) [rows, m]
 *   reweight h' = h o (m softmax(...)) (attention, multiscale; else h' = h)
 *   decode  y = h' W_dec + b_dec [rows, d] (over the nonzeros of h' when few: sparse-codes.ts);
 *           x^ = sqrt(v + eps) y + mu (normalized archs with
 *           reconstruct "denormalized"), else x^ = y
 *   loss    recon = mean_b ||x - x^||^2,  sparsity = l1 mean_b sum_i h'_bi (h' >= 0),
 *           ortho = l2 ||M o (W_dec W_dec^T - I)||_F with M = 1 (base, layernorm) or the EMA mask
 *
 * Order of one trainBatch: forward; E <- EMA with C(h') then M = mask(E) (adaptive+, when
 * updateState); the loss parts; the backward (gradients ADDED into Parameter.grad, scaled by
 * gradWeight); run_mean / run_var EMA (adaptive+, when updateState).
 *
 * Init (seeded Rng, draws in this order): W_dec [m, d] ~ N(0, 1/d); attn_WQ, attn_K ~ N(0, 1/d);
 * W_enc = W_dec^T; b_enc = 0; b_dec = mean of the first batch in the space the decoder writes (x for
 * base and reconstruct "paper"; (x - mu)/sqrt(v + eps) with the initial statistics otherwise).
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import { Parameter } from "../../core/parameter.ts";
import { Rng } from "../../core/tensor.ts";
import { CoactMask, floatLike, OrthoPenalty } from "../ortho.ts";
import { denseColumnStats, SparseCodes } from "../sparse-codes.ts";
import type { LossParts, SaeHyper, SaeModule, SaeParam, TrainBatchOptions } from "../types.ts";
import { Normalizer, type NormalizerOptions } from "./normalize.ts";
import { Reweighting } from "./reweight.ts";

export interface PaperOptions {
  /** null: base (no normalization, b_dec subtracted from the input). */
  normalize: NormalizerOptions | null;
  /** Feature reweighting (paper eq. 5). */
  attention: boolean;
  /** EMA co-activation mask in the orthogonality penalty (else M = all ones). */
  coactMask: boolean;
}

export interface PaperInit<A extends FloatArray> {
  arrayType: "f32" | "f64";
  seed: number;
  /** [rows, d] sets b_dec. */
  firstBatch: A;
  rows: number;
}

type Buffer<A> = { data: A; shape: readonly number[]; inWeights: boolean };

export class PaperSae<A extends FloatArray> implements SaeModule<A> {
  readonly arch: SaeHyper["arch"];
  readonly hyper: Readonly<SaeHyper>;
  readonly backend: Backend;
  readonly params = new Map<string, SaeParam<A>>();
  readonly buffers = new Map<string, Buffer<A>>();
  private readonly arrayType: "f32" | "f64";
  private readonly wEnc: Parameter<A>; // [d, m]
  private readonly bEnc: Parameter<A>; // [m]
  private readonly wDec: Parameter<A>; // [m, d]
  private readonly bDec: Parameter<A>; // [d]
  private readonly norm: Normalizer<A> | null;
  private readonly attn: Reweighting<A> | null;
  private readonly coact: CoactMask<A> | null;
  private readonly ortho: OrthoPenalty<A>;
  /** x^ is de-normalized (normalized archs with reconstruct "denormalized"). */
  private readonly denorm: boolean;
  private rows = 0;
  // Workspaces for `rows` (exact lengths; reallocated only when rows changes).
  private xs!: A; // [rows, d] copy of the input
  private u!: A; // [rows, d] x - b_dec (base) | n (a view of the normalizer's)
  private pre!: A; // [rows, m]
  private h!: A; // [rows, m]
  private hp!: A; // [rows, m] h' (= h without attention)
  private y!: A; // [rows, d]
  private xhat!: A; // [rows, d] (= y without de-normalization)
  private dxhat!: A; // [rows, d]
  private dy!: A; // [rows, d] (= dxhat without de-normalization)
  private dhp!: A; // [rows, m]
  private dh!: A; // [rows, m] (= dhp without attention)
  private dn!: A; // [rows, d]
  private readonly colsum: A; // [m]
  private readonly stats = new Float64Array(2); // activeStats: [nonzero count, sum]
  /** h' as sparse codes, and whether the last forward's decoder ran on them. */
  private readonly sparse: SparseCodes<A>;
  private sparseOn = false;

  constructor(hyper: SaeHyper, backend: Backend, options: PaperOptions, init: PaperInit<A>) {
    const { d, m } = hyper;
    if (init.arrayType === "f64" && backend.name === "native")
      throw new Error("the native backend computes in float32 only; use arrayType f32 or the ref backend");
    this.arch = hyper.arch;
    this.hyper = Object.freeze({ ...hyper });
    this.backend = backend;
    this.arrayType = init.arrayType;
    const t = init.arrayType;
    const rng = new Rng(init.seed);
    const wDec = rng.fillNormal(floatLike<A>(t, m * d), 1 / Math.sqrt(d));
    const wEnc = floatLike<A>(t, d * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) wEnc[j * m + i] = wDec[i * d + j];
    this.wEnc = new Parameter<A>("W_enc", wEnc, [d, m], true);
    this.bEnc = new Parameter<A>("b_enc", floatLike<A>(t, m), [m], false);
    this.wDec = new Parameter<A>("W_dec", wDec, [m, d], true);
    this.bDec = new Parameter<A>("b_dec", floatLike<A>(t, d), [d], false);
    this.norm = options.normalize
      ? new Normalizer<A>(backend, d, hyper.eps, hyper.runBeta, options.normalize, t)
      : null;
    this.attn = options.attention ? new Reweighting<A>(backend, d, m, rng, t) : null;
    this.coact = options.coactMask ? new CoactMask<A>(backend, m, hyper.coactBeta, hyper.coactTau, t) : null;
    this.ortho = new OrthoPenalty<A>(backend, m, d, t);
    this.denorm = this.norm !== null && hyper.reconstruct === "denormalized";
    this.colsum = floatLike<A>(t, m);
    this.sparse = new SparseCodes<A>(backend, m, (n) => floatLike<A>(t, n));

    this.params.set("W_enc", { param: this.wEnc, featureAxis: "col" });
    this.params.set("b_enc", { param: this.bEnc, featureAxis: "elem" });
    this.params.set("W_dec", { param: this.wDec, featureAxis: "row" });
    this.params.set("b_dec", { param: this.bDec, featureAxis: null });
    for (const p of [...(this.norm?.params ?? []), ...(this.attn?.params ?? [])])
      this.params.set(p.name, { param: p, featureAxis: null });
    if (this.norm?.runMean && this.norm.runVar) {
      this.buffers.set("run_mean", { data: this.norm.runMean, shape: [d], inWeights: true });
      this.buffers.set("run_var", { data: this.norm.runVar, shape: [d], inWeights: true });
    }
    if (this.coact) this.buffers.set("coact_ema", { data: this.coact.ema, shape: [m, m], inWeights: false });
    this.initDecoderBias(init.firstBatch, init.rows);
  }

  /** b_dec = mean over rows of the first batch in the decoder's space (see header). */
  private initDecoderBias(x: A, rows: number): void {
    const d = this.hyper.d;
    this.checkInput(x, rows, "firstBatch");
    let src = x;
    if (this.denorm && this.norm) {
      src = floatLike<A>(this.arrayType, rows * d);
      this.norm.standardize(x, rows, src);
    }
    const b = this.bDec.data;
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += src[r * d + j];
      b[j] = s / rows;
    }
  }

  private checkInput(x: A, rows: number, what: string): void {
    const d = this.hyper.d;
    if (!Number.isInteger(rows) || rows < 1)
      throw new RangeError(`${this.arch}: ${what} rows ${rows}; expected an integer >= 1`);
    const want = this.arrayType === "f32" ? Float32Array : Float64Array;
    if (!(x instanceof want))
      throw new TypeError(
        `${this.arch}: ${what} is a ${x.constructor.name}; expected a ${want.name} (the module's array type)`,
      );
    if (x.length !== rows * d)
      throw new RangeError(`${this.arch}: ${what} has ${x.length} values; expected rows * d = ${rows} * ${d}`);
  }

  private ensure(rows: number): void {
    if (rows === this.rows) return;
    this.rows = rows;
    const { d, m } = this.hyper;
    const t = this.arrayType;
    const f = (n: number) => floatLike<A>(t, n);
    this.xs = f(rows * d);
    this.u = this.norm ? this.xs : f(rows * d);
    this.pre = f(rows * m);
    this.h = f(rows * m);
    this.hp = this.attn ? f(rows * m) : this.h;
    this.y = f(rows * d);
    this.xhat = this.denorm ? f(rows * d) : this.y;
    this.dxhat = f(rows * d);
    this.dy = this.denorm ? f(rows * d) : this.dxhat;
    this.dhp = f(rows * m);
    this.dh = this.attn ? f(rows * m) : this.dhp;
    this.dn = f(rows * d);
  }

  /** Forward of x [rows, d] into the workspaces (xs, u, pre, h, hp, y, xhat). */
  private run(x: A, rows: number): void {
    this.checkInput(x, rows, "x");
    this.ensure(rows);
    const { d, m } = this.hyper;
    const be = this.backend;
    this.xs.set(x);
    if (this.norm) this.u = this.norm.forward(this.xs, rows);
    else
      for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) this.u[r * d + j] = x[r * d + j] - this.bDec.data[j];
    be.gemm(false, false, rows, m, d, 1, this.u, d, this.wEnc.data, m, 0, this.pre, m);
    be.addBias(this.pre, this.bEnc.data, rows, m, this.pre);
    be.relu(this.pre, this.h);
    if (this.attn) this.attn.forward(this.u, this.h, rows, this.hp);
    // The decoder over the nonzeros of h' when they are few enough (sparse-codes.ts), else one GEMM.
    this.sparseOn =
      SparseCodes.sizeAllows(m, d) &&
      SparseCodes.useSparse(this.sparse.fromDense(this.hp, rows, SparseCodes.maxNnz(rows, m)), rows, m);
    if (this.sparseOn) this.sparse.decode(this.wDec.data, d, 1, 0, this.y);
    else be.gemm(false, false, rows, d, m, 1, this.hp, m, this.wDec.data, d, 0, this.y, d);
    be.addBias(this.y, this.bDec.data, rows, d, this.y);
    if (this.denorm && this.norm) this.norm.denormalize(this.y, rows, this.xhat);
  }

  trainBatch(x: A, rows: number, options: TrainBatchOptions): LossParts {
    this.run(x, rows);
    const { d, m, l1, l2 } = this.hyper;
    const be = this.backend;
    const gw = options.gradWeight;
    const xs = this.xs;
    const xhat = this.xhat;
    const dxhat = this.dxhat;
    // Loss parts.
    const recon = be.sqDiff(xhat, xs, (2 * gw) / rows, dxhat) / rows;
    const hp = this.hp;
    be.activeStats(hp, rows, m, null, this.stats); // h' >= 0: nonzero = active, sum = L1
    const active = this.stats[0];
    const sparsity = (l1 * this.stats[1]) / rows;
    if (this.coact) {
      if (options.updateState) this.coact.update(hp, rows);
      else this.coact.refresh(); // M from E as it stands (E may have been loaded or set)
    }
    const ortho = l2 === 0 ? 0 : l2 * this.ortho.evaluate(this.wDec.data, this.coact?.mask ?? null);

    // Backward.
    const norm = this.norm;
    norm?.beginBackward();
    if (this.denorm && norm) norm.denormalizeBackward(dxhat, this.y, rows, this.dy);
    const dy = this.dy;
    const dhp = this.dhp;
    if (this.sparseOn) {
      // dh' is needed only where h' > 0: off it the ReLU (and the reweighting, h' = h o mP) zero it.
      this.sparse.decoderGrad(dy, d, 1, this.wDec);
      this.sparse.codeGrad(dy, this.wDec.data, d, 1, false, dhp);
    } else {
      be.gemm(true, false, m, d, rows, 1, hp, m, dy, d, 1, this.wDec.grad, d);
      be.gemm(false, true, rows, m, d, 1, dy, d, this.wDec.data, d, 0, dhp, m);
    }
    be.sumRows(dy, rows, d, this.bDec.grad, true);
    const g1 = (gw * l1) / rows;
    if (g1 !== 0) be.addWherePositive(hp, g1, dhp);
    if (this.attn) this.attn.backward(dhp, this.u, this.h, rows, this.dh, this.dn);
    const dpre = this.dh;
    be.reluBackward(this.pre, dpre, dpre);
    be.gemm(true, false, d, m, rows, 1, this.u, d, dpre, m, 1, this.wEnc.grad, m);
    be.sumRows(dpre, rows, m, this.colsum, false);
    be.axpy(1, this.colsum, this.bEnc.grad);
    if (norm) {
      be.gemm(false, true, rows, d, m, 1, dpre, m, this.wEnc.data, m, this.attn ? 1 : 0, this.dn, d);
      norm.forwardBackward(this.dn, xs, rows);
      norm.endBackward();
    } else {
      // u = x - b_dec: d b_dec -= sum_b du = W_enc (sum_b dpre).
      be.gemm(false, false, d, 1, m, -1, this.wEnc.data, m, this.colsum, 1, 1, this.bDec.grad, 1);
    }
    if (l2 !== 0) this.ortho.addGradient(this.wDec.data, gw * l2, this.wDec.grad);
    if (options.updateState) norm?.updateRunStats(xs, rows);
    return { recon, sparsity, ortho, aux: 0, total: recon + sparsity + ortho, l0: active / rows };
  }

  codes(): A {
    return this.hp;
  }

  codeColumnStats(colSum: A, fired: Int32Array): number {
    const rows = this.hp.length / this.hyper.m;
    denseColumnStats(this.backend, this.hp, rows, this.hyper.m, colSum, fired);
    return rows;
  }

  forward(x: A, rows: number, codes: A, recon: A): void {
    const { d, m } = this.hyper;
    if (codes.length !== rows * m || recon.length !== rows * d)
      throw new RangeError(
        `${this.arch}: forward output buffers have ${codes.length} and ${recon.length} values; expected rows * m = ${rows * m} and rows * d = ${rows * d}`,
      );
    this.run(x, rows);
    codes.set(this.hp);
    recon.set(this.xhat);
  }

  decoderResidual(out: A): void {
    const n = this.rows * this.hyper.d;
    if (out.length !== n) throw new RangeError(`${this.arch}: residual buffer has ${out.length} values; expected ${n}`);
    for (let i = 0; i < n; i++) out[i] = this.xs[i] - this.xhat[i];
    if (this.denorm && this.norm) this.norm.divideBySigma(out, this.rows, out);
  }
}
