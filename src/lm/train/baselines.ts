/**
 * Smoothed n-gram baselines for the LM's validation loss, scored on exactly the LM's targets
 * (data.ts: next token; not when the next token is BOS; not at the last position of a context).
 * Each scored position is a pair (u, w): u the token at position t, w the target at t.
 * Add-k smoothing over the V ids of the vocabulary, fitted on the pairs of the training contexts:
 *
 *   unigram  p(w)     = (c(w) + k) / (N + k V)             N = number of training pairs
 *   bigram   p(w | u) = (c(u, w) + k) / (c(u) + k V)       c(u) = pairs with first token u
 *
 * loss = mean over the evaluation pairs of -ln p. k is tuned per model on the training split alone:
 * the training contexts are cut into blocks of b = clamp(floor(N_ctx / 20), 1, TUNE_BLOCK) contexts
 * (16 contexts is about one Brown document); every TUNE_EVERY-th block is the tuning slice, the rest
 * is fitted once and every k of K_GRID (21 values, 10^-4 .. 10, 4 per decade) is scored on the
 * slice; the k with the lowest tuning loss is kept and the final model is fitted on all the
 * training contexts. With fewer than TUNE_EVERY contexts there is no slice and k = 1 (Laplace).
 */
import type { PackedContexts } from "./data.ts";

export const K_GRID: readonly number[] = Array.from({ length: 21 }, (_, i) => 10 ** (-4 + i / 4));
export const TUNE_BLOCK = 16;
export const TUNE_EVERY = 10;

/** Token counts of scored pairs. */
export class NgramCounts {
  readonly vocab: number;
  /** c(w) of targets [vocab]. */
  readonly unigram: Float64Array;
  /** c(u) over pairs [vocab]. */
  readonly context: Float64Array;
  /** c(u, w) keyed u * vocab + w. */
  readonly bigram = new Map<number, number>();
  pairs = 0;

  constructor(vocab: number) {
    this.vocab = vocab;
    this.unigram = new Float64Array(vocab);
    this.context = new Float64Array(vocab);
  }

  add(u: number, w: number): void {
    this.unigram[w] += 1;
    this.context[u] += 1;
    const key = u * this.vocab + w;
    this.bigram.set(key, (this.bigram.get(key) ?? 0) + 1);
    this.pairs += 1;
  }

  unigramLogProb(w: number, k: number): number {
    return Math.log((this.unigram[w] + k) / (this.pairs + k * this.vocab));
  }

  bigramLogProb(u: number, w: number, k: number): number {
    const c = this.bigram.get(u * this.vocab + w) ?? 0;
    return Math.log((c + k) / (this.context[u] + k * this.vocab));
  }
}

/** Calls f(u, w) for every scored pair of contexts [from, to) of p. */
export function forEachPair(
  p: PackedContexts,
  bos: number | null,
  f: (u: number, w: number) => void,
  from = 0,
  to = p.count,
): void {
  const T = p.seq;
  for (let c = from; c < to; c++) {
    const o = c * T;
    for (let t = 0; t < T - 1; t++) {
      const w = p.ids[o + t + 1];
      if (w !== bos) f(p.ids[o + t], w);
    }
  }
}

/** Whether context c of n belongs to the tuning slice (see header). */
export function isTuneContext(c: number, n: number): boolean {
  const block = Math.max(1, Math.min(TUNE_BLOCK, Math.floor(n / 20)));
  return Math.floor(c / block) % TUNE_EVERY === TUNE_EVERY - 1;
}

/** Counts of the pairs of every context for which keep(context index) holds. */
export function countPairs(
  p: PackedContexts,
  vocab: number,
  bos: number | null,
  keep: (c: number) => boolean = () => true,
): NgramCounts {
  const counts = new NgramCounts(vocab);
  for (let c = 0; c < p.count; c++) if (keep(c)) forEachPair(p, bos, (u, w) => counts.add(u, w), c, c + 1);
  return counts;
}

export interface NgramLosses {
  pairs: number;
  unigram: number;
  bigram: number;
}

/** Mean -ln p of the unigram (k1) and bigram (k2) models over the pairs of the contexts kept. */
export function ngramLosses(
  counts: NgramCounts,
  p: PackedContexts,
  bos: number | null,
  k1: number,
  k2: number,
  keep: (c: number) => boolean = () => true,
): NgramLosses {
  let n = 0;
  let uni = 0;
  let bi = 0;
  for (let c = 0; c < p.count; c++) {
    if (!keep(c)) continue;
    forEachPair(
      p,
      bos,
      (u, w) => {
        n++;
        uni -= counts.unigramLogProb(w, k1);
        bi -= counts.bigramLogProb(u, w, k2);
      },
      c,
      c + 1,
    );
  }
  return { pairs: n, unigram: n > 0 ? uni / n : Number.NaN, bigram: n > 0 ? bi / n : Number.NaN };
}

export interface FittedBaselines {
  counts: NgramCounts;
  unigramK: number;
  bigramK: number;
}

/** Tunes k for each model on the tuning slice of `train`, then fits on all of `train` (see header). */
export function fitBaselines(train: PackedContexts, vocab: number, bos: number | null): FittedBaselines {
  const tune = (c: number) => isTuneContext(c, train.count);
  const hasTune = Array.from({ length: train.count }, (_, c) => tune(c)).some(Boolean);
  let unigramK = 1;
  let bigramK = 1;
  if (hasTune) {
    const fit = countPairs(train, vocab, bos, (c) => !tune(c));
    let best1 = Number.POSITIVE_INFINITY;
    let best2 = Number.POSITIVE_INFINITY;
    for (const k of K_GRID) {
      const l = ngramLosses(fit, train, bos, k, k, tune);
      if (l.unigram < best1) [best1, unigramK] = [l.unigram, k];
      if (l.bigram < best2) [best2, bigramK] = [l.bigram, k];
    }
  }
  return { counts: countPairs(train, vocab, bos), unigramK, bigramK };
}
