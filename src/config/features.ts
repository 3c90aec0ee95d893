/**
 * Options of `msae features` (one zod schema). The activations come from a store (--acts) or from
 * the model run over a corpus (--model with --data); --bands are the quantile levels that cut each
 * feature's nonzero activations into the bands sampled besides the top (first 0, increasing, < 1).
 */
import { z } from "zod";
import { parseConfig } from "./parse.ts";

const bandLevels = z
  .string()
  .transform((s) => s.split(",").map((v) => Number(v.trim())))
  .refine(
    (a) => a.length >= 1 && a[0] === 0 && a.every((v, i) => Number.isFinite(v) && v < 1 && (i === 0 || v > a[i - 1])),
    "expected increasing quantile levels in [0, 1) starting at 0, e.g. 0,0.5,0.9,0.99",
  );

export const featuresOptionsSchema = z
  .object({
    sae: z.string().min(1),
    acts: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
    data: z.array(z.string().min(1)).optional(),
    hook: z.string().min(1).optional(),
    tokens: z.coerce.number().int().min(1).optional(),
    context: z.coerce.number().int().min(2).optional(),
    llmBatch: z.coerce.number().int().min(1).max(4096).default(24),
    out: z.string().min(1).optional(),
    top: z.coerce.number().int().min(1).max(1000).default(20),
    samples: z.coerce.number().int().min(0).max(1000).default(8),
    bands: bandLevels.default([0, 0.5, 0.9, 0.99]),
    before: z.coerce.number().int().min(0).max(1024).default(16),
    after: z.coerce.number().int().min(0).max(1024).default(6),
    bins: z.coerce.number().int().min(1).max(1000).default(40),
    logits: z.coerce.number().int().min(1).max(1000).default(10),
    neighbours: z.coerce.number().int().min(1).max(1000).default(10),
    batchRows: z.coerce
      .number()
      .int()
      .min(1)
      .max(1 << 20)
      .default(2048),
    seed: z.coerce.number().int().min(0).default(0),
    backend: z.enum(["auto", "native", "ref"]).default("auto"),
  })
  .strict();

export type FeaturesOptions = z.output<typeof featuresOptionsSchema>;

const FLAG: Record<string, string> = { llmBatch: "--llm-batch", batchRows: "--batch-rows" };

export function parseFeaturesOptions(raw: Record<string, unknown>): FeaturesOptions {
  const input: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) input[k] = v;
  try {
    return parseConfig(featuresOptionsSchema, input, "msae features");
  } catch (e) {
    (e as Error).message = (e as Error).message.replace(/field "([A-Za-z]+)"/, (_, f: string) => FLAG[f] ?? `--${f}`);
    throw e;
  }
}
