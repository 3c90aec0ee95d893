/**
 * `msae features`: per-feature JSON and a static site (src/report/features/).
 *   msae features --sae runs/<name>/sae/<arch>/<hook> --acts runs/<name>/acts/<hook> [--tokens n]
 *   msae features --sae <folder> --model <dir> --data brown:validation [--tokens n] --out <dir>
 * Thin: parse and validate options, load the SAE and the source, call runFeatures.
 */
import { basename, dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { parseFeaturesOptions } from "../config/features.ts";
import { getBackend } from "../core/backends/index.ts";
import { formatSeconds } from "../lm/train/progress.ts";
import { runFeatures } from "../report/features/run.ts";
import { openFeatureSource } from "../report/features/source.ts";
import { BASELINE_FACTORIES } from "../sae/baselines/index.ts";
import { loadSae } from "../sae/load.ts";
import { PAPER_FACTORIES } from "../sae/paper/index.ts";
import { UsageError } from "./errors.ts";
import { RateProgress } from "./progress.ts";

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/** runs/<name>/sae/<arch>/<hook> -> runs/<name>/features/<arch>/<hook>; null for other layouts. */
export function defaultFeaturesOut(saeFolder: string): string | null {
  const hookDir = resolve(saeFolder);
  const archDir = dirname(hookDir);
  const saeDir = dirname(archDir);
  if (basename(saeDir) !== "sae") return null;
  return join(dirname(saeDir), "features", basename(archDir), basename(hookDir));
}

export function register(program: Command): void {
  program
    .command("features")
    .description("feature pages: top contexts by quantile band, histogram, density, logit effects, neighbours")
    .requiredOption("--sae <folder>", "SAELens SAE folder (cfg.json, sae_weights.safetensors)")
    .option("--acts <store>", "activation store folder (runs/<name>/acts/<hook>)")
    .option("--model <dir>", "model folder (with --data; with --acts: default the store's own)")
    .option("--data <spec>", "corpus to run the model over (repeatable): brown:validation, a file or folder", collect)
    .option("--hook <name>", "hook (default: the SAE's hook_name)")
    .option("--tokens <n>", "positions to read (default: the whole store; 100000 with --model)")
    .option("--context <n>", "context length with --model (default: the SAE's context_size or 128)")
    .option("--llm-batch <n>", "contexts per model forward with --model", "24")
    .option("--out <dir>", "output folder (default runs/<name>/features/<arch>/<hook> beside the SAE's run)")
    .option("--top <n>", "top activating contexts per feature", "20")
    .option("--samples <n>", "random samples per quantile band", "8")
    .option("--bands <levels>", "quantile levels cutting the nonzero activations into bands", "0,0.5,0.9,0.99")
    .option("--before <n>", "tokens shown before the activating token", "16")
    .option("--after <n>", "tokens shown after it", "6")
    .option("--bins <n>", "histogram bins", "40")
    .option("--logits <n>", "promoted / suppressed tokens per feature", "10")
    .option("--neighbours <n>", "nearest features by decoder cosine", "10")
    .option("--batch-rows <n>", "rows per SAE forward", "2048")
    .option("--seed <n>", "seed of the band sampling", "0")
    .option("--backend <name>", "auto, native or ref", "auto")
    .action(async (raw: Record<string, unknown>) => {
      const o = parseFeaturesOptions(raw);
      const out = o.out ?? defaultFeaturesOut(o.sae);
      if (!out) throw new UsageError(`--out is needed: ${o.sae} is not under runs/<name>/sae/<arch>/<hook>`);
      const backend = getBackend(o.backend);
      const loaded = loadSae<Float32Array>(o.sae, { ...PAPER_FACTORIES, ...BASELINE_FACTORIES }, backend, {
        arrayType: "f32",
      });
      const meta = loaded.cfg.metadata;
      const src = openFeatureSource({
        acts: o.acts,
        model: o.model,
        data: o.data,
        saeHook: typeof meta.hook_name === "string" ? meta.hook_name : null,
        saeD: loaded.sae.hyper.d,
        hook: o.hook,
        tokens: o.tokens,
        context: o.context,
        saeContext: typeof meta.context_size === "number" ? meta.context_size : null,
        llmBatch: o.llmBatch,
        backend,
      });
      const { d, m } = loaded.sae.hyper;
      const title = `${loaded.sae.arch} SAE (d ${d}, m ${m}) on ${src.hook} of ${src.model.info.source}`;
      const bar = new RateProgress("features", 2 * src.contexts * src.contextSize);
      bar.message(
        `features: ${title} | ${src.contexts} contexts x ${src.contextSize} tokens, two passes${o.acts ? "" : " (the model runs twice)"} -> ${out}`,
      );
      try {
        const r = await runFeatures({
          source: src.source,
          hookIndex: src.hookIndex,
          contexts: src.contexts,
          contextSize: src.contextSize,
          sae: loaded.sae,
          scale: loaded.scale,
          model: src.model,
          backend,
          options: {
            top: o.top,
            bandLevels: o.bands,
            bandSamples: o.samples,
            before: o.before,
            after: o.after,
            histogramBins: o.bins,
            batchRows: o.batchRows,
            seed: o.seed,
          },
          logitCount: o.logits,
          neighbourCount: o.neighbours,
          out,
          title,
          facts: { sae: resolve(o.sae), arch: loaded.sae.arch, ...src.facts },
          onProgress: (pass, done) => bar.update(((pass - 1) * src.contexts + done) * src.contextSize),
        });
        bar.stop();
        const alive = r.summaries.filter((s) => s.density > 0).length;
        const s = r.seconds;
        process.stdout.write(
          `features: ${m} features (${alive} alive) over ${r.stats.tokens} tokens; ${r.files} files in ${out}\n` +
            `  passes ${formatSeconds(s.passes)}, logits ${formatSeconds(s.logits)}, neighbours ${formatSeconds(s.neighbours)}, ` +
            `write ${formatSeconds(s.write)}; per-feature memory ${(r.stats.bytes / 2 ** 20).toFixed(1)} MB\n` +
            `  open ${join(out, "index.html")}\n`,
        );
      } finally {
        bar.stop();
      }
    });
}
