/**
 * `msae train`: the SAE training run (DESIGN.md s.2 "Training protocol"), one zod schema, every
 * value a field with its default. The resolved object (with each SAE's resolved hyperparameters,
 * dataset scale and data identity) is written to runs/<name>/sae/<arch>/<hook>/train_config.json
 * and into each SAE's checkpoint fingerprint.
 *
 * Recipes (`recipe`): a field left out takes the recipe's value.
 *   paper    exactly the paper's numbers: 1M tokens, ctx 128, LLM batch 24, buffer 2048 contexts,
 *            SAE batch 2048 x 4 micro-batches, AdamW (0.9, 0.999, wd 1e-4 on matrices), lr 3e-4,
 *            warmup 1000 steps (capped at 10% of a shorter run), plateau x0.5 floored at 1e-5,
 *            clip 1.0, importance scaling (EMA 0.99, clamp [0.5, 2]), reactivation every 100 steps
 *            by a rank-32 rSVD (8 extra columns, 2 power iterations).
 *   default  the same numbers except where the paper is unworkable at small scale:
 *            - lr 3e-3 (paper 3e-4): the paper's 1M tokens are 122 optimizer steps of 4 x 2048; at
 *              3e-4 the encoder biases move ~0.04 in that time and L0 stays near its init (~30% of m
 *              whatever l1, measured on tiny-gemma2); at 3e-3 the default l1 lands at 5-15% of m
 *            - plateauPatience 50 / plateauCooldown 25 (the paper gives none; `paper` takes the
 *              optimizer's 250 / 100, which cannot act within its own 1M-token run of 122 steps;
 *              50 / 25 lets the plateau act within a run of a few hundred steps)
 *            Everything else equals `paper`.
 *
 * Choices where DESIGN.md is silent (documented, each a field):
 *   - deadTokens (TopK family AuxK window): null = auto = max(min(10M, tokens / 10), one epoch of
 *     the data) (DESIGN: "10M tokens, scaled down with the run's token count, minimum one epoch";
 *     the 10M window belongs to a 100M+ token run).
 *   - gatedUnitDecoder: gated's W_dec rows are renormalized to unit norm after each optimizer step
 *     (as in the Gated SAE paper's training); trained exactly as specified without it the decoder
 *     norms shrink under the norm-weighted L1 and the SAE collapses.
 *   - jumpreluThresholdFloor: jumprelu's trained threshold is clamped to >= this after each step
 *     (SAELens trains log(threshold), which keeps it > 0; we train it directly).
 *   - reactivateArchs: every arch is reactivated by default (the protocol is the comparison's,
 *     the TopK family also keeps AuxK); "none" turns reactivation off.
 */
import { z } from "zod";
import { badOption } from "../core/errors.ts";
import { parseConfig } from "./parse.ts";
import { saeConfigSchema } from "./sae.ts";

const int = (min: number) => z.number().int().min(min);

/** Values that differ between recipes (the rest have one default). */
export const RECIPES = {
  paper: { lr: 3e-4, plateauPatience: 250, plateauCooldown: 100 },
  default: { lr: 3e-3, plateauPatience: 50, plateauCooldown: 25 },
} as const;

export type RecipeName = keyof typeof RECIPES;

export const saeTrainSchema = z
  .object({
    recipe: z.enum(["paper", "default"]).default("default"),
    /** Tokens (rows) to train on; epochs over the data repeat as needed. */
    tokens: int(1).default(1_000_000),
    seed: int(0).default(0),
    /** Streaming (--model): context length and LLM batch; store runs take the store's. */
    contextSize: int(2).default(128),
    llmBatch: int(1).default(24),
    /** Activation buffer: contexts per fill and SAE micro-batch rows. */
    bufferContexts: int(1).default(2048),
    batchSize: int(1).default(2048),
    microBatches: int(1).default(4),
    lr: z.number().positive().optional(),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.999),
    adamEps: z.number().positive().default(1e-8),
    weightDecay: z.number().min(0).default(1e-4),
    warmupSteps: int(0).default(1000),
    plateauFactor: z.number().gt(0).lt(1).default(0.5),
    plateauPatience: int(0).optional(),
    plateauCooldown: int(0).optional(),
    plateauThreshold: z.number().min(0).default(1e-3),
    plateauSmoothing: z.number().min(0).lt(1).default(0.99),
    minLr: z.number().min(0).default(1e-5),
    gradClip: z.number().positive().default(1.0),
    importanceScaling: z.boolean().default(true),
    importanceBeta: z.number().min(0).lt(1).default(0.99),
    importanceMin: z.number().positive().default(0.5),
    importanceMax: z.number().positive().default(2),
    reactivateArchs: z.enum(["all", "none"]).default("all"),
    reactivateEvery: int(1).default(100),
    reactivateRank: int(1).default(32),
    reactivateOversample: int(0).default(8),
    reactivatePowerIterations: int(0).default(2),
    reactivateNoise: z.number().min(0).default(0.01),
    reactivateEncoderScale: z.number().positive().default(0.2),
    deadTokens: int(1).nullable().default(null),
    deadTokensMax: int(1).default(10_000_000),
    gatedUnitDecoder: z.boolean().default(true),
    jumpreluThresholdFloor: z.number().positive().default(1e-6),
    /** Optimizer steps between checkpoints (and at the end / when stopped). */
    checkpointEvery: int(1).default(100),
    /** The SAE hyperparameters shared by every arch of the run (arch comes from the arch list). */
    sae: saeConfigSchema.omit({ arch: true }).default({} as never),
  })
  .strict();

export type SaeTrainInput = z.input<typeof saeTrainSchema>;
export type SaeTrainConfig = Omit<z.output<typeof saeTrainSchema>, "lr" | "plateauPatience" | "plateauCooldown"> & {
  lr: number;
  plateauPatience: number;
  plateauCooldown: number;
};

/** Parses and resolves the recipe (one-line UsageError on a bad field). */
export function parseSaeTrainConfig(input: unknown, source = "msae train"): SaeTrainConfig {
  const c = parseConfig(saeTrainSchema, input ?? {}, source);
  const r = RECIPES[c.recipe];
  if (c.importanceMin > c.importanceMax)
    throw badOption(`${source}: field "importanceMin"`, c.importanceMin, `<= importanceMax (${c.importanceMax})`);
  const lr = c.lr ?? r.lr;
  if (c.minLr > lr) throw badOption(`${source}: field "minLr"`, c.minLr, `<= lr (${lr})`);
  return {
    ...c,
    lr,
    plateauPatience: c.plateauPatience ?? r.plateauPatience,
    plateauCooldown: c.plateauCooldown ?? r.plateauCooldown,
  };
}

/** DESIGN.md s.2 AuxK window: the configured deadTokens, else max(min(deadTokensMax, tokens / 10), epochRows) (an endless source, epochRows Infinity, has no epoch floor). */
export function resolveDeadTokens(c: SaeTrainConfig, epochRows: number): number {
  if (c.deadTokens !== null) return c.deadTokens;
  const scaled = Math.min(c.deadTokensMax, Math.floor(c.tokens / 10));
  return Math.max(1, scaled, Number.isFinite(epochRows) ? epochRows : 0);
}
