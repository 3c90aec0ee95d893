/**
 * Streaming accumulator of the reconstruction and sparsity metrics (definitions in metrics.ts):
 * every sum in float64, memory O(d + m) whatever the number of tokens.
 *
 *   acc.add(x [rows, d], xhat [rows, d], codes [rows, m], rows)   one call = one evaluation group
 *   acc.result() -> ReconMetrics
 *
 * x and xhat are in the model's original units (the caller divides the SAE's output by the dataset
 * scale c). The pooled explained variance needs sum_t ||x_t - mu||^2 with mu the mean over all
 * tokens, known only at the end: it is sum_t ||x_t - K||^2 - N ||mu - K||^2 for any fixed K, and K =
 * the first group's mean keeps the cancellation small. The legacy EV's mu_g is the mean of the rows
 * of one add() call (callers pass one LLM batch of contexts per call, as SAELens's batches).
 */
import type { FloatArray } from "../core/backend.ts";
import type { ReconMetrics } from "./metrics.ts";

export class ReconAccumulator {
  readonly d: number;
  readonly m: number;
  private n = 0;
  private err2 = 0;
  private xhat2 = 0;
  private dot = 0;
  private l0 = 0;
  private l1 = 0;
  private l2Ratio = 0;
  private l2Count = 0;
  private cos = 0;
  private legacy = 0;
  private legacyCount = 0;
  /** Shift K [d] (the first group's mean), sum_t (x_t - K) [d] and sum_t ||x_t - K||^2. */
  private shift: Float64Array | null = null;
  private readonly sumShifted: Float64Array;
  private sumShifted2 = 0;
  /** [m] 1 once feature i fired. */
  private readonly fired: Uint8Array;
  /** [d] the group mean (scratch). */
  private readonly groupMean: Float64Array;

  constructor(d: number, m: number) {
    if (!Number.isInteger(d) || d < 1 || !Number.isInteger(m) || m < 1)
      throw new RangeError(`ReconAccumulator: d ${d}, m ${m}: expected integers >= 1`);
    this.d = d;
    this.m = m;
    this.sumShifted = new Float64Array(d);
    this.fired = new Uint8Array(m);
    this.groupMean = new Float64Array(d);
  }

  /** Tokens added so far. */
  get tokens(): number {
    return this.n;
  }

  /** x [rows, d], xhat [rows, d] (model units), codes [rows, m]; one evaluation group. */
  add(x: FloatArray, xhat: FloatArray, codes: FloatArray, rows: number): void {
    const { d, m } = this;
    if (x.length < rows * d || xhat.length < rows * d || codes.length < rows * m)
      throw new RangeError(
        `ReconAccumulator.add: ${rows} rows need x, xhat of ${rows * d} and codes of ${rows * m} values; got ${x.length}, ${xhat.length}, ${codes.length}`,
      );
    if (rows === 0) return;
    const g = this.groupMean;
    g.fill(0);
    for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) g[j] += x[r * d + j];
    for (let j = 0; j < d; j++) g[j] /= rows;
    if (this.shift === null) this.shift = Float64Array.from(g);
    const K = this.shift;
    for (let r = 0; r < rows; r++) {
      const o = r * d;
      let e2 = 0;
      let x2 = 0;
      let y2 = 0;
      let xy = 0;
      let c2 = 0;
      let s2 = 0;
      for (let j = 0; j < d; j++) {
        const xv = x[o + j];
        const yv = xhat[o + j];
        const e = xv - yv;
        e2 += e * e;
        x2 += xv * xv;
        y2 += yv * yv;
        xy += xv * yv;
        const c = xv - g[j];
        c2 += c * c;
        const s = xv - K[j];
        this.sumShifted[j] += s;
        s2 += s * s;
      }
      this.err2 += e2;
      this.xhat2 += y2;
      this.dot += xy;
      this.sumShifted2 += s2;
      if (x2 > 0) {
        this.l2Ratio += Math.sqrt(y2 / x2);
        this.l2Count++;
      }
      if (x2 > 0 && y2 > 0) this.cos += xy / Math.sqrt(x2 * y2);
      if (c2 > 0) {
        this.legacy += 1 - e2 / c2;
        this.legacyCount++;
      }
      const co = r * m;
      let active = 0;
      let abs = 0;
      for (let i = 0; i < m; i++) {
        const h = codes[co + i];
        if (h !== 0) {
          active++;
          abs += Math.abs(h);
          this.fired[i] = 1;
        }
      }
      this.l0 += active;
      this.l1 += abs;
    }
    this.n += rows;
  }

  result(): ReconMetrics {
    const { n, d, m } = this;
    if (n === 0) throw new Error("no tokens were evaluated: the data has no non-special positions");
    let mu2 = 0;
    for (let j = 0; j < d; j++) {
      const v = this.sumShifted[j] / n;
      mu2 += v * v;
    }
    const total = this.sumShifted2 - n * mu2;
    let alive = 0;
    for (let i = 0; i < m; i++) alive += this.fired[i];
    const l0 = this.l0 / n;
    const fracAlive = alive / m;
    return {
      mse: this.err2 / (n * d),
      mse_per_token: this.err2 / n,
      explained_variance: 1 - this.err2 / total,
      explained_variance_legacy: this.legacyCount > 0 ? this.legacy / this.legacyCount : Number.NaN,
      l0,
      l1: this.l1 / n,
      sparsity_pct: 100 * (1 - l0 / m),
      l2_ratio: this.l2Count > 0 ? this.l2Ratio / this.l2Count : Number.NaN,
      relative_reconstruction_bias: this.xhat2 / this.dot,
      cossim: this.cos / n,
      frac_alive: fracAlive,
      dead_pct: 100 * (1 - fracAlive),
    };
  }
}
