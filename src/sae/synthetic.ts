/**
 * Synthetic activations from a known sparse dictionary (the feature-recovery test of the SAE
 * trainer, issue 15). Pure TypeScript, seeded.
 *
 *   D [nFeatures, d]: rows drawn N(0, I_d) and scaled to unit norm (the true feature directions).
 *   One token: every feature i is active independently with probability p = meanActive / nFeatures
 *   (so E[#active] = meanActive); an active feature gets a coefficient c_i > 0,
 *       "exponential": c_i ~ Exp with mean coefMean,
 *       "uniform":     c_i ~ U(0.5 coefMean, 1.5 coefMean);
 *   x = sum_{i active} c_i D_i + noise * N(0, I_d).
 * With `frequencies: "zipf"` feature i is active with probability p_i = min(1, meanActive w_i / sum_j w_j),
 * w_i = (i + 1)^-zipfExponent (a few common features and a long tail, as in language-model
 * activations; E[#active] = meanActive unless a p_i is capped at 1); each feature then costs one
 * uniform draw per token.
 * batch(index, rows) is a pure function of (seed, index): a resumed run sees the same batches.
 * The active sets are drawn by geometric skipping (cost O(active) per token, not O(nFeatures)).
 *
 * recoveredFraction(D, W_dec) is the recovery metric: the fraction of true features i whose best
 * match over the learned decoder rows has cosine max_j cos(D_i, W_dec,j) > threshold.
 */
import { badOption } from "../core/errors.ts";
import { Rng } from "../core/tensor.ts";

export interface SyntheticOptions {
  /** Input width d. */
  d: number;
  /** Number of true features (rows of D). */
  nFeatures: number;
  /** Expected number of active features per token (0 < meanActive <= nFeatures). */
  meanActive: number;
  /** Coefficient law of an active feature (default "exponential"). */
  coefficients?: "exponential" | "uniform";
  /** Mean coefficient of an active feature (default 1). */
  coefMean?: number;
  /** Standard deviation of the Gaussian noise added to every entry (default 0). */
  noise?: number;
  /** Activation probabilities: equal for every feature (default) or Zipf-like (see the header). */
  frequencies?: "uniform" | "zipf";
  /** Exponent s of the Zipf weights (i + 1)^-s (default 1). */
  zipfExponent?: number;
  seed: number;
}

export interface SyntheticBatch {
  /** [rows, d] activations. */
  x: Float32Array;
  /** [rows, nFeatures] the true coefficients (0 where inactive), when requested. */
  codes: Float32Array | null;
  /** Number of active (feature, token) pairs in the batch. */
  active: number;
}

export interface SyntheticSource {
  readonly d: number;
  readonly nFeatures: number;
  /** [nFeatures, d] the true dictionary, unit rows. */
  readonly dictionary: Float32Array;
  /**
   * Batch number `index` of `rows` tokens (a pure function of seed and index). `out` [rows, d] and
   * `codes` [rows, nFeatures] are filled when given (no allocation), else allocated; codes only when
   * `withCodes`.
   */
  batch(
    index: number,
    rows: number,
    opts?: { out?: Float32Array; codes?: Float32Array; withCodes?: boolean },
  ): SyntheticBatch;
}

function check(cond: boolean, option: string, value: unknown, allowed: string): void {
  if (!cond) throw badOption(option, value, allowed);
}

/** A seed per (seed, batch index) (splitmix32-style mixing, so neighbouring indices are unrelated). */
function mixSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export function syntheticSource(options: SyntheticOptions): SyntheticSource {
  const { d, nFeatures, meanActive, seed } = options;
  const law = options.coefficients ?? "exponential";
  const coefMean = options.coefMean ?? 1;
  const noise = options.noise ?? 0;
  const frequencies = options.frequencies ?? "uniform";
  const zipfExponent = options.zipfExponent ?? 1;
  check(Number.isInteger(d) && d >= 1, "synthetic d", d, "an integer >= 1");
  check(Number.isInteger(nFeatures) && nFeatures >= 1, "synthetic nFeatures", nFeatures, "an integer >= 1");
  check(meanActive > 0 && meanActive <= nFeatures, "synthetic meanActive", meanActive, `a number in (0, ${nFeatures}]`);
  check(law === "exponential" || law === "uniform", "synthetic coefficients", law, '"exponential" or "uniform"');
  check(coefMean > 0 && Number.isFinite(coefMean), "synthetic coefMean", coefMean, "a finite number > 0");
  check(noise >= 0 && Number.isFinite(noise), "synthetic noise", noise, "a finite number >= 0");
  check(
    frequencies === "uniform" || frequencies === "zipf",
    "synthetic frequencies",
    frequencies,
    '"uniform" or "zipf"',
  );
  check(
    zipfExponent >= 0 && Number.isFinite(zipfExponent),
    "synthetic zipfExponent",
    zipfExponent,
    "a finite number >= 0",
  );
  check(Number.isInteger(seed) && seed >= 0, "synthetic seed", seed, "an integer >= 0");

  const dictionary = new Float32Array(nFeatures * d);
  const rng = new Rng(mixSeed(seed, -1));
  for (let i = 0; i < nFeatures; i++) {
    const row = dictionary.subarray(i * d, (i + 1) * d);
    let norm = 0;
    while (norm === 0) {
      norm = 0;
      for (let j = 0; j < d; j++) {
        row[j] = rng.normal();
        norm += row[j] * row[j];
      }
    }
    const inv = 1 / Math.sqrt(norm);
    for (let j = 0; j < d; j++) row[j] *= inv;
  }
  const p = meanActive / nFeatures;
  let zipf: Float64Array | null = null;
  if (frequencies === "zipf") {
    zipf = new Float64Array(nFeatures);
    let total = 0;
    for (let i = 0; i < nFeatures; i++) total += (i + 1) ** -zipfExponent;
    for (let i = 0; i < nFeatures; i++) zipf[i] = Math.min(1, (meanActive * (i + 1) ** -zipfExponent) / total);
  }
  const logKeep = Math.log1p(-p); // -inf when p = 1: every gap is 0

  const batch: SyntheticSource["batch"] = (index, rows, opts = {}) => {
    check(Number.isInteger(index) && index >= 0, "synthetic batch index", index, "an integer >= 0");
    check(Number.isInteger(rows) && rows >= 1, "synthetic batch rows", rows, "an integer >= 1");
    const x = opts.out ?? new Float32Array(rows * d);
    if (x.length !== rows * d)
      throw new Error(`synthetic batch: out has ${x.length} entries; expected rows * d = ${rows * d}`);
    const codes = opts.codes ?? (opts.withCodes ? new Float32Array(rows * nFeatures) : null);
    if (codes && codes.length !== rows * nFeatures) {
      throw new Error(
        `synthetic batch: codes has ${codes.length} entries; expected rows * nFeatures = ${rows * nFeatures}`,
      );
    }
    codes?.fill(0);
    const r = new Rng(mixSeed(seed, index));
    let active = 0;
    for (let b = 0; b < rows; b++) {
      const xb = x.subarray(b * d, (b + 1) * d);
      for (let j = 0; j < d; j++) xb[j] = noise > 0 ? noise * r.normal() : 0;
      // geometric skipping: the gap to the next active feature is floor(log(U) / log(1 - p))
      let i = -1;
      for (;;) {
        if (zipf) {
          i++;
          while (i < nFeatures && !(r.next() < zipf[i])) i++;
        } else {
          const u = 1 - r.next(); // (0, 1]
          const gap = p >= 1 ? 0 : Math.floor(Math.log(u) / logKeep);
          i += gap + 1;
        }
        if (i >= nFeatures || !Number.isFinite(i)) break;
        const c = law === "exponential" ? -coefMean * Math.log(1 - r.next()) : coefMean * (0.5 + r.next());
        const row = dictionary.subarray(i * d, (i + 1) * d);
        for (let j = 0; j < d; j++) xb[j] += c * row[j];
        if (codes) codes[b * nFeatures + i] = c;
        active++;
      }
    }
    return { x, codes, active };
  };
  return { d, nFeatures, dictionary, batch };
}

/**
 * Fraction of true features recovered: #{i : max_j cos(truth_i, learned_j) > threshold} / nTrue.
 * truth [nTrue, d], learned [nLearned, d] (e.g. W_dec); zero rows never match.
 */
export function recoveredFraction(
  truth: Float32Array | Float64Array,
  learned: Float32Array | Float64Array,
  d: number,
  threshold = 0.9,
): number {
  if (truth.length % d !== 0 || learned.length % d !== 0 || truth.length === 0) {
    throw new Error(
      `recoveredFraction: sizes ${truth.length} and ${learned.length} are not non-empty multiples of d = ${d}`,
    );
  }
  const nTrue = truth.length / d;
  const nLearned = learned.length / d;
  const norms = new Float64Array(nLearned);
  for (let j = 0; j < nLearned; j++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += learned[j * d + k] ** 2;
    norms[j] = Math.sqrt(s);
  }
  let hits = 0;
  for (let i = 0; i < nTrue; i++) {
    let ti = 0;
    for (let k = 0; k < d; k++) ti += truth[i * d + k] ** 2;
    ti = Math.sqrt(ti);
    let best = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < nLearned && ti > 0; j++) {
      if (norms[j] === 0) continue;
      let dot = 0;
      for (let k = 0; k < d; k++) dot += truth[i * d + k] * learned[j * d + k];
      const cos = dot / (ti * norms[j]);
      if (cos > best) best = cos;
    }
    if (best > threshold) hits++;
  }
  return hits / nTrue;
}
