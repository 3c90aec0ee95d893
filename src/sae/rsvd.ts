/**
 * Randomized SVD (Halko, Martinsson & Tropp 2011, alg. 4.4 with QR between power iterations), the
 * dead-feature reactivation's source of directions (DESIGN.md s.2: rank 32, Gaussian sketch with 8
 * extra columns, 2 power iterations with QR). For A [n, d] (rows = tokens, here the residuals R):
 *
 *   l = min(rank + oversample, n, d);  Omega [d, l] ~ N(0, 1)
 *   Q = qr(A Omega)                                  [n, l]
 *   repeat q times:  Q' = qr(A^T Q) [d, l];  Q = qr(A Q')
 *   B = Q^T A                                        [l, d]
 *   B B^T = U diag(s^2) U^T (cyclic Jacobi, float64);  v_i = B^T u_i / s_i   [d]
 *
 * so A ~ Q U diag(s) V^T and the rows v_i are A's leading right singular vectors (directions in the
 * d-dimensional space the decoder writes). Everything runs in float64 whatever A's type. Returns
 * the r = min(rank, l) leading pairs whose s_i > 1e-10 s_1 (fewer when A has lower rank), each v_i
 * with the sign that makes its largest-magnitude entry positive (so the result is reproducible).
 * Cost ~ 2 (q + 1) n d l + l^2 (n + d) flops.
 */
import type { FloatArray } from "../core/backend.ts";
import type { Rng } from "../core/tensor.ts";

export interface RsvdOptions {
  rank: number;
  oversample: number;
  powerIterations: number;
}

export interface RsvdResult {
  /** Singular values s_1 >= s_2 >= ... (length r). */
  values: Float64Array;
  /** [r, d] right singular vectors, row i = v_i (unit norm). */
  vectors: Float64Array;
  rank: number;
}

/** out [n, l] = A [n, d] times X [d, l] (row-major). */
function mulA(a: FloatArray, n: number, d: number, x: Float64Array, l: number, out: Float64Array): void {
  out.fill(0);
  for (let r = 0; r < n; r++) {
    const o = r * l;
    for (let j = 0; j < d; j++) {
      const v = a[r * d + j];
      if (v === 0) continue;
      const xo = j * l;
      for (let c = 0; c < l; c++) out[o + c] += v * x[xo + c];
    }
  }
}

/** out [d, l] = A^T [d, n] times Y [n, l]. */
function mulAt(a: FloatArray, n: number, d: number, y: Float64Array, l: number, out: Float64Array): void {
  out.fill(0);
  for (let r = 0; r < n; r++) {
    const yo = r * l;
    for (let j = 0; j < d; j++) {
      const v = a[r * d + j];
      if (v === 0) continue;
      const o = j * l;
      for (let c = 0; c < l; c++) out[o + c] += v * y[yo + c];
    }
  }
}

/**
 * Orthonormalizes the l columns of Y [rows, l] in place (modified Gram-Schmidt, twice for
 * stability); a column that is (numerically) in the span of the previous ones becomes 0.
 */
export function orthonormalizeColumns(y: Float64Array, rows: number, l: number): void {
  const norm0 = new Float64Array(l);
  for (let c = 0; c < l; c++) {
    let s = 0;
    for (let r = 0; r < rows; r++) s += y[r * l + c] ** 2;
    norm0[c] = Math.sqrt(s);
  }
  for (let c = 0; c < l; c++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < c; p++) {
        let dot = 0;
        for (let r = 0; r < rows; r++) dot += y[r * l + p] * y[r * l + c];
        if (dot !== 0) for (let r = 0; r < rows; r++) y[r * l + c] -= dot * y[r * l + p];
      }
    }
    let s = 0;
    for (let r = 0; r < rows; r++) s += y[r * l + c] ** 2;
    const n = Math.sqrt(s);
    const keep = n > 1e-12 * Math.max(norm0[c], Number.MIN_VALUE) && n > 0;
    for (let r = 0; r < rows; r++) y[r * l + c] = keep ? y[r * l + c] / n : 0;
  }
}

/** Eigen-decomposition of a symmetric matrix S [l, l] (cyclic Jacobi): S = U diag(w) U^T; U columns. */
export function symmetricEigen(s: Float64Array, l: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(s);
  const u = new Float64Array(l * l);
  for (let i = 0; i < l; i++) u[i * l + i] = 1;
  let total = 0;
  for (let i = 0; i < l * l; i++) total += a[i] * a[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < l; p++) for (let q = p + 1; q < l; q++) off += a[p * l + q] ** 2;
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < l; p++) {
      for (let q = p + 1; q < l; q++) {
        const apq = a[p * l + q];
        if (apq === 0) continue;
        const theta = (a[q * l + q] - a[p * l + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const sn = t * c;
        for (let k = 0; k < l; k++) {
          const akp = a[k * l + p];
          const akq = a[k * l + q];
          a[k * l + p] = c * akp - sn * akq;
          a[k * l + q] = sn * akp + c * akq;
        }
        for (let k = 0; k < l; k++) {
          const apk = a[p * l + k];
          const aqk = a[q * l + k];
          a[p * l + k] = c * apk - sn * aqk;
          a[q * l + k] = sn * apk + c * aqk;
        }
        for (let k = 0; k < l; k++) {
          const ukp = u[k * l + p];
          const ukq = u[k * l + q];
          u[k * l + p] = c * ukp - sn * ukq;
          u[k * l + q] = sn * ukp + c * ukq;
        }
      }
    }
  }
  const values = new Float64Array(l);
  for (let i = 0; i < l; i++) values[i] = a[i * l + i];
  return { values, vectors: u };
}

/** The leading right singular vectors of A [n, d] (see the header). */
export function randomizedSvd(a: FloatArray, n: number, d: number, rng: Rng, o: RsvdOptions): RsvdResult {
  if (a.length !== n * d) throw new RangeError(`randomizedSvd: A has ${a.length} values; expected n * d = ${n} * ${d}`);
  for (const [name, v, min] of [
    ["rank", o.rank, 1],
    ["oversample", o.oversample, 0],
    ["powerIterations", o.powerIterations, 0],
  ] as const)
    if (!Number.isInteger(v) || v < min)
      throw new RangeError(`randomizedSvd: ${name} ${v}; expected an integer >= ${min}`);
  const l = Math.min(o.rank + o.oversample, n, d);
  const omega = new Float64Array(d * l);
  for (let i = 0; i < omega.length; i++) omega[i] = rng.normal();
  const q = new Float64Array(n * l);
  const qd = new Float64Array(d * l);
  mulA(a, n, d, omega, l, q);
  orthonormalizeColumns(q, n, l);
  for (let it = 0; it < o.powerIterations; it++) {
    mulAt(a, n, d, q, l, qd);
    orthonormalizeColumns(qd, d, l);
    mulA(a, n, d, qd, l, q);
    orthonormalizeColumns(q, n, l);
  }
  // B^T = A^T Q [d, l]; B B^T = (B^T)^T B^T [l, l].
  const bt = new Float64Array(d * l);
  mulAt(a, n, d, q, l, bt);
  const g = new Float64Array(l * l);
  for (let j = 0; j < d; j++)
    for (let p = 0; p < l; p++) {
      const v = bt[j * l + p];
      if (v === 0) continue;
      for (let c = 0; c < l; c++) g[p * l + c] += v * bt[j * l + c];
    }
  const eig = symmetricEigen(g, l);
  const order = Array.from({ length: l }, (_, i) => i).sort((x, y) => eig.values[y] - eig.values[x]);
  const top = Math.sqrt(Math.max(0, eig.values[order[0]]));
  const want = Math.min(o.rank, l);
  const values: number[] = [];
  const vectors: number[][] = [];
  for (const idx of order) {
    if (values.length >= want) break;
    const s = Math.sqrt(Math.max(0, eig.values[idx]));
    if (!(s > 1e-10 * top)) break;
    const v = new Array<number>(d).fill(0);
    for (let j = 0; j < d; j++) {
      let t = 0;
      for (let p = 0; p < l; p++) t += bt[j * l + p] * eig.vectors[p * l + idx];
      v[j] = t / s;
    }
    let big = 0;
    let nrm = 0;
    for (let j = 0; j < d; j++) {
      nrm += v[j] * v[j];
      if (Math.abs(v[j]) > Math.abs(v[big])) big = j;
    }
    const f = (v[big] < 0 ? -1 : 1) / Math.sqrt(nrm);
    vectors.push(v.map((x) => x * f));
    values.push(s);
  }
  const r = values.length;
  const flat = new Float64Array(r * d);
  vectors.forEach((v, i) => {
    flat.set(v, i * d);
  });
  return { values: Float64Array.from(values), vectors: flat, rank: r };
}
