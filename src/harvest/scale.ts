/**
 * The dataset constant (DESIGN.md s.2, SAELens `expected_average_only_in`): c with E||c x||^2 = d,
 *   c = sqrt(d / mean_rows ||x||^2),
 * estimated on the rows of the first SCALE_CONTEXTS contexts (the paper buffer's first fill of 2048
 * contexts, or all of them when fewer), summed in float64 in row order so a store and the streaming
 * buffer over the same rows get the same number.
 */
export const SCALE_CONTEXTS = 2048;

export class ScaleEstimator {
  private sum = 0;
  rows = 0;
  readonly contexts: number;
  readonly d: number;

  constructor(d: number, contexts: number) {
    this.d = d;
    this.contexts = contexts;
  }

  /** Adds the rows of x [rows, d] whose context (context [rows], ascending) is below `contexts`. */
  add(x: Float32Array, context: Int32Array, rows: number): void {
    const d = this.d;
    for (let r = 0; r < rows; r++) {
      if (context[r] >= this.contexts) break;
      let s = 0;
      for (let j = r * d; j < (r + 1) * d; j++) s += x[j] * x[j];
      this.sum += s;
      this.rows++;
    }
  }

  value(): number {
    if (this.rows === 0 || !(this.sum > 0))
      throw new Error(`cannot estimate the dataset scale: ${this.rows} rows with total squared norm ${this.sum}`);
    const c = Math.sqrt(this.d / (this.sum / this.rows));
    if (!Number.isFinite(c))
      throw new Error(`the dataset scale is not finite (mean squared norm ${this.sum / this.rows})`);
    return c;
  }
}
