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
import { buildModel, checkSpecialIds, checkTokenizerFits, ModelLoadError, type SpecialIds } from "./build.ts";
import type { RawConfig } from "./config-fields.ts";
import type { LanguageModel } from "./model.ts";
import type { Precision } from "./precision.ts";
import { type Architecture, findArchitecture } from "./registry.ts";

export { checkSpecialIds, ModelLoadError } from "./build.ts";

export interface LoadModelOptions {
  /** Backend the forward runs on (default: getBackend(), native when built). */
  backend?: Backend;
  /** Load tokenizer.json (default true; it must then exist). */
  tokenizer?: boolean;
  /** Load weights holding NaN / Inf (forensics; the CLI's --allow-nonfinite). Default false: refused. */
  allowNonFinite?: boolean;
  /** With allowNonFinite: told about the first non-finite tensor (the CLI prints a warning). */
  onNonFinite?: (message: string) => void;
  /** The forward's linear layers: "f32" (default) or "bf16" (weights rounded once at load; precision.ts). */
  precision?: Precision;
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
  const { arch, config, raw } = readModelConfig(dir); // config errors come first
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
  try {
    return buildModel(raw, join(dir, "config.json"), reader, tokenizer, backend, dir, options);
  } finally {
    reader.close();
  }
}

/** checkTokenizerFits (build.ts) for the model folder `dir`. */
export function checkTokenizerAgrees(
  dir: string,
  tok: Pick<LoadedTokenizer, "path" | "vocabSize" | "bosId" | "eosId" | "padId">,
  ids: SpecialIds,
  vocabSize: number,
): void {
  checkTokenizerFits(join(dir, "config.json"), tok, ids, vocabSize);
}
