/**
 * `msae bench sae [--json]`: train-step tokens/s of every SAE architecture next to a PyTorch CPU
 * peer doing the same step on the same inputs (bench/sae.ts, bench/torch_sae.py), the peer run
 * as installed and with the widest OpenBLAS core that passes (ratio against the faster).
 * Prints a table (or JSON: {"cases": [{name, msae_tok_s, torch_tok_s, ratio, torch_core, ...}], ...}).
 */
import type { Command } from "commander";
import { DEFAULT_SAE_BENCH, formatSaeBench, runSaeBench, type SaeBenchShape } from "../../bench/sae.ts";
import { getBackend } from "../core/backends/index.ts";
import { atomicWriteJson } from "../io/atomic.ts";
import { isSaeArch, SAE_ARCHS, type SaeArch } from "../sae/types.ts";
import { badOption, parseIntOption, UsageError } from "./errors.ts";

export interface BenchSaeRawOpts {
  json?: boolean;
  arch: string;
  shape: string;
  steps: string;
  warmup: string;
  reps: string;
  seed: string;
  torch: boolean;
  python: string;
  out?: string;
}

export interface BenchSaeParsed {
  archs: SaeArch[];
  shape: SaeBenchShape;
  steps: number;
  warmup: number;
  reps: number;
  seed: number;
}

/** Validates the options (one UsageError line naming the bad one). */
export function parseBenchSaeOptions(o: BenchSaeRawOpts): BenchSaeParsed {
  const names = o.arch === "all" ? [...SAE_ARCHS] : o.arch.split(",").map((s) => s.trim());
  const bad = names.filter((a) => !isSaeArch(a));
  if (bad.length > 0 || names.length === 0)
    throw badOption("--arch", o.arch, `"all" or a comma-separated subset of ${SAE_ARCHS.join(", ")}`);
  if (o.shape !== "paper" && o.shape !== "wide" && o.shape !== "all")
    throw badOption("--shape", o.shape, '"paper" (d = m = 2304), "wide" (d 512, m 16384, TopK family) or "all"');
  return {
    archs: names as SaeArch[],
    shape: o.shape,
    steps: parseIntOption("--steps", o.steps, 1, 1000),
    // the first warmup step is the one whose loss both sides compare
    warmup: parseIntOption("--warmup", o.warmup, 1, 1000),
    reps: parseIntOption("--reps", o.reps, 1, 100),
    seed: parseIntOption("--seed", o.seed, 0, 2 ** 31 - 1),
  };
}

export function registerBenchSae(bench: Command): void {
  bench
    .command("sae")
    .description("SAE train-step tokens/s per architecture vs a PyTorch CPU peer doing the same step")
    .option("--json", "print the results as JSON")
    .option("--arch <list>", "architectures (comma-separated) or all", "all")
    .option("--shape <s>", "paper (d = m = 2304, batch 2048), wide (d 512, m 16384, batch 4096) or all", "all")
    .option("--steps <n>", "timed steps per run", `${DEFAULT_SAE_BENCH.steps}`)
    .option(
      "--warmup <n>",
      "untimed steps first (>= 1; the first one's loss is compared)",
      `${DEFAULT_SAE_BENCH.warmup}`,
    )
    .option("--reps <n>", "runs per side, alternating (the best counts)", `${DEFAULT_SAE_BENCH.reps}`)
    .option("--seed <n>", "seed of the inputs' generator", `${DEFAULT_SAE_BENCH.seed}`)
    .option("--no-torch", "skip the PyTorch columns")
    .option("--python <path>", "Python with torch for the peer", DEFAULT_SAE_BENCH.python)
    .option("--out <file>", "also write the JSON result to this file")
    .action(async (opts: BenchSaeRawOpts) => {
      const parsed = parseBenchSaeOptions(opts);
      const backend = getBackend();
      if (backend.name !== "native")
        throw new UsageError("msae bench sae needs the native backend (the addon is not built or MSAE_BACKEND=ref)");
      const log = (line: string) => process.stderr.write(`msae bench sae: ${line}\n`);
      const result = await runSaeBench({
        ...parsed,
        torch: opts.torch,
        python: opts.python,
        backend,
        log: opts.json ? () => {} : log,
      });
      if (opts.out) atomicWriteJson(opts.out, result);
      if (opts.json) {
        for (const s of result.skipped) log(s);
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } else {
        process.stdout.write(formatSaeBench(result));
        if (opts.out) process.stdout.write(`wrote ${opts.out}\n`);
      }
    });
}
