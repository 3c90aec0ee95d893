/**
 * Summary statistics over seeds: mean, sample standard deviation (n - 1), and the 95% confidence
 * interval of the mean, mean +- t_{0.975, n-1} * std / sqrt(n) (Student t; null for n < 2).
 */

/** Two-sided 95% Student t quantiles t_{0.975, df} for df = 1..30; beyond, the normal 1.96 is within 2%. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export function t975(df: number): number {
  if (df < 1) return Number.NaN;
  return df <= 30 ? T975[df - 1] : 1.96;
}

export interface Summary {
  n: number;
  mean: number;
  /** Sample standard deviation (0 for n = 1). */
  std: number;
  /** 95% interval of the mean, or null for n < 2. */
  ci95: [number, number] | null;
}

export function summarize(values: readonly number[]): Summary {
  const v = values.filter((x) => Number.isFinite(x));
  const n = v.length;
  if (n === 0) return { n: 0, mean: Number.NaN, std: Number.NaN, ci95: null };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  const half = n > 1 ? (t975(n - 1) * std) / Math.sqrt(n) : 0;
  return { n, mean, std, ci95: n > 1 ? [mean - half, mean + half] : null };
}
