/**
 * The Hugging Face model folder written by `msae lm train` (loadable by src/lm/loader.ts and by
 * transformers' Gemma2ForCausalLM):
 *   config.json        Gemma-2 config (model_type "gemma2"; every field the loader reads, written
 *                      out explicitly, with layer_types spelling out the sliding pattern)
 *   model.safetensors  weights under their HF names (float32, or bfloat16 / float16 rounded to
 *                      nearest even), metadata {"format": "pt"}
 *   tokenizer.json     the tokenizer the model was trained with
 * Each file is written atomically (temp + fsync + rename).
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { atomicWriteFile, atomicWriteJson } from "../../io/atomic.ts";
import { writeSafetensors } from "../../io/safetensors-write.ts";
import type { Gemma2Config } from "../gemma2/config.ts";
import type { Gemma2Params } from "./params.ts";

/** config.json of a Gemma2Config (the inverse of parseGemma2Config). */
export function gemma2HfConfig(cfg: Gemma2Config, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ["Gemma2ForCausalLM"],
    model_type: "gemma2",
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.numLayers,
    num_attention_heads: cfg.numHeads,
    num_key_value_heads: cfg.numKvHeads,
    head_dim: cfg.headDim,
    hidden_activation: "gelu_pytorch_tanh",
    max_position_embeddings: cfg.maxPositions,
    rms_norm_eps: cfg.rmsNormEps,
    rope_theta: cfg.ropeTheta,
    query_pre_attn_scalar: cfg.queryPreAttnScalar,
    sliding_window: cfg.slidingWindow,
    layer_types: cfg.layerSliding.map((s) => (s ? "sliding_attention" : "full_attention")),
    attn_logit_softcapping: cfg.attnSoftcap,
    final_logit_softcapping: cfg.finalSoftcap,
    tie_word_embeddings: cfg.tieEmbeddings,
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: cfg.bosId,
    eos_token_id: cfg.eosId,
    pad_token_id: cfg.padId,
    torch_dtype: "float32",
    use_cache: true,
    ...extra,
  };
}

export type SaveDtype = "float32" | "bfloat16" | "float16";
const SAFETENSORS_DTYPE = { float32: "F32", bfloat16: "BF16", float16: "F16" } as const;

/** Writes model.safetensors (HF names, {"format": "pt"}), stored as `dtype`. */
export async function writeModelWeights(
  path: string,
  params: Gemma2Params,
  dtype: SaveDtype = "float32",
): Promise<void> {
  const tensors = new Map<string, { dtype: "F32" | "BF16" | "F16"; shape: readonly number[]; data: Float32Array }>();
  for (const p of params.list) {
    if (!(p.data instanceof Float32Array)) throw new Error(`writeModelWeights: ${p.name} is not float32`);
    tensors.set(p.name, { dtype: SAFETENSORS_DTYPE[dtype], shape: p.shape, data: p.data });
  }
  await writeSafetensors(path, tensors, { format: "pt" });
}

/** Writes config.json, model.safetensors and (when not already there) tokenizer.json into dir. */
export async function writeModelFolder(
  dir: string,
  cfg: Gemma2Config,
  params: Gemma2Params,
  tokenizerPath: string,
  dtype: SaveDtype = "float32",
): Promise<void> {
  atomicWriteJson(join(dir, "config.json"), gemma2HfConfig(cfg, { torch_dtype: dtype }));
  await writeModelWeights(join(dir, "model.safetensors"), params, dtype);
  const dst = join(dir, "tokenizer.json");
  if (resolve(tokenizerPath) !== resolve(dst) || !existsSync(dst)) copyAtomic(tokenizerPath, dst);
}

/** Copies a file atomically (temp + fsync + rename) so a reader never sees half of it. */
export function copyAtomic(src: string, dst: string): void {
  if (resolve(src) === resolve(dst)) return;
  atomicWriteFile(dst, readFileSync(src));
}
