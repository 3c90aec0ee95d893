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
 * Token statistics are accumulated in float64 whatever the array type.
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
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
  private readonly rmUsed: Float64Array;
  private readonly rvUsed: Float64Array;
  /** [d] batch mean / variance scratch for updateRunStats. */
  private readonly colMean: A;
  private readonly colVar: A;
  private readonly p = new Float64Array(S);
  private readonly dp = new Float64Array(S);
  private a = 1;
  private da = 0;
  private cap = 0;
  private muT = new Float64Array(0); // [rows]
  private varT = new Float64Array(0); // [rows]
  private nBuf: A; // [rows, d]
  private r1: A; // [rows, d] (v + eps)^-1/2 of the last forward
  /** (1 - a) run_mean, (1 - a) run_var [d] (0 without adaptive statistics). */
  private readonly omRm: Float64Array;
  private readonly omRv: Float64Array;
  /** p_s ms_gamma_s [S, d] and sum_s p_s ms_beta_s [d] (multi-scale). */
  private readonly pG: Float64Array;
  private readonly pB: Float64Array;
  /** Backward accumulators T [S, d], N [d] (see forwardBackward). */
  private readonly accT: Float64Array;
  private readonly accN: Float64Array;

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
    this.rmUsed = new Float64Array(d);
    this.rvUsed = new Float64Array(d).fill(1);
    this.colMean = floatLike<A>(arrayType, d);
    this.colVar = floatLike<A>(arrayType, d);
    this.nBuf = floatLike<A>(arrayType, 0);
    this.r1 = floatLike<A>(arrayType, 0);
    this.omRm = new Float64Array(d);
    this.omRv = new Float64Array(d);
    this.pG = new Float64Array(S * d);
    this.pB = new Float64Array(d);
    this.accT = new Float64Array(S * d);
    this.accN = new Float64Array(d);
  }

  private ensure(rows: number): void {
    if (rows === this.cap) return; // exact-length buffers; reallocates only when rows changes
    this.cap = rows;
    this.muT = new Float64Array(rows);
    this.varT = new Float64Array(rows);
    this.nBuf = floatLike<A>(this.arrayType, rows * this.d);
    this.r1 = floatLike<A>(this.arrayType, rows * this.d);
  }

  /**
   * Token statistics of x [rows, d], the snapshot of the running statistics and the per-call
   * constants: mu_bj = a mu_t,b + omRm_j, v_bj = a var_t,b + omRv_j (omRm = (1 - a) run_mean, 0 without
   * adaptive statistics, where a = 1), p = softmax(ms_w), pG = p_s ms_gamma_s, pB = sum_s p_s ms_beta_s.
   */
  private stats(x: A, rows: number): void {
    this.ensure(rows);
    const d = this.d;
    for (let b = 0; b < rows; b++) {
      const o = b * d;
      let s = 0;
      for (let j = 0; j < d; j++) s += x[o + j];
      const mu = s / d;
      let v = 0;
      for (let j = 0; j < d; j++) {
        const t = x[o + j] - mu;
        v += t * t;
      }
      this.muT[b] = mu;
      this.varT[b] = v / d;
    }
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
    this.stats(x, rows);
    const { d, eps, a, omRm, omRv } = this;
    const n = this.nBuf;
    const r1 = this.r1;
    const g = this.gamma.data;
    const be = this.beta.data;
    const pG = this.pG;
    const pB = this.pB;
    const [s0, s1, , s3] = SCALES;
    for (let b = 0; b < rows; b++) {
      const o = b * d;
      const am = a * this.muT[b];
      const av = a * this.varT[b];
      if (this.msW) {
        for (let j = 0; j < d; j++) {
          const diff = x[o + j] - (am + omRm[j]);
          const v = av + omRv[j];
          const r = 1 / Math.sqrt(v + eps);
          r1[o + j] = r;
          const c =
            pG[j] / Math.sqrt(s0 * v + eps) +
            pG[d + j] / Math.sqrt(s1 * v + eps) +
            pG[2 * d + j] * r +
            pG[3 * d + j] / Math.sqrt(s3 * v + eps);
          n[o + j] = diff * c + pB[j];
        }
      } else {
        for (let j = 0; j < d; j++) {
          const r = 1 / Math.sqrt(av + omRv[j] + eps);
          r1[o + j] = r;
          n[o + j] = g[j] * (x[o + j] - (am + omRm[j])) * r + be[j];
        }
      }
    }
    return n;
  }

  /** out [rows, d] = (x - mu) / sqrt(v + eps) with the statistics of `x` itself (sets them; b_dec init). */
  standardize(x: A, rows: number, out: A): void {
    this.stats(x, rows);
    const { d, eps, a, omRm, omRv } = this;
    for (let b = 0; b < rows; b++) {
      const am = a * this.muT[b];
      const av = a * this.varT[b];
      for (let j = 0; j < d; j++) out[b * d + j] = (x[b * d + j] - (am + omRm[j])) / Math.sqrt(av + omRv[j] + eps);
    }
  }

  /** out = sqrt(v + eps) y + mu, y [rows, d], with the statistics of the last forward. */
  denormalize(y: A, rows: number, out: A): void {
    const { d, a, omRm, r1 } = this;
    for (let b = 0; b < rows; b++) {
      const am = a * this.muT[b];
      const o = b * d;
      for (let j = 0; j < d; j++) out[o + j] = y[o + j] / r1[o + j] + (am + omRm[j]);
    }
  }

  /** out = src / sqrt(v + eps) (a residual in input units to the decoder's units), last forward's statistics. */
  divideBySigma(src: A, rows: number, out: A): void {
    const r1 = this.r1;
    for (let i = 0; i < rows * this.d; i++) out[i] = src[i] * r1[i];
  }

  /** Starts a backward: clears the adapt_rho and ms_w accumulators. */
  beginBackward(): void {
    this.da = 0;
    this.dp.fill(0);
  }

  /** Backward of denormalize: dy [rows, d] = dx^ sqrt(v + eps) (overwritten); collects da. */
  denormalizeBackward(dxhat: A, y: A, rows: number, dy: A): void {
    const { d, r1, rmUsed, rvUsed } = this;
    const adaptive = this.options.adaptive;
    let da = 0;
    for (let b = 0; b < rows; b++) {
      const o = b * d;
      const mt = this.muT[b];
      const vt = this.varT[b];
      for (let j = 0; j < d; j++) {
        const i = o + j;
        const r = r1[i];
        const g = dxhat[i];
        dy[i] = g / r;
        if (adaptive) da += g * (mt - rmUsed[j] + 0.5 * y[i] * r * (vt - rvUsed[j]));
      }
    }
    this.da += da;
  }

  /**
   * Backward of forward: accumulates the affine / multi-scale parameter gradients from dn [rows, d];
   * collects da and dp. With T_sj = sum_b dn_bj z_sbj and N_j = sum_b dn_bj:
   * d gamma_sj += p_s T_sj, d beta_sj += p_s N_j, dp_s = sum_j gamma_sj T_sj + beta_sj N_j
   * (single scale: p = 1); per element dmu = -dn sum_s c_s r_s, dv = -dn diff sum_s (s/2) c_s r_s^3.
   */
  forwardBackward(dn: A, x: A, rows: number): void {
    const { d, eps, a, omRm, omRv, rmUsed, rvUsed, r1 } = this;
    const adaptive = this.options.adaptive;
    const t = this.accT;
    const colN = this.accN;
    t.fill(0);
    colN.fill(0);
    let da = 0;
    const [s0, s1, s2, s3] = SCALES;
    if (this.msW) {
      const pG = this.pG;
      for (let b = 0; b < rows; b++) {
        const o = b * d;
        const mt = this.muT[b];
        const vt = this.varT[b];
        const am = a * mt;
        const av = a * vt;
        for (let j = 0; j < d; j++) {
          const gn = dn[o + j];
          const diff = x[o + j] - (am + omRm[j]);
          const v = av + omRv[j];
          const q0 = 1 / Math.sqrt(s0 * v + eps);
          const q1 = 1 / Math.sqrt(s1 * v + eps);
          const q2 = r1[o + j];
          const q3 = 1 / Math.sqrt(s3 * v + eps);
          const gd = gn * diff;
          t[j] += gd * q0;
          t[d + j] += gd * q1;
          t[2 * d + j] += gd * q2;
          t[3 * d + j] += gd * q3;
          colN[j] += gn;
          if (adaptive) {
            const c0 = pG[j];
            const c1 = pG[d + j];
            const c2 = pG[2 * d + j];
            const c3 = pG[3 * d + j];
            const dmu = -gn * (c0 * q0 + c1 * q1 + c2 * q2 + c3 * q3);
            const dv =
              -0.5 *
              gd *
              (s0 * c0 * q0 * q0 * q0 + s1 * c1 * q1 * q1 * q1 + s2 * c2 * q2 * q2 * q2 + s3 * c3 * q3 * q3 * q3);
            da += dmu * (mt - rmUsed[j]) + dv * (vt - rvUsed[j]);
          }
        }
      }
    } else {
      const g = this.gamma.data;
      for (let b = 0; b < rows; b++) {
        const o = b * d;
        const mt = this.muT[b];
        const vt = this.varT[b];
        const am = a * mt;
        for (let j = 0; j < d; j++) {
          const gn = dn[o + j];
          const diff = x[o + j] - (am + omRm[j]);
          const r = r1[o + j];
          t[j] += gn * diff * r;
          colN[j] += gn;
          if (adaptive) {
            const dz = gn * g[j];
            da += -dz * r * (mt - rmUsed[j]) - 0.5 * dz * diff * r * r * r * (vt - rvUsed[j]);
          }
        }
      }
    }
    const g = this.gamma.data;
    const be = this.beta.data;
    const dg = this.gamma.grad;
    const dbe = this.beta.grad;
    const nS = this.msW ? S : 1;
    for (let s = 0; s < nS; s++) {
      const ps = this.msW ? this.p[s] : 1;
      let dps = 0;
      for (let j = 0; j < d; j++) {
        const k = s * d + j;
        dg[k] += ps * t[k];
        dbe[k] += ps * colN[j];
        dps += g[k] * t[k] + be[k] * colN[j];
      }
      this.dp[s] += dps;
    }
    this.da += da;
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
