/**
 * Ref backend, the SAE training kernels (src/core/backend-sae.ts, equations there) as float64 loops.
 */
import type { FloatArray } from "../backend.ts";
import type { ScaleNormConstants } from "../backend-sae.ts";
import { f64s, floats, int32s, num } from "./ref-check.ts";
import { RefEval } from "./ref-eval.ts";

function constants(K: string, k: ScaleNormConstants, d: number, like: FloatArray): number {
  num(K, "a", k.a);
  if (!(k.eps > 0)) throw new RangeError(`${K}: eps must be > 0`);
  const S = k.scales.length;
  if (S !== 1 && S !== 4) throw new RangeError(`${K}: scales must have 1 or 4 entries`);
  floats(K, "omRm", k.omRm, d, like);
  floats(K, "omRv", k.omRv, d, like);
  floats(K, "coef", k.coef, S * d, like);
  floats(K, "scales", k.scales, S, like);
  return S;
}

export class RefSae extends RefEval {
  sqDiff(a: FloatArray, b: FloatArray, scale: number, out: FloatArray | null): number {
    const K = "sqDiff";
    floats(K, "a", a, -1);
    floats(K, "b", b, a.length, a);
    num(K, "scale", scale);
    if (out) floats(K, "out", out, a.length, a);
    let s = 0;
    for (let i = 0; i < a.length; i++) {
      const e = a[i] - b[i];
      if (out) out[i] = scale * e;
      s += e * e;
    }
    return s;
  }

  activeStats(x: FloatArray, rows: number, cols: number, counts: Int32Array | null, stats: Float64Array): void {
    const K = "activeStats";
    this.rowsCols(K, rows, cols);
    floats(K, "x", x, rows * cols);
    if (counts) int32s(K, "counts", counts, cols);
    f64s(K, "stats", stats, 2);
    let nz = 0;
    let sum = 0;
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) {
        const v = x[r * cols + c];
        if (v !== 0) nz++;
        if (v > 0 && counts) counts[c]++;
        sum += v;
      }
    stats[0] = nz;
    stats[1] = sum;
  }

  addWherePositive(x: FloatArray, c: number, y: FloatArray): void {
    const K = "addWherePositive";
    floats(K, "x", x, -1);
    num(K, "c", c);
    floats(K, "y", y, x.length, x);
    for (let i = 0; i < x.length; i++) if (x[i] > 0) y[i] += c;
  }

  scaleNormForward(
    x: FloatArray, // [rows, d]
    rows: number,
    d: number,
    k: ScaleNormConstants,
    shift: FloatArray, // [d]
    n: FloatArray, // [rows, d]
    r1: FloatArray, // [rows, d]
    muT: FloatArray, // [rows]
    varT: FloatArray, // [rows]
  ): void {
    const K = "scaleNormForward";
    this.rowsCols(K, rows, d, "d");
    floats(K, "x", x, rows * d);
    const S = constants(K, k, d, x);
    floats(K, "shift", shift, d, x);
    floats(K, "n", n, rows * d, x);
    floats(K, "r1", r1, rows * d, x);
    floats(K, "muT", muT, rows, x);
    floats(K, "varT", varT, rows, x);
    for (let b = 0; b < rows; b++) {
      const o = b * d;
      let s = 0;
      for (let j = 0; j < d; j++) s += x[o + j];
      const mu = s / d;
      let q = 0;
      for (let j = 0; j < d; j++) q += (x[o + j] - mu) ** 2;
      muT[b] = mu;
      varT[b] = q / d;
      const am = k.a * muT[b];
      const av = k.a * varT[b];
      for (let j = 0; j < d; j++) {
        const v = av + k.omRv[j];
        let c = 0;
        for (let t = 0; t < S; t++) c += k.coef[t * d + j] / Math.sqrt(k.scales[t] * v + k.eps);
        r1[o + j] = 1 / Math.sqrt(v + k.eps);
        n[o + j] = (x[o + j] - (am + k.omRm[j])) * c + shift[j];
      }
    }
  }

  scaleNormBackward(
    dn: FloatArray, // [rows, d]
    x: FloatArray, // [rows, d]
    rows: number,
    d: number,
    k: ScaleNormConstants,
    muT: FloatArray, // [rows]
    varT: FloatArray, // [rows]
    rm: FloatArray, // [d]
    rv: FloatArray, // [d]
    adaptive: boolean,
    acc: Float64Array, // [(S + 1) * d]
  ): number {
    const K = "scaleNormBackward";
    this.rowsCols(K, rows, d, "d");
    floats(K, "dn", dn, rows * d);
    floats(K, "x", x, rows * d, dn);
    const S = constants(K, k, d, dn);
    floats(K, "muT", muT, rows, dn);
    floats(K, "varT", varT, rows, dn);
    floats(K, "rm", rm, d, dn);
    floats(K, "rv", rv, d, dn);
    f64s(K, "acc", acc, (S + 1) * d);
    acc.fill(0);
    let da = 0;
    for (let b = 0; b < rows; b++) {
      const mt = muT[b];
      const vt = varT[b];
      for (let j = 0; j < d; j++) {
        const gn = dn[b * d + j];
        const diff = x[b * d + j] - (k.a * mt + k.omRm[j]);
        const v = k.a * vt + k.omRv[j];
        let cq = 0;
        let cq3 = 0;
        for (let t = 0; t < S; t++) {
          const q = 1 / Math.sqrt(k.scales[t] * v + k.eps);
          acc[t * d + j] += gn * diff * q;
          cq += k.coef[t * d + j] * q;
          cq3 += k.scales[t] * k.coef[t * d + j] * q * q * q;
        }
        acc[S * d + j] += gn;
        if (adaptive) da += -gn * cq * (mt - rm[j]) - 0.5 * gn * diff * cq3 * (vt - rv[j]);
      }
    }
    return adaptive ? da : 0;
  }

  denormalize(
    y: FloatArray, // [rows, d]
    r1: FloatArray, // [rows, d]
    muT: FloatArray, // [rows]
    rows: number,
    d: number,
    a: number,
    omRm: FloatArray, // [d]
    out: FloatArray, // [rows, d]
  ): void {
    const K = "denormalize";
    this.rowsCols(K, rows, d, "d");
    floats(K, "y", y, rows * d);
    floats(K, "r1", r1, rows * d, y);
    floats(K, "muT", muT, rows, y);
    num(K, "a", a);
    floats(K, "omRm", omRm, d, y);
    floats(K, "out", out, rows * d, y);
    for (let b = 0; b < rows; b++)
      for (let j = 0; j < d; j++) out[b * d + j] = y[b * d + j] / r1[b * d + j] + (a * muT[b] + omRm[j]);
  }

  denormalizeBackward(
    dx: FloatArray, // [rows, d]
    y: FloatArray, // [rows, d]
    r1: FloatArray, // [rows, d]
    muT: FloatArray, // [rows]
    varT: FloatArray, // [rows]
    rm: FloatArray, // [d]
    rv: FloatArray, // [d]
    rows: number,
    d: number,
    adaptive: boolean,
    dy: FloatArray, // [rows, d]
  ): number {
    const K = "denormalizeBackward";
    this.rowsCols(K, rows, d, "d");
    for (const [name, a] of [
      ["dx", dx],
      ["y", y],
      ["r1", r1],
      ["dy", dy],
    ] as const)
      floats(K, name, a, rows * d, dx);
    floats(K, "muT", muT, rows, dx);
    floats(K, "varT", varT, rows, dx);
    floats(K, "rm", rm, d, dx);
    floats(K, "rv", rv, d, dx);
    let da = 0;
    for (let b = 0; b < rows; b++)
      for (let j = 0; j < d; j++) {
        const i = b * d + j;
        const g = dx[i];
        const r = r1[i];
        dy[i] = g / r;
        if (adaptive) da += g * (muT[b] - rm[j] + 0.5 * y[i] * r * (varT[b] - rv[j]));
      }
    return adaptive ? da : 0;
  }
}
