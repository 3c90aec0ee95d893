/**
 * `msae bench <what>`: benchmarks measure, print a table and write JSON (DESIGN.md s.6). This file
 * only parses options; the benchmark logic lives under bench/. Subcommands: `kernels`, `lm`, `sae`, `train`, `harvest`,
 * `explorer`.
 */
import type { Command } from "commander";
import { formatKernelTable, runKernelBench } from "../../bench/kernels.ts";
import { atomicWriteJson } from "../io/atomic.ts";
import { registerBenchExplorer } from "./bench-explorer.ts";
import { registerBenchHarvest } from "./bench-harvest.ts";
import { registerBenchLm } from "./bench-lm.ts";
import { registerBenchSae } from "./bench-sae.ts";
import { registerBenchTrain } from "./bench-train.ts";
import { badOption, parseIntOption } from "./errors.ts";

/** "m,n,k" -> three integers >= 1. */
export function parseSize(value: string): [number, number, number] {
  const parts = value.split(",").map((s) => s.trim());
  const dims = parts.map(Number);
  if (
    dims.length !== 3 ||
    parts.some((s) => s === "") ||
    !dims.every((d) => Number.isInteger(d) && d >= 1 && d <= 65536)
  ) {
    throw badOption("--size", value, "three integers m,n,k in [1, 65536], e.g. 2048,2304,2304");
  }
  return [dims[0], dims[1], dims[2]];
}

interface KernelsOptions {
  json?: boolean;
  reps: string;
  size: string;
  out?: string;
  torch: boolean;
}

function registerKernels(bench: Command): void {
  bench
    .command("kernels")
    .description("fp32 GEMM (NN, NT, TN) against the measured FMA peak, msae's own GEMM and PyTorch")
    .option("--json", "print the result as JSON only")
    .option("--reps <n>", "timed repetitions per measurement (best is kept)", "5")
    .option("--size <m,n,k>", "GEMM shape", "2048,2304,2304")
    .option("--out <file>", "also write the JSON result to this file")
    .option("--no-torch", "skip the PyTorch column")
    .action(async (opts: KernelsOptions) => {
      const reps = parseIntOption("--reps", opts.reps, 1, 1000);
      const size = parseSize(opts.size);
      const result = await runKernelBench({
        reps,
        size,
        torch: opts.torch,
        log: opts.json ? undefined : (line) => process.stderr.write(`msae bench: ${line}\n`),
      });
      if (opts.out) atomicWriteJson(opts.out, result);
      if (opts.json) {
        if (result.torch_skipped && opts.torch)
          process.stderr.write(`msae bench: PyTorch column skipped: ${result.torch_skipped}\n`);
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } else {
        process.stdout.write(formatKernelTable(result));
        if (opts.out) process.stdout.write(`wrote ${opts.out}\n`);
      }
    });
}

export function register(program: Command): void {
  const bench = program
    .command("bench")
    .description("benchmarks: measure, print a table, write JSON (compare only figures from one run)");
  registerKernels(bench);
  registerBenchLm(bench);
  registerBenchSae(bench);
  registerBenchTrain(bench);
  registerBenchHarvest(bench);
  registerBenchExplorer(bench);
}
