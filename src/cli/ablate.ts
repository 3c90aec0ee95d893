/**
 * `msae ablate` and `msae demo`: the paper's Table 1 ablation (src/report/ablate.ts).
 *   msae ablate [--model <dir>] [--layers auto|5,12,19] [--seeds 3] [--recipe default|paper] [--out runs/<name>]
 *   msae demo   one seed of it on the shipped model and Brown, minutes on 2 cores
 * Thin: parse options, run, print the table and where the report is.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { ABLATION_ARCHS, type AblateOptions, DEMO, parseAblateOptions } from "../config/ablate.ts";
import { getBackend } from "../core/backends/index.ts";
import { defaultModelDir } from "../core/paths.ts";
import { formatSeconds } from "../lm/train/progress.ts";
import { runAblation } from "../report/ablate.ts";
import { isSaeArch } from "../sae/types.ts";
import { badOption } from "./errors.ts";
import { RateProgress } from "./progress.ts";

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];
const num = (flag: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw badOption(flag, v, "a number");
  return n;
};

async function run(o: AblateOptions): Promise<void> {
  const t0 = performance.now();
  let bar: RateProgress | null = null;
  let stage = "";
  const r = await runAblation(
    o,
    {
      log: (l) => (bar ? bar.message(`msae: ${l}`) : process.stderr.write(`msae: ${l}\n`)),
      progress: (s, done, total) => {
        if (s !== stage) {
          bar?.stop();
          stage = s;
          bar = new RateProgress(s, total, { unit: s.startsWith("eval") ? "contexts" : "tok" });
        }
        bar!.update(done, total);
      },
    },
    getBackend(),
  );
  (bar as RateProgress | null)?.stop();
  const md = readFileSync(join(r.report.dir, "table.md"), "utf8");
  // The short table: the mean over layers (or the one layer) without the paper's.
  const section = (
    md.includes("## Mean over the layers")
      ? md.split("## Mean over the layers")[1]
      : md.split(`## ${r.setup.hooks[0]}`)[1]
  ).split("\n## ")[0];
  const table = section
    .split("\n")
    .filter((l) => l.startsWith("|"))
    .map((l) => `${l.split("|").slice(0, 7).join("|")}|`);
  process.stdout.write(
    `\n${r.setup.hooks.length > 1 ? `Mean over layers ${r.setup.layers.join(", ")}` : r.setup.hooks[0]} (${r.setup.seeds.length} seed${r.setup.seeds.length > 1 ? "s" : ""}):\n${table.join("\n")}\n\n` +
      `report: ${join(r.report.dir, "index.html")}  (table.md, table.csv, results.json, ${r.report.files.filter((f) => f.endsWith(".svg")).length} charts)\n` +
      `total ${formatSeconds((performance.now() - t0) / 1000)}\n`,
  );
}

function archList(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const list = v.split(",").map((s) => s.trim());
  for (const a of list)
    if (!isSaeArch(a)) throw badOption("--archs", v, `a comma-separated list of ${ABLATION_ARCHS.join(", ")}, gated`);
  return list;
}

export function register(program: Command): void {
  program
    .command("ablate")
    .description(
      "the paper's Table 1: harvest, train the paper's five architectures and the baselines on three layers, evaluate, report",
    )
    .option("--model <dir>", "model folder", defaultModelDir)
    .option("--data <spec>", "training corpus (repeatable)", collect)
    .option("--eval-data <spec>", "held-out corpus (repeatable; default brown:validation)", collect)
    .option(
      "--ood-data <spec>",
      "out-of-distribution corpus, reported separately (default nlp-corpus; none: --no-ood)",
      collect,
    )
    .option("--no-ood", "skip the out-of-distribution evaluation")
    .option("--layers <list>", "auto (the paper's relative depths) or block numbers", "auto")
    .option("--seeds <n>", "seeds per architecture", "3")
    .option("--recipe <name>", "default or paper", "default")
    .option(
      "--archs <list>",
      "architectures (default: the five paper ones + relu, topk, batchtopk, jumprelu, matryoshka)",
    )
    .option("--tokens <n>", "tokens harvested and trained on", "1000000")
    .option("--train-tokens <n>", "training tokens per SAE (default --tokens)")
    .option("--eval-tokens <n>", "evaluation tokens per corpus", "32768")
    .option("--context <n>", "context length", "128")
    .option("--expansion <x>", "dictionary size m = d * x", "1")
    .option("--l1 <x>", "sparsity coefficient (default per architecture)")
    .option("--l2 <x>", "orthogonality coefficient")
    .option("--k <n>", "active latents for the TopK family")
    .option("--batch-size <n>", "SAE micro-batch rows (paper: 2048)", "2048")
    .option("--micro-batches <n>", "micro-batches per optimizer step (paper: 4)", "4")
    .option("--dtype <type>", "stored activations: f32, bf16 or f16", "f32")
    .option("--precision <p>", "model forward (harvest and spliced eval): f32, or bf16 (bf16 weights and GEMMs)", "f32")
    .option("--out <dir>", "run folder", "runs/ablate")
    .action(async (raw: Record<string, string | string[] | boolean | undefined>) => {
      await run(
        parseAblateOptions({
          model: raw.model,
          data: raw.data,
          evalData: raw.evalData,
          oodData: raw.ood === false ? [] : raw.oodData,
          layers: raw.layers,
          seeds: num("--seeds", raw.seeds as string),
          recipe: raw.recipe,
          archs: archList(raw.archs as string | undefined),
          tokens: num("--tokens", raw.tokens as string),
          trainTokens: num("--train-tokens", raw.trainTokens as string | undefined),
          evalTokens: num("--eval-tokens", raw.evalTokens as string),
          context: num("--context", raw.context as string),
          expansion: num("--expansion", raw.expansion as string),
          l1: num("--l1", raw.l1 as string | undefined),
          l2: num("--l2", raw.l2 as string | undefined),
          k: num("--k", raw.k as string | undefined),
          batchSize: num("--batch-size", raw.batchSize as string),
          microBatches: num("--micro-batches", raw.microBatches as string),
          dtype: raw.dtype,
          precision: raw.precision,
          out: raw.out,
        }),
      );
    });

  program
    .command("demo")
    .description("the main job: one seed of the Table 1 ablation on the shipped model and Brown (minutes, no download)")
    .option("--out <dir>", "run folder", "runs/demo")
    .action(async (raw: { out: string }) => {
      await run(parseAblateOptions({ model: defaultModelDir, ...DEMO, out: raw.out }, "msae demo"));
    });
}
