/**
 * Options of `msae harvest` (one zod schema; defaults are the paper's: 1M tokens, context 128,
 * LLM batch 24). `shard` is "i/N" (0 <= i < N): this worker's part of a harvest split across machines.
 */
import { z } from "zod";
import { parseConfig } from "./parse.ts";

const shardSpec = z
  .string()
  .regex(/^\d+\/\d+$/, 'expected "i/N" with 0 <= i < N, e.g. 0/4')
  .transform((s) => {
    const [index, count] = s.split("/").map(Number);
    return { index, count };
  })
  .refine((p) => p.count >= 1 && p.index < p.count, 'expected "i/N" with 0 <= i < N, e.g. 0/4');

export const harvestOptionsSchema = z
  .object({
    model: z.string().min(1),
    data: z.array(z.string().min(1)).min(1),
    hooks: z.string().optional(),
    layers: z.string().optional(),
    tokens: z.coerce.number().int().min(1).default(1_000_000),
    context: z.coerce.number().int().min(2).default(128),
    llmBatch: z.coerce.number().int().min(1).max(4096).default(24),
    dtype: z.enum(["f32", "bf16", "f16"]).default("f32"),
    precision: z.enum(["f32", "bf16"]).default("f32"),
    out: z.string().min(1),
    keepSpecial: z.boolean().default(false),
    shard: shardSpec.default({ index: 0, count: 1 }),
    shardContexts: z.coerce.number().int().min(1).optional(),
    backend: z.enum(["auto", "native", "ref"]).default("auto"),
  })
  .strict();

export type HarvestOptions = z.output<typeof harvestOptionsSchema>;

const FLAG: Record<string, string> = {
  llmBatch: "--llm-batch",
  keepSpecial: "--keep-special",
  shardContexts: "--shard-contexts",
};

export function parseHarvestOptions(raw: Record<string, unknown>): HarvestOptions {
  const input: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) input[k] = v;
  try {
    return parseConfig(harvestOptionsSchema, input, "msae harvest");
  } catch (e) {
    // Name the flag the user typed, not the schema field.
    const msg = (e as Error).message.replace(/field "([A-Za-z]+)"/, (_, f: string) => FLAG[f] ?? `--${f}`);
    (e as Error).message = msg;
    throw e;
  }
}
