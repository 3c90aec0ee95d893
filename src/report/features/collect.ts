/**
 * The streaming statistics of every feature of an SAE over a chunk source (an activation store or
 * the model itself), in two passes over the same contexts with memory fixed by the options (never
 * by the token count):
 *
 *   pass 1, per token t and feature i with a_ti = h'_i(c x_t) > 0:
 *     count_i, sum_i, min_i, max_i; log-bucket histogram (loghist.ts, for quantiles);
 *     top_i = the `top` largest a_ti with their windows (TopHeaps, exact).
 *   between: band edges e_ij = quantile_i(bandLevels[j]) (e_i0 = 0), from the log histogram.
 *   pass 2 (the same contexts, the same SAE forward):
 *     histogram of a_ti on (0, max_i] in `histogramBins` equal bins (exact counts);
 *     band j of feature i = {a_ti in [e_ij, e_i,j+1)} (the last band up to max_i): its exact count
 *     and `bandSamples` uniform samples with their windows (Reservoirs, Algorithm R).
 *
 * A window is the `before` tokens before the activating token and `after` after it in its context,
 * with the feature's activation at each; positions the store dropped (BOS) get bosId and activation
 * 0 (the SAE never saw them). Contexts are never split across SAE batches (every chunk holds whole
 * contexts), so a window is read from the batch's own codes.
 *
 * Memory: TopHeaps + Reservoirs pools (m * (top + 1 + bands * bandSamples) * (12 + 8 W) bytes),
 * m * (LOG_BUCKETS + histogramBins) * 4 bytes of counters, one batch of codes [batchRows, m].
 */
import type { ChunkSource } from "../../harvest/store.ts";
import type { SaeModule } from "../../sae/types.ts";
import { type ExamplePool, OUTSIDE, Reservoirs, TopHeaps } from "./examples.ts";
import { LogHistograms } from "./loghist.ts";
import type { FeatureStatsOptions } from "./types.ts";

export interface CollectInput {
  source: ChunkSource;
  /** Which of the source's hooks feeds the SAE. */
  hookIndex: number;
  sae: SaeModule<Float32Array>;
  /** The SAE's input scale c (x_in = c x). */
  scale: number;
  /** Contexts [0, contexts) of the source. */
  contexts: number;
  contextSize: number;
  /** Id written at positions the source dropped (the BOS of every context); -1 when unknown. */
  bosId: number;
  options: FeatureStatsOptions;
  /** Progress: pass (1 or 2) and contexts done of `contexts`. */
  onProgress?: (pass: 1 | 2, contextsDone: number, contexts: number) => void;
}

export interface FeatureStats {
  m: number;
  /** Tokens (rows) seen in one pass. */
  tokens: number;
  count: Float64Array; // [m]
  sum: Float64Array; // [m]
  min: Float32Array; // [m] (Infinity when dead)
  max: Float32Array; // [m] (0 when dead)
  /** [m, bands] lower edges of the bands (e_i0 = 0). */
  edges: Float64Array;
  /** [m, bins] histogram counts on (0, max_i]. */
  histogram: Uint32Array;
  top: TopHeaps;
  bands: Reservoirs;
  /** Bytes of every per-feature structure (constant after construction). */
  bytes: number;
}

/** Codes of one batch of whole contexts and the position -> row table that windows read. */
class BatchWindows {
  codes: Float32Array = new Float32Array(0);
  token: Int32Array = new Int32Array(0);
  /** [contexts in batch, C] row of each position or -1. */
  readonly posRow: Int32Array;
  /** [rows] index of each row's context within the batch. */
  readonly localCtx: Int32Array;
  f = 0;
  r = 0;
  readonly fill: (p: ExamplePool, slot: number) => void;

  constructor(
    readonly m: number,
    readonly C: number,
    maxContexts: number,
    maxRows: number,
    readonly before: number,
    readonly bosId: number,
  ) {
    this.posRow = new Int32Array(maxContexts * C);
    this.localCtx = new Int32Array(maxRows);
    this.fill = (p, slot) => {
      const { m, C, codes, token, posRow } = this;
      const f = this.f;
      const r = this.r;
      const W = p.width;
      const pos = p.position[slot];
      const base = this.localCtx[r] * C;
      const o = slot * W;
      for (let w = 0; w < W; w++) {
        const q = pos - this.before + w;
        if (q < 0 || q >= C) {
          p.ids[o + w] = OUTSIDE;
          p.acts[o + w] = 0;
          continue;
        }
        const row = posRow[base + q];
        p.ids[o + w] = row < 0 ? this.bosId : token[row];
        p.acts[o + w] = row < 0 ? 0 : codes[row * m + f];
      }
    };
  }
}

export async function collectFeatureStats(input: CollectInput): Promise<FeatureStats> {
  const { source, sae, scale, contexts, contextSize: C, options: o } = input;
  const { d, m } = sae.hyper;
  if (source.d !== d) throw new Error(`the activations have d = ${source.d} but the SAE expects d_in = ${d}`);
  const W = o.before + 1 + o.after;
  const B = o.bandLevels.length;
  const maxRows = Math.max(o.batchRows, C);
  const maxContexts = Math.max(1, Math.ceil((2 * o.batchRows) / C));
  const x = new Float32Array(maxRows * d);
  const codes = new Float32Array(maxRows * m);
  const recon = new Float32Array(maxRows * d);
  const win = new BatchWindows(m, C, maxContexts, maxRows, o.before, input.bosId);

  const count = new Float64Array(m);
  const sum = new Float64Array(m);
  const min = new Float32Array(m).fill(Number.POSITIVE_INFINITY);
  const max = new Float32Array(m);
  const logHist = new LogHistograms(m);
  const top = new TopHeaps(m, o.top, W);
  const bands = new Reservoirs(m, B, o.bandSamples, W, o.seed);
  const edges = new Float64Array(m * B);
  const bins = o.histogramBins;
  const histogram = new Uint32Array(m * bins);
  let tokens = 0;

  /** Runs the SAE over rows [a, b) of a chunk (whole contexts) and calls visit on the batch. */
  const runBatch = (
    acts: Float32Array,
    token: Int32Array,
    context: Int32Array,
    position: Int32Array,
    a: number,
    b: number,
  ): Float32Array => {
    const rows = b - a;
    const xs = x.subarray(0, rows * d);
    const src = acts.subarray(a * d, b * d);
    if (scale === 1) xs.set(src);
    else for (let i = 0; i < xs.length; i++) xs[i] = scale * src[i];
    const cs = codes.subarray(0, rows * m);
    sae.forward(xs, rows, cs, recon.subarray(0, rows * d));
    win.codes = cs;
    win.token = token.subarray(a, b);
    let lc = -1;
    let prev = -1;
    for (let r = 0; r < rows; r++) {
      const ctx = context[a + r];
      if (ctx !== prev) {
        lc++;
        prev = ctx;
        win.posRow.fill(-1, lc * C, (lc + 1) * C);
      }
      win.localCtx[r] = lc;
      win.posRow[lc * C + position[a + r]] = r;
    }
    return cs;
  };

  const pass = async (n: 1 | 2, visit: (cs: Float32Array, rows: number, ctx: Int32Array, pos: Int32Array) => void) => {
    let done = 0;
    for await (const chunk of source.chunks(0, contexts)) {
      const acts = chunk.acts[input.hookIndex];
      let a = 0;
      while (a < chunk.rows) {
        // Extend the batch by whole contexts while it fits.
        let b = a;
        let nctx = 0;
        while (b < chunk.rows && nctx < maxContexts) {
          let e = b;
          while (e < chunk.rows && chunk.context[e] === chunk.context[b]) e++;
          if (nctx > 0 && e - a > maxRows) break;
          if (e - b > C) throw new Error(`context ${chunk.context[b]} has ${e - b} rows; expected at most ${C}`);
          b = e;
          nctx++;
        }
        const cs = runBatch(acts, chunk.token, chunk.context, chunk.position, a, b);
        visit(cs, b - a, chunk.context.subarray(a, b), chunk.position.subarray(a, b));
        a = b;
      }
      done = Math.min(contexts, chunk.contexts[1]);
      input.onProgress?.(n, done, contexts);
    }
  };

  const thr = top.threshold;
  await pass(1, (cs, rows, ctx, pos) => {
    tokens += rows;
    for (let r = 0; r < rows; r++) {
      const base = r * m;
      for (let f = 0; f < m; f++) {
        const v = cs[base + f];
        if (!(v > 0)) continue;
        count[f]++;
        sum[f] += v;
        if (v > max[f]) max[f] = v;
        if (v < min[f]) min[f] = v;
        logHist.add(f, v);
        if (v >= thr[f]) {
          win.f = f;
          win.r = r;
          top.offer(f, v, ctx[r], pos[r], win.fill);
        }
      }
    }
  });

  for (let f = 0; f < m; f++) {
    const q = logHist.quantiles(f, count[f], o.bandLevels);
    for (let j = 0; j < B; j++) edges[f * B + j] = j === 0 || q.length === 0 ? 0 : q[j];
  }

  await pass(2, (cs, rows, ctx, pos) => {
    for (let r = 0; r < rows; r++) {
      const base = r * m;
      for (let f = 0; f < m; f++) {
        const v = cs[base + f];
        if (!(v > 0)) continue;
        const mx = max[f];
        let bin = Math.floor((v / mx) * bins);
        if (bin >= bins) bin = bins - 1;
        histogram[f * bins + bin]++;
        let j = B - 1;
        while (j > 0 && v < edges[f * B + j]) j--;
        win.f = f;
        win.r = r;
        bands.offer(f, j, v, ctx[r], pos[r], win.fill);
      }
    }
  });

  const bytes =
    top.pool.bytes +
    bands.pool.bytes +
    logHist.counts.byteLength +
    histogram.byteLength +
    edges.byteLength +
    bands.seen.byteLength +
    m * (8 + 8 + 4 + 4 + 4 * 2) +
    top.k * m * 4;
  return { m, tokens, count, sum, min, max, edges, histogram, top, bands, bytes };
}
