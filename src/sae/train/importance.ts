/**
 * Feature-importance gradient scaling (DESIGN.md s.2):
 *
 *   imp_i <- beta imp_i + (1 - beta) * mean_b h'_bi * ||W_dec,i||_2       (each micro-batch; imp starts at 0)
 *   s_i    = clamp(sqrt(mean_j imp_j / (imp_i + 1e-8)), lo, hi)            (beta 0.99, lo 0.5, hi 2)
 *
 * s is set as the gradient scale of every per-feature parameter: Parameter.rowGradScale for
 * "row" (W_dec [m, d]) and "elem" ([m]: b_enc, b_gate, r_mag, b_mag, threshold) parameters,
 * colGradScale for "col" ones (W_enc [d, m]); src/optim/scale.ts applies them before clipping.
 * So rare features (small imp_i) learn up to hi times faster and common ones down to lo.
 */
import type { FloatArray } from "../../core/backend.ts";
import type { SaeModule } from "../types.ts";

export class FeatureImportance {
  readonly m: number;
  /** [m] the EMA (float64; saved in checkpoints). */
  readonly ema: Float64Array;
  private readonly norms: Float64Array; // [m]
  private readonly scale: FloatArray; // [m] shared by every per-feature parameter

  constructor(
    private readonly sae: SaeModule,
    private readonly beta: number,
    private readonly lo: number,
    private readonly hi: number,
    enabled: boolean,
  ) {
    this.m = sae.hyper.m;
    this.ema = new Float64Array(this.m);
    this.norms = new Float64Array(this.m);
    const w = sae.params.get("W_dec")?.param.data;
    if (!w) throw new Error(`${sae.arch}: the module has no W_dec parameter`);
    this.scale = w instanceof Float64Array ? new Float64Array(this.m).fill(1) : new Float32Array(this.m).fill(1);
    if (!enabled) return;
    for (const { param, featureAxis } of sae.params.values()) {
      if (featureAxis === "row" || featureAxis === "elem") param.rowGradScale = this.scale;
      else if (featureAxis === "col") param.colGradScale = this.scale;
    }
  }

  /**
   * EMA update from the column sums colSum [m] = sum_b h'_bi of the last micro-batch's codes h' [rows, m]
   * (SaeModule.codeColumnStats) and the current decoder.
   */
  updateFromSums(colSum: FloatArray, rows: number): void {
    const { m, ema, norms, beta } = this;
    const w = this.sae.params.get("W_dec")!.param.data;
    const d = this.sae.hyper.d;
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let j = i * d; j < (i + 1) * d; j++) s += w[j] * w[j];
      norms[i] = Math.sqrt(s);
    }
    for (let i = 0; i < m; i++) ema[i] = beta * ema[i] + (1 - beta) * ((colSum[i] / rows) * norms[i]);
  }

  /** Writes s_i (see the header) into the shared scale array the parameters point at. */
  refreshScales(): void {
    let total = 0;
    for (let i = 0; i < this.m; i++) total += this.ema[i];
    const avg = total / this.m;
    for (let i = 0; i < this.m; i++) {
      const s = Math.sqrt(avg / (this.ema[i] + 1e-8));
      this.scale[i] = Math.min(this.hi, Math.max(this.lo, s));
    }
  }
}
