/**
 * Types of `msae features` (DESIGN.md s.9): the options of the feature statistics and the JSON
 * record written for every feature (features-NNNN.json) and its summary (index.json).
 *
 * A feature's activation at a token is its SAE code h'_i (after attention where the architecture
 * has it) for the input x_in = c x of that token (c: the SAE's own dataset scale).
 */

export interface FeatureStatsOptions {
  /** Exact top activating tokens kept per feature (pass 1). */
  top: number;
  /**
   * Quantile levels cutting the nonzero-activation distribution into bands, increasing in [0, 1):
   * band j = activations in [q(levels[j]), q(levels[j + 1])), the last one up to the max.
   */
  bandLevels: readonly number[];
  /** Uniform samples kept per band (reservoir, pass 2). */
  bandSamples: number;
  /** Tokens shown before and after the activating token. */
  before: number;
  after: number;
  /** Bins of the histogram of nonzero activations on (0, max]. */
  histogramBins: number;
  /** Rows per SAE forward (whole contexts; at least one context). */
  batchRows: number;
  /** Seed of the reservoir sampling. */
  seed: number;
}

export const DEFAULT_STATS_OPTIONS: FeatureStatsOptions = {
  top: 20,
  bandLevels: [0, 0.5, 0.9, 0.99],
  bandSamples: 8,
  before: 16,
  after: 6,
  histogramBins: 40,
  batchRows: 2048,
  seed: 0,
};

/** One activating token and the text around it. */
export interface ContextExample {
  /** The feature's activation at the token. */
  value: number;
  /** Global context index and position of the token. */
  context: number;
  position: number;
  /** Window positions [start, start + ids.length) of the context; `at` indexes the token in it. */
  start: number;
  at: number;
  /** Token ids of the window (missing positions of the store are the BOS the harvest dropped). */
  ids: number[];
  /** Decoded token strings (one per id). */
  tokens: string[];
  /** The feature's activation at every window position (0 where it does not fire). */
  acts: number[];
}

export interface ActivationBand {
  /** e.g. "q50-q90". */
  label: string;
  levels: [number, number];
  /** Activation range [lo, hi) (hi = Infinity for the last band, written as null). */
  lo: number;
  hi: number | null;
  /** Tokens of the whole pass whose activation falls in the band. */
  count: number;
  samples: ContextExample[];
}

export interface TokenEffect {
  id: number;
  token: string;
  /** Logit change per unit of feature activation (model units, see unembed.ts). */
  value: number;
}

export interface FeatureRecord {
  id: number;
  /** Tokens with a nonzero activation / tokens seen. */
  count: number;
  density: number;
  /** log10 density (-Infinity for a dead feature, written as null). */
  log10_density: number | null;
  max: number;
  /** Mean over the nonzero activations (0 when dead). */
  mean_nonzero: number;
  /** Activation values at bandLevels (approximate, see loghist.ts), then the max. */
  quantiles: { levels: number[]; values: number[] };
  histogram: { lo: number; hi: number; counts: number[] };
  top: ContextExample[];
  bands: ActivationBand[];
  logits: { promoted: TokenEffect[]; suppressed: TokenEffect[] };
  neighbours: { id: number; cosine: number }[];
}

export interface FeatureSummary {
  id: number;
  density: number;
  log10_density: number | null;
  max: number;
  /** Distinct tokens at the feature's top activations, strongest first (up to 6). */
  top_tokens: string[];
  /** Tokens the decoder direction most promotes (up to 5). */
  promoted: string[];
}
