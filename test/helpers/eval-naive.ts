/**
 * Naive float64 twins of the DESIGN.md s.3 metric formulas for the eval tests: plain loops over
 * rows written from the definitions, two passes where the definition needs a mean, nothing shared
 * with src/eval. Rows are number[] (one token), grouped as the legacy EV's groups.
 */

export interface NaiveGroup {
  x: number[][];
  xhat: number[][];
  codes: number[][];
}

const dotp = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
const sq = (a: number[]) => dotp(a, a);
const sub = (a: number[], b: number[]) => a.map((v, i) => v - b[i]);
const meanRows = (rows: number[][]) => rows[0].map((_, j) => rows.reduce((s, r) => s + r[j], 0) / rows.length);

export function naiveRecon(groups: NaiveGroup[], m: number): Record<string, number> {
  const x = groups.flatMap((g) => g.x);
  const xh = groups.flatMap((g) => g.xhat);
  const h = groups.flatMap((g) => g.codes);
  const N = x.length;
  const d = x[0].length;
  const mu = meanRows(x);
  let err = 0;
  let tot = 0;
  for (let t = 0; t < N; t++) {
    err += sq(sub(x[t], xh[t]));
    tot += sq(sub(x[t], mu));
  }
  let legacy = 0;
  let legacyN = 0;
  for (const g of groups) {
    const mg = meanRows(g.x);
    for (let t = 0; t < g.x.length; t++) {
      const den = sq(sub(g.x[t], mg));
      if (den > 0) {
        legacy += 1 - sq(sub(g.x[t], g.xhat[t])) / den;
        legacyN++;
      }
    }
  }
  let l0 = 0;
  let l1 = 0;
  const fired = new Set<number>();
  for (const row of h)
    row.forEach((v, i) => {
      if (v !== 0) {
        l0++;
        l1 += Math.abs(v);
        fired.add(i);
      }
    });
  l0 /= N;
  l1 /= N;
  let ratio = 0;
  let ratioN = 0;
  let cos = 0;
  let num = 0;
  let den = 0;
  for (let t = 0; t < N; t++) {
    const nx = Math.sqrt(sq(x[t]));
    const ny = Math.sqrt(sq(xh[t]));
    if (nx > 0) {
      ratio += ny / nx;
      ratioN++;
    }
    cos += nx > 0 && ny > 0 ? dotp(x[t], xh[t]) / (nx * ny) : 0;
    num += sq(xh[t]);
    den += dotp(x[t], xh[t]);
  }
  return {
    mse: err / N / d,
    mse_per_token: err / N,
    explained_variance: 1 - err / tot,
    explained_variance_legacy: legacy / legacyN,
    l0,
    l1,
    sparsity_pct: 100 * (1 - l0 / m),
    l2_ratio: ratio / ratioN,
    relative_reconstruction_bias: num / den,
    cossim: cos / N,
    frac_alive: fired.size / m,
    dead_pct: 100 * (1 - fired.size / m),
  };
}

/** log_softmax of one row in float64. */
export function naiveLogSoftmax(row: ArrayLike<number>): number[] {
  const v = Array.from(row);
  const mx = Math.max(...v);
  const lse = mx + Math.log(v.reduce((s, a) => s + Math.exp(a - mx), 0));
  return v.map((a) => a - lse);
}

/** KL(p || q) of two log-probability rows, float64. */
export function naiveKl(lp: number[], lq: number[]): number {
  return lp.reduce((s, a, i) => s + Math.exp(a) * (a - lq[i]), 0);
}

/** Rows of a flat array [rows, width]. */
export function rowsOf(a: ArrayLike<number>, rows: number, width: number, from = 0): number[][] {
  return Array.from({ length: rows }, (_, r) => Array.from({ length: width }, (_, j) => a[(from + r) * width + j]));
}
