/**
 * loadModel(dir): a Hugging Face model folder -> LanguageModel.
 *
 *   config.json      -> architecture (registry.ts) and its config
 *   model.safetensors or model.safetensors.index.json (+ shards)
 *                    -> weights, every name and shape checked against the config before any data
 *                       is read, then widened to float32 (bf16 / f16 / f32)
 *   tokenizer.json   -> tokenizer (unless options.tokenizer is false)
 *
 * Every failure is one line naming the problem: a missing file, an unsupported architecture (with
 * the supported ones), a model_type that contradicts architectures, a missing tensor, a tensor
 * whose shape disagrees with the config (both shapes) or whose dtype is not a float one, a
 * truncated or malformed shard (from the safetensors reader), NaN / Inf in a weight (the first
 * tensor and index; allowNonFinite keeps them), special-token ids outside the vocabulary or
 * disagreeing between config.json and tokenizer.json, more tokens than embedding rows, and a run
 * folder whose completion marker says it is unfinished (src/io/complete.ts).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Backend } from "../core/backend.ts";
import { getBackend } from "../core/backends/index.ts";
import { checkComplete } from "../io/complete.ts";
import type { TensorReader } from "../io/safetensors.ts";
import { openWeights } from "../io/safetensors-sharded.ts";
import { type LoadedTokenizer, loadTokenizer } from "../tokenizer/load.ts";
import type { RawConfig } from "./config-fields.ts";
import { LanguageModel } from "./model.ts";
import { type Architecture, findArchitecture } from "./registry.ts";
import { readWeights } from "./weights.ts";

export interface LoadModelOptions {
  /** Backend the forward runs on (default: getBackend(), native when built). */
  backend?: Backend;
  /** Load tokenizer.json (default true; it must then exist). */
  tokenizer?: boolean;
  /** Load weights holding NaN / Inf (forensics; the CLI's --allow-nonfinite). Default false: refused. */
  allowNonFinite?: boolean;
  /** With allowNonFinite: told about the first non-finite tensor (the CLI prints a warning). */
  onNonFinite?: (message: string) => void;
}

export class ModelLoadError extends Error {
  override name = "ModelLoadError";
}

/** Checks `dir` is a folder and reads + parses its config.json. */
export function readConfigJson(dir: string): RawConfig {
  if (!existsSync(dir)) throw new ModelLoadError(`model folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory())
    throw new ModelLoadError(`${dir} is not a folder; expected a model folder with config.json`);
  const path = join(dir, "config.json");
  if (!existsSync(path)) throw new ModelLoadError(`missing file ${path}; a model folder needs config.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ModelLoadError(`${path} is not valid JSON: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ModelLoadError(`${path} is not a JSON object`);
  return raw as RawConfig;
}

/** A folder's architecture and parsed config, without reading weights. */
export function readModelConfig(dir: string): { arch: Architecture; config: unknown; raw: RawConfig } {
  const raw = readConfigJson(dir);
  const where = join(dir, "config.json");
  const arch = findArchitecture(raw, where);
  return { arch, config: arch.parseConfig(raw, where), raw };
}

export function loadModel(dir: string, options: LoadModelOptions = {}): LanguageModel {
  const backend = options.backend ?? getBackend();
  checkComplete(dir, { what: "model folder" });
  const { arch, config } = readModelConfig(dir);
  const dims = arch.dims(config);

  const ids = arch.specialIds(config);
  checkSpecialIds(join(dir, "config.json"), ids, dims.vocabSize);
  let tokenizer = null;
  if (options.tokenizer ?? true) {
    const tokPath = join(dir, "tokenizer.json");
    if (!existsSync(tokPath))
      throw new ModelLoadError(`missing file ${tokPath}; expected the model's tokenizer.json beside its config.json`);
    tokenizer = loadTokenizer(tokPath);
    checkTokenizerAgrees(dir, tokenizer, ids, dims.vocabSize);
  }

  let reader: TensorReader;
  try {
    reader = openWeights(dir);
  } catch (e) {
    throw new ModelLoadError((e as Error).message.split("\n")[0]);
  }
  let weights: Map<string, Float32Array>;
  try {
    weights = readWeights(reader, arch.weightSpecs(config), arch.prefixes, reader.path, backend, {
      allowNonFinite: options.allowNonFinite,
      onNonFinite: options.onNonFinite,
      ignored: arch.ignored,
    });
  } finally {
    reader.close();
  }
  let parameterCount = 0;
  for (const t of weights.values()) parameterCount += t.length;
  const model = arch.build(config, weights, backend);
  return new LanguageModel(
    model,
    {
      architecture: arch.name,
      source: dir,
      parameterCount,
      bosId: tokenizer?.bosId ?? ids.bos,
      eosId: tokenizer?.eosId ?? ids.eos,
      padId: tokenizer?.padId ?? ids.pad,
    },
    backend,
    tokenizer,
  );
}

type SpecialIds = { bos: number | null; eos: number | null; pad: number | null };
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
 * tokenizer.json vs config.json: the tokenizer's ids must fit the embedding rows (vocab_size; more
 * rows than tokens is fine, as padded vocabularies are), and a special token both name must have
 * the same id in both.
 */
export function checkTokenizerAgrees(
  dir: string,
  tok: Pick<LoadedTokenizer, "path" | "vocabSize" | "bosId" | "eosId" | "padId">,
  ids: SpecialIds,
  vocabSize: number,
): void {
  if (tok.vocabSize > vocabSize)
    throw new ModelLoadError(
      `${tok.path} has ${tok.vocabSize} tokens but the model's embedding has ${vocabSize} rows (config vocab_size); expected at most ${vocabSize} tokens`,
    );
  const fromTok = { bos: tok.bosId, eos: tok.eosId, pad: tok.padId };
  for (const k of ["bos", "eos", "pad"] as const) {
    const a = ids[k];
    const b = fromTok[k];
    if (a !== null && b !== null && a !== b)
      throw new ModelLoadError(
        `${join(dir, "config.json")}: ${ID_FIELDS[k]} is ${a} but ${tok.path} has its ${k} token at id ${b}; expected them to agree`,
      );
  }
}
