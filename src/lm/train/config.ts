/**
 * `msae lm train --config <json>`: the training config (zod, the single source of truth; every
 * field has a default, so `{}` is a valid config). Model fields use the Hugging Face Gemma-2
 * config.json names; vocab_size comes from the tokenizer. Three sections:
 *
 *   model:     Gemma-2 dims and features (layers alternate: even layers use the sliding window,
 *              as transformers' Gemma2 default layer_types)
 *   tokenizer: path to a tokenizer.json, or absent: a byte-level BPE of vocab_size tokens is
 *              trained on the training data (src/tokenizer)
 *   training:  optimizer, schedule (linear warmup to lr, cosine to min_lr at the last step),
 *              batching, evaluation and checkpoint intervals; steps, or epochs when steps is absent
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { parseConfig } from "../../config/parse.ts";
import { UsageError } from "../../core/errors.ts";

const positiveInt = z.number().int().min(1);
const cap = z.number().positive().nullable();

export const modelSchema = z
  .object({
    hidden_size: positiveInt.default(256),
    num_hidden_layers: positiveInt.default(6),
    num_attention_heads: positiveInt.default(4),
    num_key_value_heads: positiveInt.default(2),
    head_dim: z.number().int().min(2).multipleOf(2).default(64),
    intermediate_size: positiveInt.default(1024),
    /** Context length of training and of the saved model (max_position_embeddings). */
    context_length: z.number().int().min(2).default(128),
    /** Keys j visible from query i on sliding layers: 0 <= i - j < sliding_window. */
    sliding_window: positiveInt.default(64),
    attn_logit_softcapping: cap.default(50),
    final_logit_softcapping: cap.default(30),
    /** Attention scale query_pre_attn_scalar^-0.5; null = head_dim. */
    query_pre_attn_scalar: z.number().positive().nullable().default(null),
    rope_theta: z.number().positive().default(10000),
    rms_norm_eps: z.number().positive().default(1e-6),
    tie_word_embeddings: z.boolean().default(true),
    /** Std of the N(0, std^2) init of every matrix. */
    initializer_range: z.number().positive().default(0.02),
  })
  .strict()
  .refine((m) => m.num_attention_heads % m.num_key_value_heads === 0, {
    message: "expected num_attention_heads to be a multiple of num_key_value_heads",
    path: ["num_key_value_heads"],
  });

export const tokenizerSchema = z
  .object({
    /** tokenizer.json to use (copied into the output folder); absent: train one on the data. */
    path: z.string().min(1).optional(),
    /** Vocabulary size of a tokenizer trained here (specials + 256 bytes + merges). */
    vocab_size: z.number().int().min(259).default(8192),
  })
  .strict();

export const trainingSchema = z
  .object({
    seed: z.number().int().min(0).default(0),
    /** Contexts per micro-batch. */
    batch_size: positiveInt.default(16),
    /** Micro-batches per optimizer step. */
    grad_accum: positiveInt.default(1),
    /** Optimizer steps; when absent, epochs over the training contexts decide. */
    steps: positiveInt.optional(),
    epochs: z.number().positive().default(1),
    lr: z.number().positive().default(3e-3),
    /** Floor of the cosine decay (reached at the last step). */
    min_lr: z.number().min(0).default(3e-4),
    warmup_steps: z.number().int().min(0).default(100),
    weight_decay: z.number().min(0).default(0.1),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.95),
    adam_eps: z.number().positive().default(1e-8),
    /** Global gradient-norm clipping threshold. */
    grad_clip: z.number().positive().default(1.0),
    /** Validation loss every this many steps (and at the end); 0 = only at the end. */
    eval_interval: z.number().int().min(0).default(200),
    /** Contexts of the fixed held-out validation slice (evenly spaced over the validation data). */
    eval_contexts: positiveInt.default(64),
    /** Atomic checkpoint every this many steps (and at the end); 0 = only at the end. */
    checkpoint_interval: z.number().int().min(0).default(500),
    /** Plain progress line every this many steps when stderr is not a terminal. */
    log_interval: positiveInt.default(20),
    /** Storage dtype of the exported model.safetensors (training and checkpoints stay float32). */
    save_dtype: z.enum(["float32", "bfloat16", "float16"]).default("float32"),
  })
  .strict()
  .refine((t) => t.min_lr <= t.lr, { message: "expected min_lr <= lr", path: ["min_lr"] });

export const lmTrainConfigSchema = z
  .object({
    model: modelSchema.default(modelSchema.parse({})),
    tokenizer: tokenizerSchema.default(tokenizerSchema.parse({})),
    training: trainingSchema.default(trainingSchema.parse({})),
  })
  .strict();

export type LmTrainConfig = z.output<typeof lmTrainConfigSchema>;

/** Parses a config object (one-line UsageError naming the field on a bad value). */
export function parseLmTrainConfig(input: unknown, source = "config"): LmTrainConfig {
  const cfg = parseConfig(lmTrainConfigSchema, input, source);
  const m = cfg.model;
  if (m.sliding_window >= m.context_length)
    process.stderr.write(
      `${source}: note: sliding_window ${m.sliding_window} >= context_length ${m.context_length}, so sliding layers see the whole context\n`,
    );
  return cfg;
}

/** Reads and parses a JSON config file. */
export function readLmTrainConfig(path: string): LmTrainConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message.split("\n")[0];
    throw new UsageError(`--config ${path} could not be read: ${why}`);
  }
  return parseLmTrainConfig(raw, path);
}
