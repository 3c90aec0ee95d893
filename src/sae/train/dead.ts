/**
 * Which features are dead (DESIGN.md s.2), from the codes h' [rows, m] of every micro-batch:
 *
 *   reactivation: feature i is dead at optimizer step t when it did not fire (h'_bi > 0 for any
 *                 token b) in steps t - window + 1 .. t (window = reactivateEvery = 100), i.e.
 *                 t - lastFired_i >= window, lastFired_i = 0 before it ever fired;
 *   AuxK (TopK family): dead when it did not fire in the last `deadTokens` tokens:
 *                 tokensSince_i >= deadTokens.
 * Both counters are saved in checkpoints (a resumed run sees the same masks).
 */

export class DeadTracker {
  readonly m: number;
  /** [m] last optimizer step in which feature i fired (the step being accumulated counts). */
  readonly lastFired: Float64Array;
  /** [m] tokens since feature i last fired. */
  readonly tokensSince: Float64Array;
  /** [m] AuxK dead mask (1 = dead), refreshed by auxMask(). */
  private readonly mask: Uint8Array;

  constructor(
    m: number,
    private readonly deadTokens: number,
  ) {
    this.m = m;
    this.lastFired = new Float64Array(m);
    this.tokensSince = new Float64Array(m);
    this.mask = new Uint8Array(m);
  }

  /**
   * Records one micro-batch of optimizer step `step` (1-based, the step it belongs to) of `rows`
   * tokens from its per-feature firing counts fired [m] (#tokens with h'_bi > 0: backend.activeStats).
   */
  update(fired: Int32Array, rows: number, step: number): void {
    for (let i = 0; i < this.m; i++) {
      if (fired[i] > 0) {
        this.lastFired[i] = step;
        this.tokensSince[i] = 0;
      } else this.tokensSince[i] += rows;
    }
  }

  /** The AuxK mask for the next micro-batch, or null when no feature is dead. */
  auxMask(): Uint8Array | null {
    let any = false;
    for (let i = 0; i < this.m; i++) {
      const dead = this.tokensSince[i] >= this.deadTokens ? 1 : 0;
      this.mask[i] = dead;
      if (dead) any = true;
    }
    return any ? this.mask : null;
  }

  /** Features that did not fire in the last `window` optimizer steps as of step t. */
  deadForReactivation(t: number, window: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.m; i++) if (t - this.lastFired[i] >= window) out.push(i);
    return out;
  }

  /** Marks revived features as just fired at step t (they get a fresh window). */
  revive(features: readonly number[], t: number): void {
    for (const i of features) {
      this.lastFired[i] = t;
      this.tokensSince[i] = 0;
    }
  }

  /** Features with at least one firing in the last `window` steps, as of step t. */
  aliveCount(t: number, window: number): number {
    return this.m - this.deadForReactivation(t, window).length;
  }
}
