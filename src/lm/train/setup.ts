/**
 * Everything a training run needs before its first step: the tokenizer (given, reused from the
 * output folder on resume, or trained on the training data), the packed training contexts, the
 * fixed validation slice, and the Gemma2Config the training config describes.
 *
 * Validation slice: `eval_contexts` contexts evenly spaced over the validation data. The validation
 * data is --val-data when given, brown:validation when training on brown:train, and otherwise the
 * last eval_contexts contexts of the training data, which are then held out of training.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { openCorpus } from "../../data/spec.ts";
import { type LoadedTokenizer, loadTokenizer } from "../../tokenizer/load.ts";
import { trainTokenizer, writeTokenizerJson } from "../../tokenizer/train.ts";
import type { Gemma2Config } from "../gemma2/config.ts";
import type { LmTrainConfig } from "./config.ts";
import { evenlySpaced, type PackedContexts, packCorpus, sliceContexts } from "./data.ts";
import { copyAtomic } from "./export.ts";

/** Resolves the tokenizer into <out>/tokenizer.json and returns it loaded. */
export async function prepareTokenizer(
  config: LmTrainConfig,
  dataSpec: string,
  out: string,
  resume: boolean,
  log: (line: string) => void,
): Promise<{ tokenizer: LoadedTokenizer; path: string; sha256: string }> {
  const path = join(out, "tokenizer.json");
  if (resume && existsSync(path)) {
    log(`tokenizer: ${path} (from the run being resumed)`);
  } else if (config.tokenizer.path) {
    copyAtomic(config.tokenizer.path, path);
    log(`tokenizer: ${config.tokenizer.path}`);
  } else {
    const t0 = performance.now();
    const res = await trainTokenizer(openCorpus(dataSpec).documents(), { vocabSize: config.tokenizer.vocab_size });
    writeTokenizerJson(path, res.json);
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    log(`tokenizer: trained ${res.stats.vocabSize} tokens on ${dataSpec} in ${s} s -> ${path}`);
  }
  const tokenizer = loadTokenizer(path);
  if (tokenizer.bosId === null)
    throw new Error(`tokenizer ${path} has no BOS token; training packs contexts with BOS (add a <bos> special)`);
  const sha256 = createHash("sha256").update(readFileSync(path)).digest("hex");
  return { tokenizer, path, sha256 };
}

/** Packs the training data and picks the validation slice (see header). */
export async function prepareData(
  config: LmTrainConfig,
  dataSpec: string,
  valSpec: string | null | undefined,
  tokenizer: LoadedTokenizer,
): Promise<{ train: PackedContexts; val: PackedContexts; valSource: string }> {
  const T = config.model.context_length;
  const n = config.training.eval_contexts;
  let train = await packCorpus(openCorpus(dataSpec), tokenizer, T);
  const spec = valSpec ?? (dataSpec === "brown:train" ? "brown:validation" : null);
  if (spec !== null) {
    const all = await packCorpus(openCorpus(spec), tokenizer, T);
    return { train, val: evenlySpaced(all, n), valSource: spec };
  }
  if (train.count < 2 * n)
    throw new Error(
      `data ${dataSpec} packs into ${train.count} contexts, too few to hold out eval_contexts = ${n} for ` +
        "validation; lower training.eval_contexts or pass --val-data",
    );
  const val = sliceContexts(train, train.count - n, train.count);
  train = sliceContexts(train, 0, train.count - n);
  return { train, val, valSource: `the last ${n} contexts of ${dataSpec} (held out of training)` };
}

/** The Gemma2Config of a training config with the tokenizer's vocabulary and special ids. */
export function gemma2ConfigFor(config: LmTrainConfig, tokenizer: LoadedTokenizer): Gemma2Config {
  const m = config.model;
  return {
    vocabSize: tokenizer.vocabSize,
    hiddenSize: m.hidden_size,
    intermediateSize: m.intermediate_size,
    numLayers: m.num_hidden_layers,
    numHeads: m.num_attention_heads,
    numKvHeads: m.num_key_value_heads,
    headDim: m.head_dim,
    rmsNormEps: m.rms_norm_eps,
    ropeTheta: m.rope_theta,
    queryPreAttnScalar: m.query_pre_attn_scalar ?? m.head_dim,
    slidingWindow: m.sliding_window,
    layerSliding: Array.from({ length: m.num_hidden_layers }, (_, i) => i % 2 === 0),
    attnSoftcap: m.attn_logit_softcapping,
    finalSoftcap: m.final_logit_softcapping,
    tieEmbeddings: m.tie_word_embeddings,
    maxPositions: m.context_length,
    bosId: tokenizer.bosId,
    eosId: tokenizer.eosId,
    padId: tokenizer.padId,
  };
}
