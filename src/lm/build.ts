/**
 * buildModel: a parsed config.json, a TensorReader over the weights and an optional tokenizer ->
 * LanguageModel. No file system: loader.ts calls it with files from a model folder, the browser
 * explorer with bytes fetched from the server.
 *
 * Checked before any weight data is read: special-token ids inside the vocabulary, the tokenizer
 * fitting the embedding and agreeing on special ids, every tensor name, shape and dtype (weights.ts);
 * then the weights are widened to float32 and refused when they hold NaN / Inf (unless allowNonFinite);
 * with precision "bf16" the linear weights are then rounded to bf16 once (precision.ts).
 */
import type { Backend } from "../core/backend.ts";
import type { TensorReader } from "../io/safetensors.ts";
import type { RawConfig } from "./config-fields.ts";
import { LanguageModel, type TokenizerLike } from "./model.ts";
import type { Precision } from "./precision.ts";
import { findArchitecture } from "./registry.ts";
import { readWeights } from "./weights.ts";

export class ModelLoadError extends Error {
  override name = "ModelLoadError";
}

export type SpecialIds = { bos: number | null; eos: number | null; pad: number | null };
const ID_FIELDS = { bos: "bos_token_id", eos: "eos_token_id", pad: "pad_token_id" } as const;

/** Config special-token ids must index the embedding: 0 <= id < vocab_size. */
export function checkSpecialIds(where: string, ids: SpecialIds, vocabSize: number): void {
  for (const k of ["bos", "eos", "pad"] as const) {
    const id = ids[k];
    if (id !== null && id >= vocabSize)
      throw new ModelLoadError(
        `${where}: ${ID_FIELDS[k]} ${id} is outside the vocabulary; expected an id < vocab_size ${vocabSize}`,
      );
  }
}

/**
 * tokenizer.json vs config.json (at `configPath`): the tokenizer's ids must fit the embedding rows
 * (vocab_size; more rows than tokens is fine, as padded vocabularies are), and a special token both
 * name must have the same id in both.
 */
export function checkTokenizerFits(
  configPath: string,
  tok: { path?: string; vocabSize: number; bosId: number | null; eosId: number | null; padId: number | null },
  ids: SpecialIds,
  vocabSize: number,
): void {
  const tokPath = tok.path ?? "the tokenizer";
  if (tok.vocabSize > vocabSize)
    throw new ModelLoadError(
      `${tokPath} has ${tok.vocabSize} tokens but the model's embedding has ${vocabSize} rows (config vocab_size); expected at most ${vocabSize} tokens`,
    );
  const fromTok = { bos: tok.bosId, eos: tok.eosId, pad: tok.padId };
  for (const k of ["bos", "eos", "pad"] as const) {
    const a = ids[k];
    const b = fromTok[k];
    if (a !== null && b !== null && a !== b)
      throw new ModelLoadError(
        `${configPath}: ${ID_FIELDS[k]} is ${a} but ${tokPath} has its ${k} token at id ${b}; expected them to agree`,
      );
  }
}

/** Special-token ids a tokenizer may know (null: fall back to the config's). */
export interface TokenizerWithIds extends TokenizerLike {
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly padId: number | null;
  readonly path?: string;
}

export interface BuildModelOptions {
  /** Keep weights holding NaN / Inf (forensics). Default false: refused. */
  allowNonFinite?: boolean;
  /** With allowNonFinite: told about the first non-finite tensor. */
  onNonFinite?: (message: string) => void;
  /** "bf16": the linear weights are rounded to bf16 once, here, and the forward's GEMMs run in bf16 (precision.ts). */
  precision?: Precision;
}

/**
 * raw: config.json as parsed (`where` names it in errors); reader: the weights; source: what
 * ModelInfo.source reports (a folder or a URL).
 */
export function buildModel(
  raw: RawConfig,
  where: string,
  reader: TensorReader,
  tokenizer: TokenizerWithIds | null,
  backend: Backend,
  source: string,
  options: BuildModelOptions = {},
): LanguageModel {
  const arch = findArchitecture(raw, where);
  const config = arch.parseConfig(raw, where);
  const dims = arch.dims(config);
  const ids = arch.specialIds(config);
  checkSpecialIds(where, ids, dims.vocabSize);
  if (tokenizer) checkTokenizerFits(where, tokenizer, ids, dims.vocabSize);
  const weights = readWeights(reader, arch.weightSpecs(config), arch.prefixes, reader.path, backend, {
    allowNonFinite: options.allowNonFinite,
    onNonFinite: options.onNonFinite,
    ignored: arch.ignored,
  });
  let parameterCount = 0;
  for (const t of weights.values()) parameterCount += t.length;
  const model = arch.build(config, weights, backend);
  weights.clear(); // the model holds what it needs; with bf16 the fp32 projections go now
  if (options.precision === "bf16") model.toBf16();
  return new LanguageModel(
    model,
    {
      architecture: arch.name,
      source,
      parameterCount,
      bosId: tokenizer?.bosId ?? ids.bos,
      eosId: tokenizer?.eosId ?? ids.eos,
      padId: tokenizer?.padId ?? ids.pad,
    },
    backend,
    tokenizer,
  );
}
