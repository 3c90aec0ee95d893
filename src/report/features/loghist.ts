/**
 * Per-feature log-bucket histograms of positive activations, for quantiles in one streaming pass
 * with fixed memory (m * BUCKETS counters).
 *
 *   bucket(v) = clamp(floor(S * log2(v)) - K_MIN, 0, BUCKETS - 1),  S = 8 buckets per octave
 *   lower edge of bucket k = 2^((k + K_MIN) / S)   (bucket 0 also holds everything below 2^-24)
 *
 * quantile(p) returns the lower edge of the bucket holding the ceil(p n)-th smallest value: a value
 * within a factor 2^(1/8) (9%) of the true quantile (exact when p = 0: the edge of the smallest
 * value's bucket). Callers use the returned edges as exact band boundaries: a band's membership is
 * decided by comparing values with these edges, so only the quantile level is approximate.
 */
const S = 8;
const K_MIN = -24 * S;
export const LOG_BUCKETS = 48 * S;

export function logBucket(v: number): number {
  const k = Math.floor(S * Math.log2(v)) - K_MIN;
  return k < 0 ? 0 : k >= LOG_BUCKETS ? LOG_BUCKETS - 1 : k;
}

export function bucketLowerEdge(k: number): number {
  return 2 ** ((k + K_MIN) / S);
}

export class LogHistograms {
  readonly m: number;
  /** [m, LOG_BUCKETS] counts. */
  readonly counts: Uint32Array;

  constructor(m: number) {
    this.m = m;
    this.counts = new Uint32Array(m * LOG_BUCKETS);
  }

  add(feature: number, v: number): void {
    this.counts[feature * LOG_BUCKETS + logBucket(v)]++;
  }

  /** Lower edges at each level p in [0, 1) for feature f with n positive values (see header); [] when n = 0. */
  quantiles(f: number, n: number, levels: readonly number[]): number[] {
    if (n === 0) return [];
    const base = f * LOG_BUCKETS;
    const out: number[] = [];
    for (const p of levels) {
      const rank = Math.max(1, Math.ceil(p * n)); // the rank-th smallest value (1-based)
      let seen = 0;
      let k = 0;
      for (; k < LOG_BUCKETS; k++) {
        seen += this.counts[base + k];
        if (seen >= rank) break;
      }
      // Bucket 0 also holds the values below its edge: its edge would exclude them, so use 0.
      out.push(k === 0 ? 0 : bucketLowerEdge(k));
    }
    return out;
  }
}
