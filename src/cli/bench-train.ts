/**
 * `msae bench train [--json]`: Gemma-2 LM training-step tokens/s (the step of `msae lm train`:
 * forward, cross-entropy, backward, clipping at 1.0, AdamW) next to a PyTorch CPU peer doing the
 * same step from the same weights on the same batch (bench/train.ts, bench/torch_train.py), on
 * the default model (models/tiny-gemma2) or --model. The peer runs as installed and with the
 * widest OpenBLAS core that passes; the ratio is against the faster (torch_core). Prints a table
 * (or JSON: {"cases": [{name, msae_tok_s, torch_tok_s, ratio, torch_core, loss_abs_diff, ...}], ...}).
 */
import type { Command } from "commander";
import { DEFAULT_TRAIN_BENCH, formatTrainBench, runTrainBench } from "../../bench/train.ts";
import { getBackend } from "../core/backends/index.ts";
import { atomicWriteJson } from "../io/atomic.ts";
import { parseIntOption, UsageError } from "./errors.ts";

interface BenchTrainOpts {
  json?: boolean;
  batch: string;
  seq: string;
  steps: string;
  warmup: string;
  torch: boolean;
  python: string;
  model: string;
  profile?: boolean;
  out?: string;
}

export function registerBenchTrain(bench: Command): void {
  bench
    .command("train")
    .description("LM training-step tokens/s vs a PyTorch CPU peer doing the same step from the same weights")
    .option("--json", "print the results as JSON")
    .option("--batch <n>", "contexts per step", `${DEFAULT_TRAIN_BENCH.batch}`)
    .option("--seq <n>", "tokens per context (at most the model's context)", `${DEFAULT_TRAIN_BENCH.seq}`)
    .option("--steps <n>", "timed steps per side (the best counts)", `${DEFAULT_TRAIN_BENCH.steps}`)
    .option("--warmup <n>", "untimed steps first", `${DEFAULT_TRAIN_BENCH.warmup}`)
    .option("--no-torch", "skip the PyTorch column")
    .option("--python <path>", "Python with torch for the peer", DEFAULT_TRAIN_BENCH.python)
    .option("--model <dir>", "model folder whose weights both sides start from", DEFAULT_TRAIN_BENCH.modelDir)
    .option("--profile", "time each msae kernel of one extra step")
    .option("--out <file>", "also write the JSON result to this file")
    .action(async (opts: BenchTrainOpts) => {
      const backend = getBackend();
      if (backend.name !== "native")
        throw new UsageError("msae bench train needs the native backend (the addon is not built or MSAE_BACKEND=ref)");
      const log = (line: string) => process.stderr.write(`msae bench train: ${line}\n`);
      const result = await runTrainBench({
        batch: parseIntOption("--batch", opts.batch, 1, 4096),
        seq: parseIntOption("--seq", opts.seq, 2, 1 << 16),
        steps: parseIntOption("--steps", opts.steps, 1, 1000),
        warmup: parseIntOption("--warmup", opts.warmup, 0, 1000),
        torch: opts.torch,
        python: opts.python,
        modelDir: opts.model,
        profile: opts.profile ?? false,
        backend,
        log: opts.json ? () => {} : log,
      });
      if (opts.out) atomicWriteJson(opts.out, result);
      if (opts.json) {
        for (const s of result.skipped) log(s);
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } else {
        process.stdout.write(formatTrainBench(result));
        if (opts.out) process.stdout.write(`wrote ${opts.out}\n`);
      }
    });
}
