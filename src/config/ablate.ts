/**
 * Options of `msae ablate` and `msae demo` (one zod schema). The ablation harvests once, trains the
 * paper's five cumulative architectures and the baselines on the hooks at the paper's relative
 * depths for each seed, evaluates every SAE on held-out text and writes the report.
 *
 * Presets:
 *   ablate (the defaults): the paper's scale: 1M tokens harvested and trained on, context 128,
 *     LLM batch 24, 3 seeds; 32,768 evaluation tokens per corpus (256 contexts: the standard error of
 *     the CE / KL scores over tokens is then well below their spread over seeds; SAEBench's core
 *     evaluation scores ~20k tokens).
 *   demo: one seed, small enough to finish in minutes on 2 cores with the shipped model (DEMO below).
 * The resolved options are stored in runs/<name>/ablate.json; a rerun with the same options resumes
 * (every stage is resumable), one with different options is refused naming the first difference.
 */
import { z } from "zod";
import { BASELINE_ARCHS, PAPER_ARCHS, SAE_ARCHS, type SaeArch } from "../sae/types.ts";
import { parseConfig } from "./parse.ts";

/** The ablation's rows: the paper's five, then relu, topk, batchtopk, jumprelu and matryoshka (issue 16). */
export const ABLATION_ARCHS: readonly SaeArch[] = [...PAPER_ARCHS, ...BASELINE_ARCHS.filter((a) => a !== "gated")];

export const ablateOptionsSchema = z
  .object({
    model: z.string().min(1),
    data: z.array(z.string().min(1)).min(1).default(["brown:train"]),
    evalData: z.array(z.string().min(1)).min(1).default(["brown:validation"]),
    /** Out-of-distribution evaluation corpus, reported separately (empty: none). */
    oodData: z.array(z.string().min(1)).default(["nlp-corpus"]),
    layers: z.string().default("auto"),
    seeds: z.number().int().min(1).max(100).default(3),
    recipe: z.enum(["default", "paper"]).default("default"),
    archs: z
      .array(z.enum(SAE_ARCHS))
      .min(1)
      .default([...ABLATION_ARCHS]),
    /** Positions harvested (and trained on: one epoch by default). */
    tokens: z.number().int().min(1).default(1_000_000),
    /** Training tokens per SAE (default: tokens). */
    trainTokens: z.number().int().min(1).optional(),
    evalTokens: z.number().int().min(1).default(32_768),
    context: z.number().int().min(2).default(128),
    llmBatch: z.number().int().min(1).default(24),
    expansion: z.number().positive().default(1),
    /** SAE micro-batch rows and micro-batches per optimizer step (paper: 2048 x 4). */
    batchSize: z.number().int().min(1).default(2048),
    microBatches: z.number().int().min(1).default(4),
    /** Overrides of the SAE hyperparameters (null: the defaults of src/config/sae.ts). */
    l1: z.number().min(0).nullable().default(null),
    l2: z.number().min(0).nullable().default(null),
    k: z.number().int().min(1).nullable().default(null),
    lr: z.number().positive().nullable().default(null),
    dtype: z.enum(["f32", "bf16", "f16"]).default("f32"),
    /** The model forward of the harvest and of the spliced evaluation (src/lm/precision.ts). */
    precision: z.enum(["f32", "bf16"]).default("f32"),
    out: z.string().min(1),
  })
  .strict();

export type AblateOptions = z.output<typeof ablateOptionsSchema>;

/** `msae demo`: one seed of the ablation on the shipped model, a few minutes on 2 cores. */
export const DEMO: Partial<AblateOptions> = {
  seeds: 1,
  tokens: 131_072,
  evalTokens: 8_192,
  oodData: [],
  batchSize: 1024,
  microBatches: 1,
};

export function parseAblateOptions(input: Record<string, unknown>, source = "msae ablate"): AblateOptions {
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) if (v !== undefined) clean[k] = v;
  return parseConfig(ablateOptionsSchema, clean, source);
}
