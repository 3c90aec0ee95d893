/**
 * `msae bench explorer [--json] [--model <dir>] [--run <dir> --sae <arch>/<hook>] [--tokens 64]`:
 * the live explorer's load and per-text time in headless Chromium next to the same engine in Node
 * (bench/explorer.ts). Needs Debian's chromium and playwright-core (a dev dependency).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { getBackend } from "../core/backends/index.ts";
import { defaultModelDir } from "../core/paths.ts";
import { atomicWriteJson } from "../io/atomic.ts";
import { parseIntOption, UsageError } from "./errors.ts";

interface Opts {
  json?: boolean;
  model: string;
  run?: string;
  sae?: string;
  tokens: string;
  reps: string;
  out?: string;
}

export function registerBenchExplorer(bench: Command): void {
  bench
    .command("explorer")
    .description("the live explorer in headless Chromium: load time and time per 64-token text, vs Node")
    .option("--json", "print the result as JSON")
    .option("--model <dir>", "model folder", defaultModelDir)
    .option("--run <dir>", "run folder holding the SAE (default: a random topk SAE in a temp folder)")
    .option("--sae <id>", "<arch>/<hook> of an SAE under <run>/sae/ (with --run)")
    .option("--tokens <n>", "text length in tokens (BOS added)", "64")
    .option("--reps <n>", "timed runs (best and median kept)", "10")
    .option("--out <file>", "also write the JSON result to this file")
    .action(async (opts: Opts) => {
      const tokens = parseIntOption("--tokens", opts.tokens, 1, 100_000);
      const reps = parseIntOption("--reps", opts.reps, 1, 1000);
      if ((opts.run === undefined) !== (opts.sae === undefined))
        throw new UsageError("--run and --sae go together: --run runs/<name> --sae <arch>/<hook>");
      if (opts.run && !existsSync(join(opts.run, "sae", ...(opts.sae as string).split("/"), "cfg.json")))
        throw new UsageError(`--sae ${opts.sae}: no ${join(opts.run, "sae", opts.sae as string, "cfg.json")}`);
      if (!existsSync(join(opts.model, "model.safetensors")))
        throw new UsageError(`--model ${opts.model}: expected a model folder with model.safetensors`);
      let mod: typeof import("../../bench/explorer.ts");
      try {
        mod = await import("../../bench/explorer.ts");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND" && /playwright/.test((e as Error).message))
          throw new Error("msae bench explorer needs playwright-core (npm install --include=dev) and chromium");
        throw e;
      }
      const r = await mod.runExplorerBench({
        modelDir: opts.model,
        run: opts.run ?? null,
        sae: opts.sae ?? null,
        tokens,
        reps,
        backend: getBackend(),
        log: opts.json ? undefined : (l) => process.stderr.write(`msae bench explorer: ${l}\n`),
      });
      if (opts.out) atomicWriteJson(opts.out, r);
      process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : mod.formatExplorerBench(r));
    });
}
