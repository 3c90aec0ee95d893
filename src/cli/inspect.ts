/**
 * `msae inspect [model folder | file.safetensors]` (default: the shipped models/tiny-gemma2): what a model folder holds (architecture,
 * parameters, layers, widths, heads, vocabulary, context, hook names, weight check, tensor table)
 * or, for a bare .safetensors / index .json, its metadata and tensor table, plus the loader's checks
 * (values NaN / Inf scan, tokenizer.json, special ids, run completion: src/lm/describe.ts).
 * Exit 1 when a check fails or the folder's weights disagree with its config (the problem is printed).
 */
import type { Command } from "commander";
import { defaultModelDir } from "../core/paths.ts";
import { describePath, firstProblem, formatDescription, hasProblem } from "../lm/describe.ts";

export function register(program: Command): void {
  program
    .command("inspect")
    .description("show a model folder's architecture, hooks and tensors, or a .safetensors file's tensors")
    .argument("[path]", "a Hugging Face model folder (config.json + weights) or a .safetensors file", defaultModelDir)
    .option("--json", "print the description as JSON")
    .option("--no-scan", "skip the NaN / Inf scan of the tensor data (it reads every tensor)")
    .action((path: string, opts: { json?: boolean; scan: boolean }) => {
      const d = describePath(path, { scanValues: opts.scan });
      process.stdout.write(opts.json ? `${JSON.stringify(d, null, 2)}\n` : `${formatDescription(d)}\n`);
      if (hasProblem(d)) {
        // the report has every check on its own line; stderr gets the first failure, as one line
        process.stderr.write(`msae: ${firstProblem(d)}\n`);
        process.exitCode = 1;
      }
    });
}
