/**
 * FeatureStats (collect.ts) + logit effects + neighbours -> one JSON-ready FeatureRecord per
 * feature, and the short FeatureSummary index.json and index.html list.
 */
import type { FeatureStats } from "./collect.ts";
import { type ExamplePool, OUTSIDE } from "./examples.ts";
import type {
  ActivationBand,
  ContextExample,
  FeatureRecord,
  FeatureStatsOptions,
  FeatureSummary,
  TokenEffect,
} from "./types.ts";

/** Rounds to 6 significant digits (JSON size; the stats are float32 anyway). */
export const round6 = (v: number): number => (Number.isFinite(v) ? Number(v.toPrecision(6)) : v);

function example(p: ExamplePool, slot: number, before: number, tokenText: (id: number) => string): ContextExample {
  const W = p.width;
  const pos = p.position[slot];
  const ids: number[] = [];
  const acts: number[] = [];
  let start = -1;
  for (let w = 0; w < W; w++) {
    const id = p.ids[slot * W + w];
    if (id === OUTSIDE) continue;
    if (start < 0) start = pos - before + w;
    ids.push(id);
    acts.push(round6(p.acts[slot * W + w]));
  }
  return {
    value: round6(p.value[slot]),
    context: p.context[slot],
    position: pos,
    start,
    at: pos - start,
    ids,
    tokens: ids.map(tokenText),
    acts,
  };
}

const pct = (p: number) => `q${Number((100 * p).toFixed(2))}`;

export function featureRecord(
  s: FeatureStats,
  f: number,
  o: FeatureStatsOptions,
  tokenText: (id: number) => string,
  logits: { promoted: TokenEffect[]; suppressed: TokenEffect[] },
  neighbours: { id: number; cosine: number }[],
): FeatureRecord {
  const n = s.count[f];
  const B = o.bandLevels.length;
  const bins = o.histogramBins;
  const max = s.max[f];
  const bands: ActivationBand[] = [];
  for (let j = 0; j < B; j++) {
    const lo = s.edges[f * B + j];
    const hi = j + 1 < B ? s.edges[f * B + j + 1] : null;
    bands.push({
      label: `${pct(o.bandLevels[j])}-${j + 1 < B ? pct(o.bandLevels[j + 1]) : "max"}`,
      levels: [o.bandLevels[j], j + 1 < B ? o.bandLevels[j + 1] : 1],
      lo: round6(lo),
      hi: hi === null ? null : round6(hi),
      count: s.bands.seen[f * B + j],
      samples: s.bands.sorted(f, j).map((slot) => example(s.bands.pool, slot, o.before, tokenText)),
    });
  }
  const density = s.tokens > 0 ? n / s.tokens : 0;
  return {
    id: f,
    count: n,
    density,
    log10_density: density > 0 ? Math.log10(density) : null,
    max: round6(max),
    mean_nonzero: n > 0 ? round6(s.sum[f] / n) : 0,
    quantiles: {
      levels: [...o.bandLevels, 1],
      values: n > 0 ? [round6(s.min[f]), ...bands.slice(1).map((b) => b.lo), round6(max)] : [],
    },
    histogram: { lo: 0, hi: round6(max), counts: Array.from(s.histogram.subarray(f * bins, (f + 1) * bins)) },
    top: s.top.sorted(f).map((slot) => example(s.top.pool, slot, o.before, tokenText)),
    bands,
    logits: {
      promoted: logits.promoted.map((e) => ({ ...e, value: round6(e.value) })),
      suppressed: logits.suppressed.map((e) => ({ ...e, value: round6(e.value) })),
    },
    neighbours: neighbours.map((x) => ({ id: x.id, cosine: round6(x.cosine) })),
  };
}

/** Distinct tokens at feature f's top activations, strongest first (from the heap, no record needed). */
export function topTokens(
  s: FeatureStats,
  f: number,
  before: number,
  tokenText: (id: number) => string,
  n = 6,
): string[] {
  const seen = new Set<string>();
  const W = s.top.pool.width;
  for (const slot of s.top.sorted(f)) {
    if (seen.size >= n) break;
    seen.add(tokenText(s.top.pool.ids[slot * W + before]));
  }
  return [...seen];
}

export function featureSummary(r: FeatureRecord, topTokenList: string[]): FeatureSummary {
  return {
    id: r.id,
    density: r.density,
    log10_density: r.log10_density,
    max: r.max,
    top_tokens: topTokenList,
    promoted: r.logits.promoted.slice(0, 5).map((e) => e.token),
  };
}
