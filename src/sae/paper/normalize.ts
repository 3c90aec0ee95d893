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
  private readonly p = new Float64Array(SCALES.length);
  private readonly dp = new Float64Array(SCALES.length);
  private a = 1;
  private da = 0;
  private cap = 0;
  private muT = new Float64Array(0); // [rows]
  private varT = new Float64Array(0); // [rows]
  private nBuf: A; // [cap, d]

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
    const S = SCALES.length;
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
  }

  private ensure(rows: number): void {
    if (rows === this.cap) return; // exact-length buffers; reallocates only when rows changes
    this.cap = rows;
    this.muT = new Float64Array(rows);
    this.varT = new Float64Array(rows);
    this.nBuf = floatLike<A>(this.arrayType, rows * this.d);
  }

  /** Token statistics of x [rows, d] and the snapshot of the running statistics; sets a and p. */
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
      }
    } else this.a = 1;
    if (this.msW) {
      const w = this.msW.data;
      let mx = Number.NEGATIVE_INFINITY;
      for (let s = 0; s < SCALES.length; s++) mx = Math.max(mx, w[s]);
      let z = 0;
      for (let s = 0; s < SCALES.length; s++) z += this.p[s] = Math.exp(w[s] - mx);
      for (let s = 0; s < SCALES.length; s++) this.p[s] /= z;
    }
  }

  /** mu_j and v_j of token b (see header). */
  private muAt(b: number, j: number): number {
    return this.a === 1 ? this.muT[b] : this.a * this.muT[b] + (1 - this.a) * this.rmUsed[j];
  }

  private varAt(b: number, j: number): number {
    return this.a === 1 ? this.varT[b] : this.a * this.varT[b] + (1 - this.a) * this.rvUsed[j];
  }

  /** n [rows, d] of x [rows, d] (a workspace view, valid until the next forward). */
  forward(x: A, rows: number): A {
    this.stats(x, rows);
    const { d, eps } = this;
    const n = this.nBuf;
    const g = this.gamma.data;
    const be = this.beta.data;
    for (let b = 0; b < rows; b++) {
      const o = b * d;
      for (let j = 0; j < d; j++) {
        const diff = x[o + j] - this.muAt(b, j);
        const v = this.varAt(b, j);
        if (this.msW) {
          let acc = 0;
          for (let s = 0; s < SCALES.length; s++)
            acc += this.p[s] * ((g[s * d + j] * diff) / Math.sqrt(SCALES[s] * v + eps) + be[s * d + j]);
          n[o + j] = acc;
        } else n[o + j] = (g[j] * diff) / Math.sqrt(v + eps) + be[j];
      }
    }
    return n;
  }

  /** out [rows, d] = (x - mu) / sqrt(v + eps) with the statistics of `x` itself (sets them; b_dec init). */
  standardize(x: A, rows: number, out: A): void {
    this.stats(x, rows);
    const d = this.d;
    for (let b = 0; b < rows; b++)
      for (let j = 0; j < d; j++)
        out[b * d + j] = (x[b * d + j] - this.muAt(b, j)) / Math.sqrt(this.varAt(b, j) + this.eps);
  }

  /** out = sqrt(v + eps) y + mu, y [rows, d], with the statistics of the last forward. */
  denormalize(y: A, rows: number, out: A): void {
    const d = this.d;
    for (let b = 0; b < rows; b++)
      for (let j = 0; j < d; j++) {
        const i = b * d + j;
        out[i] = Math.sqrt(this.varAt(b, j) + this.eps) * y[i] + this.muAt(b, j);
      }
  }

  /** out = src / sqrt(v + eps) (a residual in input units to the decoder's units), last forward's statistics. */
  divideBySigma(src: A, rows: number, out: A): void {
    const d = this.d;
    for (let b = 0; b < rows; b++)
      for (let j = 0; j < d; j++) out[b * d + j] = src[b * d + j] / Math.sqrt(this.varAt(b, j) + this.eps);
  }

  /** Starts a backward: clears the adapt_rho and ms_w accumulators. */
  beginBackward(): void {
    this.da = 0;
    this.dp.fill(0);
  }

  /** Backward of denormalize: dy [rows, d] = dx^ sqrt(v + eps) (overwritten); collects da. */
  denormalizeBackward(dxhat: A, y: A, rows: number, dy: A): void {
    const { d, eps } = this;
    const adaptive = this.options.adaptive;
    let da = 0;
    for (let b = 0; b < rows; b++) {
      for (let j = 0; j < d; j++) {
        const i = b * d + j;
        const sig = Math.sqrt(this.varAt(b, j) + eps);
        const g = dxhat[i];
        dy[i] = g * sig;
        if (adaptive)
          da += g * (this.muT[b] - this.rmUsed[j]) + ((g * y[i] * 0.5) / sig) * (this.varT[b] - this.rvUsed[j]);
      }
    }
    this.da += da;
  }

  /** Backward of forward: accumulates the affine / multi-scale parameter gradients from dn [rows, d]; collects da, dp. */
  forwardBackward(dn: A, x: A, rows: number): void {
    const { d, eps } = this;
    const adaptive = this.options.adaptive;
    const g = this.gamma.data;
    const be = this.beta.data;
    const dg = this.gamma.grad;
    const dbe = this.beta.grad;
    let da = 0;
    for (let b = 0; b < rows; b++) {
      const o = b * d;
      for (let j = 0; j < d; j++) {
        const gn = dn[o + j];
        const diff = x[o + j] - this.muAt(b, j);
        const v = this.varAt(b, j);
        let dmu = 0;
        let dv = 0;
        if (this.msW) {
          for (let s = 0; s < SCALES.length; s++) {
            const r = 1 / Math.sqrt(SCALES[s] * v + eps);
            const z = diff * r;
            const ps = this.p[s];
            const k = s * d + j;
            this.dp[s] += gn * (g[k] * z + be[k]);
            dg[k] += gn * ps * z;
            dbe[k] += gn * ps;
            const dz = gn * ps * g[k];
            dmu -= dz * r;
            dv -= 0.5 * SCALES[s] * dz * z * r * r;
          }
        } else {
          const r = 1 / Math.sqrt(v + eps);
          const z = diff * r;
          dg[j] += gn * z;
          dbe[j] += gn;
          const dz = gn * g[j];
          dmu = -dz * r;
          dv = -0.5 * dz * z * r * r;
        }
        if (adaptive) da += dmu * (this.muT[b] - this.rmUsed[j]) + dv * (this.varT[b] - this.rvUsed[j]);
      }
    }
    this.da += da;
  }

  /** Ends a backward: d adapt_rho += da a (1 - a); d ms_w += p o (dp - <p, dp>). */
  endBackward(): void {
    if (this.rho) this.rho.grad[0] += this.da * this.a * (1 - this.a);
    if (this.msW) {
      let dot = 0;
      for (let s = 0; s < SCALES.length; s++) dot += this.p[s] * this.dp[s];
      for (let s = 0; s < SCALES.length; s++) this.msW.grad[s] += this.p[s] * (this.dp[s] - dot);
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
