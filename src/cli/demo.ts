/**
 * `msae demo`: the main job. It will run the whole pipeline (default model + Brown -> activations ->
 * SAEs -> evaluation -> report) once the SAE-side issues land; until then it says so plainly.
 */
import type { Command } from "commander";
import { getBackend } from "../core/backends/index.ts";

export function register(program: Command): void {
  program
    .command("demo")
    .description("run the whole pipeline on the embedded default model and corpus (not complete yet)")
    .action(() => {
      const be = getBackend();
      process.stdout.write(
        `msae demo: the engine is ready (backend: ${be.name}); the end-to-end pipeline (harvest, SAE training, evaluation, report) is not built yet.\n` +
          "Available now: `msae inspect`, `msae lm eval`, `msae lm generate --prompt ...`, `msae lm train`, " +
          "`msae tokenizer train`, `msae bench kernels`, `msae bench lm` (see README.md).\n",
      );
    });
}
