/**
 * `msae bench harvest [--json]`: harvest tokens/s next to the plain forward up to the deepest hook
 * (bench/harvest.ts), same model, contexts and LLM batch, in one run.
 */
import type { Command } from "commander";
import { type HarvestBenchResult, runHarvestBench } from "../../bench/harvest.ts";
import { getBackend } from "../core/backends/index.ts";
import { defaultModelDir } from "../core/paths.ts";
import { badOption, parseIntOption } from "./errors.ts";

function table(r: HarvestBenchResult): string {
  return (
    `model ${r.model}  hooks ${r.hooks.join(", ")}\n` +
    `${r.contexts} contexts x ${r.context_size} tokens, LLM batch ${r.llm_batch}, stored ${r.dtype}\n` +
    `| case | tok/s |\n|---|---|\n| plain forward to ${r.hooks[r.hooks.length - 1]} | ${r.plain_tok_s} |\n` +
    `| harvest (${r.hooks.length} hooks, written) | ${r.harvest_tok_s} |\n` +
    `ratio harvest / plain = ${r.ratio}  (${(r.harvest_bytes / 2 ** 20).toFixed(1)} MB written per harvest)\n`
  );
}

export function registerBenchHarvest(bench: Command): void {
  bench
    .command("harvest")
    .description("harvest tokens/s vs the plain forward up to the deepest hook (same model, contexts, batch)")
    .option("--json", "print the result as JSON")
    .option("--model <dir>", "model folder", defaultModelDir)
    .option("--data <spec>", "corpus", "brown:train")
    .option("--layers <list>", "auto or block numbers (resid_post hooks)", "auto")
    .option("--contexts <n>", "contexts per measurement", "960")
    .option("--context <n>", "context length", "128")
    .option("--llm-batch <n>", "contexts per forward", "24")
    .option("--dtype <type>", "stored dtype: f32, bf16 or f16", "f32")
    .option("--reps <n>", "alternating repetitions (best of each kept)", "3")
    .action(
      async (opts: {
        json?: boolean;
        model: string;
        data: string;
        layers: string;
        contexts: string;
        context: string;
        llmBatch: string;
        dtype: string;
        reps: string;
      }) => {
        if (!["f32", "bf16", "f16"].includes(opts.dtype)) throw badOption("--dtype", opts.dtype, "f32, bf16 or f16");
        const r = await runHarvestBench({
          modelDir: opts.model,
          data: opts.data,
          layers: opts.layers,
          contexts: parseIntOption("--contexts", opts.contexts, 1),
          contextSize: parseIntOption("--context", opts.context, 2),
          llmBatch: parseIntOption("--llm-batch", opts.llmBatch, 1, 4096),
          dtype: opts.dtype as "f32" | "bf16" | "f16",
          reps: parseIntOption("--reps", opts.reps, 1, 100),
          backend: getBackend(),
          log: opts.json ? undefined : (l) => process.stderr.write(`msae bench harvest: ${l}\n`),
        });
        process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : table(r));
      },
    );
}
