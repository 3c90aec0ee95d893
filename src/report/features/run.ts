/**
 * `msae features` as a library call: the statistics of every feature over a chunk source
 * (collect.ts, two passes), the logit effects (unembed.ts) and decoder neighbours (neighbours.ts),
 * then the JSON shards and the static site (write.ts).
 */
import type { Backend } from "../../core/backend.ts";
import type { ChunkSource } from "../../harvest/store.ts";
import type { LanguageModel } from "../../lm/model.ts";
import type { SaeModule } from "../../sae/types.ts";
import { tokenStringToBytes } from "../../tokenizer/bytes.ts";
import { collectFeatureStats, type FeatureStats } from "./collect.ts";
import { decoderNeighbours } from "./neighbours.ts";
import type { FeatureStatsOptions, FeatureSummary } from "./types.ts";
import { logitEffects, unembeddingOf } from "./unembed.ts";
import { writeFeatureSite } from "./write.ts";

export interface RunFeaturesInput {
  source: ChunkSource;
  hookIndex: number;
  contexts: number;
  contextSize: number;
  sae: SaeModule<Float32Array>;
  scale: number;
  model: LanguageModel;
  backend: Backend;
  options: FeatureStatsOptions;
  /** Promoted / suppressed tokens and neighbours per feature. */
  logitCount: number;
  neighbourCount: number;
  out: string;
  title: string;
  facts: Record<string, unknown>;
  onProgress?: (pass: 1 | 2, contextsDone: number, contexts: number) => void;
  onMessage?: (line: string) => void;
}

export interface RunFeaturesResult {
  stats: FeatureStats;
  summaries: FeatureSummary[];
  files: number;
  seconds: { passes: number; logits: number; neighbours: number; write: number };
}

/**
 * Decoded text of each token id, cached (ids outside the vocabulary: "<id N>"). A byte-level token
 * that is not valid UTF-8 on its own (it decodes to U+FFFD) is shown by its bytes, non-ASCII ones
 * as \xHH, so distinct tokens stay distinct on the pages.
 */
export function tokenTextTable(model: LanguageModel): (id: number) => string {
  const tok = model.tokenizer;
  const idToToken = (tok as { idToToken?: (id: number) => string | undefined } | null)?.idToToken;
  const cache = new Map<number, string>();
  return (id: number) => {
    let t = cache.get(id);
    if (t === undefined) {
      t = tok && id >= 0 && id < model.dims.vocabSize ? tok.decode([id]) : `<id ${id}>`;
      if (t.includes("\uFFFD") && idToToken) {
        const piece = idToToken(id);
        const bytes = piece === undefined ? null : tokenStringToBytes(piece);
        if (bytes)
          t = Array.from(bytes, (b) =>
            b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`,
          ).join("");
      }
      cache.set(id, t);
    }
    return t;
  };
}

export async function runFeatures(input: RunFeaturesInput): Promise<RunFeaturesResult> {
  const { sae, model } = input;
  const { d, m } = sae.hyper;
  if (model.dims.dModel !== d)
    throw new Error(`the SAE has d_in = ${d} but the model's d_model is ${model.dims.dModel}`);
  const t0 = performance.now();
  const stats = await collectFeatureStats({
    source: input.source,
    hookIndex: input.hookIndex,
    sae,
    scale: input.scale,
    contexts: input.contexts,
    contextSize: input.contextSize,
    bosId: model.info.bosId ?? -1,
    options: input.options,
    onProgress: input.onProgress,
  });
  const t1 = performance.now();
  const wDec = sae.params.get("W_dec")?.param.data;
  if (!wDec) throw new Error(`arch ${sae.arch} has no W_dec`);
  const tokenText = tokenTextTable(model);
  const un = unembeddingOf(model);
  const logits = logitEffects(wDec, m, input.scale, un, input.logitCount, input.backend, tokenText);
  const t2 = performance.now();
  const neighbours = decoderNeighbours(wDec, m, d, input.neighbourCount, input.backend);
  const t3 = performance.now();
  const { files, summaries } = await writeFeatureSite(input.out, {
    stats,
    options: input.options,
    tokenText,
    logits,
    neighbours,
    site: { title: input.title, m, tokens: stats.tokens, logitNote: un.description },
    facts: { ...input.facts, contexts: input.contexts, scale: input.scale, collector_bytes: stats.bytes },
    lines: [
      `${stats.tokens.toLocaleString("en-US")} tokens from ${input.contexts.toLocaleString("en-US")} contexts; activations are the SAE's codes h' for its input x_in = c x (c = ${input.scale.toPrecision(6)}${input.scale === 1 ? ", or folded into the weights" : ""}).`,
      `Logit effects: ${un.description}.`,
    ],
  });
  const t4 = performance.now();
  return {
    stats,
    summaries,
    files,
    seconds: {
      passes: (t1 - t0) / 1000,
      logits: (t2 - t1) / 1000,
      neighbours: (t3 - t2) / 1000,
      write: (t4 - t3) / 1000,
    },
  };
}
