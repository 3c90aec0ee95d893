/**
 * `msae sae inspect <folder>`: what an SAELens folder (ours or anyone's, v5 or v6 cfg.json) holds:
 * architecture (SAELens's and the msae one it loads as), widths, dtype, where it came from,
 * training figures, a check of the standard tensors' shapes, sparsity summary and the tensor table.
 * Exit 1 when the tensors disagree with cfg.json or the architecture cannot be loaded here.
 */
import type { Command } from "commander";
import { describeSaeFolder, formatSaeFolder } from "../sae/describe.ts";

export function registerSae(program: Command): void {
  const sae = program.command("sae").description("sparse autoencoder folders (SAELens format)");
  sae
    .command("inspect")
    .description("show what an SAELens folder (cfg.json + sae_weights.safetensors) holds")
    .argument("<folder>", "an SAE folder: cfg.json, sae_weights.safetensors, optional sparsity.safetensors")
    .option("--json", "print the description as JSON")
    .action((folder: string, opts: { json?: boolean }) => {
      const d = describeSaeFolder(folder);
      process.stdout.write(opts.json ? `${JSON.stringify(d, null, 2)}\n` : `${formatSaeFolder(d)}\n`);
      if (d.problem || d.archProblem) process.exitCode = 1;
    });
}
