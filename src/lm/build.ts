/**
 * buildModel: a parsed config.json, a TensorReader over the weights and an optional tokenizer ->
 * LanguageModel. No file system: loader.ts calls it with files from a model folder, the browser
 * explorer with bytes fetched from the server.
 *
 * Every tensor name and shape is checked against the config before any data is read (weights.ts),
 * then widened to float32. The tokenizer's vocabulary must fit the model's.
 */
import type { Backend } from "../core/backend.ts";
import type { TensorReader } from "../io/safetensors.ts";
import type { RawConfig } from "./config-fields.ts";
import { LanguageModel, type TokenizerLike } from "./model.ts";
import { findArchitecture } from "./registry.ts";
import { readWeights } from "./weights.ts";

export class ModelLoadError extends Error {
  override name = "ModelLoadError";
}

/** Special-token ids a tokenizer may know (null: fall back to the config's). */
export interface TokenizerWithIds extends TokenizerLike {
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly padId: number | null;
  readonly path?: string;
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
): LanguageModel {
  const arch = findArchitecture(raw, where);
  const config = arch.parseConfig(raw, where);
  const dims = arch.dims(config);
  if (tokenizer && tokenizer.vocabSize > dims.vocabSize)
    throw new ModelLoadError(
      `${tokenizer.path ?? "the tokenizer"} has ${tokenizer.vocabSize} tokens but the model's vocabulary (config vocab_size) is ${dims.vocabSize}`,
    );
  const weights = readWeights(reader, arch.weightSpecs(config), arch.prefixes, reader.path, backend);
  let parameterCount = 0;
  for (const t of weights.values()) parameterCount += t.length;
  const ids = arch.specialIds(config);
  const model = arch.build(config, weights, backend);
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
