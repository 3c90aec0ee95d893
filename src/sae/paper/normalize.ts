/**
 * The input normalization of the paper's normalized architectures (layernorm, adaptive, attention,
 * multiscale) and its inverse, forward and backward, over flat [rows, d] arrays (DESIGN.md s.2).
 *
 * Per token x [d]: mu_t = mean_j x_j, var_t = mean_j (x_j - mu_t)^2 (biased), scalars.
 *   statistics   mu_j = a mu_t + (1 - a) run_mean_j,  v_j = a var_t + (1 - a) run_var_j,
 *                a = sigmoid(adapt_rho) (`adaptive`); a = 1 otherwise (mu = mu_t, v = var_t).
 *   single scale n_j = ln_gamma_j (x_j - mu_j) / sqrt(v_j + eps) + ln_beta_j
 *   multi-scale  n_j = sum_s p_s (ms_gamma_sj (x_j - mu_j) / sqrt(s v_j + eps) + ms_beta_sj),
 *                p = softmax(ms_w), s in SCALES = [0.1, 0.5, 1, 2]
 *   inverse      x^_j = sqrt(v_j + eps) y_j + mu_j   (s = 1; `reconstruct: "denormalized"`)
 *
 * Backward (x is data, so only the parameters get gradients; mu and v depend on adapt_rho through a):
 *   z_sj = (x_j - mu_j) r_sj, r_sj = (s v_j + eps)^-1/2, c_sj = p_s ms_gamma_sj (single: ln_gamma_j):
 *     d ms_gamma_sj += dn_j p_s z_sj,  d ms_beta_sj += dn_j p_s,  dp_s += dn_j (ms_gamma_sj z_sj + ms_beta_sj)
 *     dmu_j += -dn_j c_sj r_sj,        dv_j += -s/2 dn_j c_sj z_sj r_sj^2
 *   inverse: dy_j = dx^_j sqrt(v_j + eps), dmu_j += dx^_j, dv_j += dx^_j y_j / (2 sqrt(v_j + eps))
 *   da = sum_bj dmu_j (mu_t - run_mean_j) + dv_j (var_t - run_var_j);  d adapt_rho = da a (1 - a)
 *   d ms_w = p o (dp - <p, dp>)
 *
 * Running statistics (`adaptive`, buffers run_mean / run_var [d], init 0 and 1, frozen at eval):
 * the forward snapshots the values it reads; `updateRunStats` then applies
 *   run_mean <- beta run_mean + (1 - beta) mean_b x,  run_var <- beta run_var + (1 - beta) var_b x (biased).
 *
 * Token statistics are accumulated in float64 whatever the array type. The per-element loops run in
 * the backend's scaleNormForward / scaleNormBackward / denormalize(Backward) kernels
 * (src/core/backend-sae.ts); this class keeps the parameters, the per-call constants and the EMA.
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import type { ScaleNormConstants } from "../../core/backend-sae.ts";
import { Parameter } from "../../core/parameter.ts";
import { floatLike } from "../ortho.ts";

export const SCALES: readonly number[] = [0.1, 0.5, 1, 2];
const S = SCALES.length; // forward / forwardBackward unroll these four scales (s = 1 is index 2)

export interface NormalizerOptions {
  /** Mix token statistics with the running ones through a = sigmoid(adapt_rho). */
  adaptive: boolean;
  /** Multi-scale normalization (ms_gamma, ms_beta, ms_w) instead of one affine LayerNorm (ln_gamma, ln_beta). */
  multiscale: boolean;
}

export class Normalizer<A extends FloatArray> {
  readonly d: number;
  readonly eps: number;
  readonly options: NormalizerOptions;
  readonly params: Parameter<A>[] = [];
  /** run_mean, run_var [d] (adaptive only). */
  readonly runMean: A | null;
  readonly runVar: A | null;
  private readonly backend: Backend;
  private readonly arrayType: "f32" | "f64";
  private readonly gamma: Parameter<A>; // [d] or [S, d]
  private readonly beta: Parameter<A>; // [d] or [S, d]
  private readonly msW: Parameter<A> | null; // [S]
  private readonly rho: Parameter<A> | null; // []
  private readonly runBeta: number;
  /** Snapshot of run_mean / run_var the last forward read [d]. */
  private readonly rmUsed: A;
  private readonly rvUsed: A;
  /** [d] batch mean / variance scratch for updateRunStats. */
  private readonly colMean: A;
  private readonly colVar: A;
  private readonly p = new Float64Array(S);
  private readonly dp = new Float64Array(S);
  private a = 1;
  private da = 0;
  private cap = 0;
  private muT: A; // [rows]
  private varT: A; // [rows]
  private nBuf: A; // [rows, d]
  private r1: A; // [rows, d] (v + eps)^-1/2 of the last forward
  /** (1 - a) run_mean, (1 - a) run_var [d] (0 without adaptive statistics). */
  private readonly omRm: A;
  private readonly omRv: A;
  /** p_s ms_gamma_s [S, d] and sum_s p_s ms_beta_s [d] (multi-scale). */
  private readonly pG: A;
  private readonly pB: A;
  /** The scales s [S] (multi-scale) or [1]. */
  private readonly scaleList: A;
  /** Backward accumulators [T (S or 1 rows of d), N (d)] (see forwardBackward). */
  private readonly acc: Float64Array;

  constructor(
    backend: Backend,
    d: number,
    eps: number,
    runBeta: number,
    options: NormalizerOptions,
    arrayType: "f32" | "f64",
  ) {
    this.backend = backend;
    this.d = d;
    this.eps = eps;
    this.runBeta = runBeta;
    this.options = options;
    this.arrayType = arrayType;
    const make = (name: string, shape: number[], fill: number, decay: boolean) => {
      const n = shape.reduce((x, y) => x * y, 1);
      const data = floatLike<A>(arrayType, n);
      data.fill(fill);
      const p = new Parameter<A>(name, data, shape, decay);
      this.params.push(p);
      return p;
    };
    if (options.multiscale) {
      this.gamma = make("ms_gamma", [S, d], 1, false);
      this.beta = make("ms_beta", [S, d], 0, false);
      this.msW = make("ms_w", [S], 0, false);
    } else {
      this.gamma = make("ln_gamma", [d], 1, false);
      this.beta = make("ln_beta", [d], 0, false);
      this.msW = null;
    }
    this.rho = options.adaptive ? make("adapt_rho", [], 0, false) : null;
    this.runMean = options.adaptive ? floatLike<A>(arrayType, d) : null;
    this.runVar = options.adaptive ? (floatLike<A>(arrayType, d).fill(1) as A) : null;
    this.rmUsed = floatLike<A>(arrayType, d);
    this.rvUsed = floatLike<A>(arrayType, d).fill(1) as A;
    this.colMean = floatLike<A>(arrayType, d);
    this.colVar = floatLike<A>(arrayType, d);
    this.nBuf = floatLike<A>(arrayType, 0);
    this.r1 = floatLike<A>(arrayType, 0);
    this.omRm = floatLike<A>(arrayType, d);
    this.omRv = floatLike<A>(arrayType, d);
    this.pG = floatLike<A>(arrayType, S * d);
    this.pB = floatLike<A>(arrayType, d);
    this.scaleList = floatLike<A>(arrayType, options.multiscale ? S : 1);
    this.scaleList.set(options.multiscale ? SCALES : [1]);
    this.acc = new Float64Array(((options.multiscale ? S : 1) + 1) * d);
    this.muT = floatLike<A>(arrayType, 0);
    this.varT = floatLike<A>(arrayType, 0);
  }

  /** The constants of the normalization kernels for the statistics of the last stats() call. */
  private constants(): ScaleNormConstants<A> {
    const coef = this.msW ? this.pG : this.gamma.data;
    return { a: this.a, eps: this.eps, omRm: this.omRm, omRv: this.omRv, coef, scales: this.scaleList };
  }

  private ensure(rows: number): void {
    if (rows === this.cap) return; // exact-length buffers; reallocates only when rows changes
    this.cap = rows;
    this.muT = floatLike<A>(this.arrayType, rows);
    this.varT = floatLike<A>(this.arrayType, rows);
    this.nBuf = floatLike<A>(this.arrayType, rows * this.d);
    this.r1 = floatLike<A>(this.arrayType, rows * this.d);
  }

  /**
   * Token statistics of x [rows, d], the snapshot of the running statistics and the per-call
   * constants: mu_bj = a mu_t,b + omRm_j, v_bj = a var_t,b + omRv_j (omRm = (1 - a) run_mean, 0 without
   * adaptive statistics, where a = 1), p = softmax(ms_w), pG = p_s ms_gamma_s, pB = sum_s p_s ms_beta_s.
   */
  private stats(rows: number): void {
    this.ensure(rows);
    const d = this.d;
    if (this.rho && this.runMean && this.runVar) {
      this.a = 1 / (1 + Math.exp(-this.rho.data[0]));
      for (let j = 0; j < d; j++) {
        this.rmUsed[j] = this.runMean[j];
        this.rvUsed[j] = this.runVar[j];
        this.omRm[j] = (1 - this.a) * this.runMean[j];
        this.omRv[j] = (1 - this.a) * this.runVar[j];
      }
    } else this.a = 1;
    if (this.msW) {
      const w = this.msW.data;
      let mx = Number.NEGATIVE_INFINITY;
      for (let s = 0; s < S; s++) mx = Math.max(mx, w[s]);
      let z = 0;
      for (let s = 0; s < S; s++) z += this.p[s] = Math.exp(w[s] - mx);
      for (let s = 0; s < S; s++) this.p[s] /= z;
      const g = this.gamma.data;
      const be = this.beta.data;
      for (let j = 0; j < d; j++) {
        let pb = 0;
        for (let s = 0; s < S; s++) {
          this.pG[s * d + j] = this.p[s] * g[s * d + j];
          pb += this.p[s] * be[s * d + j];
        }
        this.pB[j] = pb;
      }
    }
  }

  /** n [rows, d] of x [rows, d] (a workspace view, valid until the next forward). Keeps r = (v + eps)^-1/2 [rows, d]. */
  forward(x: A, rows: number): A {
    this.stats(rows);
    const shift = this.msW ? this.pB : this.beta.data;
    this.backend.scaleNormForward(x, rows, this.d, this.constants(), shift, this.nBuf, this.r1, this.muT, this.varT);
    return this.nBuf;
  }

  /** out [rows, d] = (x - mu) / sqrt(v + eps) with the statistics of `x` itself (sets them; b_dec init). */
  standardize(x: A, rows: number, out: A): void {
    this.stats(rows);
    const d = this.d;
    const unit = floatLike<A>(this.arrayType, d).fill(1) as A;
    const k: ScaleNormConstants<A> = { ...this.constants(), coef: unit, scales: unit.subarray(0, 1) as A };
    this.backend.scaleNormForward(x, rows, d, k, floatLike<A>(this.arrayType, d), out, this.r1, this.muT, this.varT);
  }

  /** out = sqrt(v + eps) y + mu, y [rows, d], with the statistics of the last forward. */
  denormalize(y: A, rows: number, out: A): void {
    this.backend.denormalize(y, this.r1, this.muT, rows, this.d, this.a, this.omRm, out);
  }

  /** out = src / sqrt(v + eps) (a residual in input units to the decoder's units), last forward's statistics. */
  divideBySigma(src: A, rows: number, out: A): void {
    this.backend.mul(src, this.r1.subarray(0, rows * this.d) as A, out);
  }

  /** Starts a backward: clears the adapt_rho and ms_w accumulators. */
  beginBackward(): void {
    this.da = 0;
    this.dp.fill(0);
  }

  /** Backward of denormalize: dy [rows, d] = dx^ sqrt(v + eps) (overwritten); collects da. */
  denormalizeBackward(dxhat: A, y: A, rows: number, dy: A): void {
    const { rmUsed, rvUsed } = this;
    const ad = this.options.adaptive;
    this.da += this.backend.denormalizeBackward(
      dxhat,
      y,
      this.r1,
      this.muT,
      this.varT,
      rmUsed,
      rvUsed,
      rows,
      this.d,
      ad,
      dy,
    );
  }

  /**
   * Backward of forward: accumulates the affine / multi-scale parameter gradients from dn [rows, d];
   * collects da and dp. With T_sj = sum_b dn_bj z_sbj and N_j = sum_b dn_bj (the scaleNormBackward kernel):
   * d gamma_sj += p_s T_sj, d beta_sj += p_s N_j, dp_s = sum_j gamma_sj T_sj + beta_sj N_j
   * (single scale: p = 1); per element dmu = -dn sum_s c_s r_s, dv = -dn diff sum_s (s/2) c_s r_s^3.
   */
  forwardBackward(dn: A, x: A, rows: number): void {
    const d = this.d;
    const acc = this.acc;
    const ad = this.options.adaptive;
    this.da += this.backend.scaleNormBackward(
      dn,
      x,
      rows,
      d,
      this.constants(),
      this.muT,
      this.varT,
      this.rmUsed,
      this.rvUsed,
      ad,
      acc,
    );
    const nS = this.msW ? S : 1;
    const g = this.gamma.data;
    const be = this.beta.data;
    const dg = this.gamma.grad;
    const dbe = this.beta.grad;
    const N = nS * d; // acc[N + j] = N_j
    for (let s = 0; s < nS; s++) {
      const ps = this.msW ? this.p[s] : 1;
      let dps = 0;
      for (let j = 0; j < d; j++) {
        const k = s * d + j;
        dg[k] += ps * acc[k];
        dbe[k] += ps * acc[N + j];
        dps += g[k] * acc[k] + be[k] * acc[N + j];
      }
      this.dp[s] += dps;
    }
  }

  /** Ends a backward: d adapt_rho += da a (1 - a); d ms_w += p o (dp - <p, dp>). */
  endBackward(): void {
    if (this.rho) this.rho.grad[0] += this.da * this.a * (1 - this.a);
    if (this.msW) {
      let dot = 0;
      for (let s = 0; s < S; s++) dot += this.p[s] * this.dp[s];
      for (let s = 0; s < S; s++) this.msW.grad[s] += this.p[s] * (this.dp[s] - dot);
    }
  }

  /** run_mean / run_var EMA toward the batch statistics of x [rows, d] (adaptive only; call after the forward). */
  updateRunStats(x: A, rows: number): void {
    if (!this.runMean || !this.runVar) return;
    this.backend.colMeanVar(x, rows, this.d, this.colMean, this.colVar);
    const bt = this.runBeta;
    for (let j = 0; j < this.d; j++) {
      this.runMean[j] = bt * this.runMean[j] + (1 - bt) * this.colMean[j];
      this.runVar[j] = bt * this.runVar[j] + (1 - bt) * this.colVar[j];
    }
  }
}
