/**
 * `msae eval`: every metric of DESIGN.md s.3 for one SAE folder (ours or SAELens's).
 *   msae eval --sae <folder> [--model <dir>] [--data <spec>]... [--tokens n] [--json]
 *   msae eval --sae <folder> --acts <store folder | .safetensors file> [--json]
 * With a model: the reconstruction and sparsity metrics plus the spliced CE / KL metrics on the
 * first ceil(tokens / context) contexts of each --data corpus, one block per corpus (default
 * brown:validation); the loaded-SAE check compares the first corpus's figures with the training
 * ones recorded in cfg.json and prints one line on stderr when they disagree. With --acts: the
 * reconstruction and sparsity metrics on stored activations, no model (the check then diagnoses
 * from the stored rows: the hook recorded vs the store's, a rescaling, else the architecture).
 * --json prints the metrics object (keys exactly the metric names), or { "<spec>": metrics, ... }
 * for several corpora; --out writes the same JSON to a file. Thin: parse and validate options, load, call src/eval/.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { getBackend } from "../core/backends/index.ts";
import { defaultModelDir } from "../core/paths.ts";
import { openCorpus } from "../data/spec.ts";
import { CLEAN_BYTES_PER_LOGIT } from "../eval/ce.ts";
import { checkLoadedSae, checkOnRows, hookOf, trainingFigures } from "../eval/check.ts";
import { DEFAULT_EVAL_TOKENS, type EvalReport, evaluateSae } from "../eval/evaluate.ts";
import { formatMetrics, type ReconMetrics, type SaeMetrics } from "../eval/metrics.ts";
import { chunkOfSafetensors, evaluateOnChunks, evaluateOnStore } from "../eval/stored.ts";
import type { ActChunk } from "../harvest/activations.ts";
import { MANIFEST } from "../harvest/manifest.ts";
import { openStore } from "../harvest/store.ts";
import { atomicWriteJson } from "../io/atomic.ts";
import { loadModel } from "../lm/loader.ts";
import { PRECISIONS, type Precision } from "../lm/precision.ts";
import { loadSae } from "../sae/load.ts";
import { SAE_FACTORIES } from "../sae/registry.ts";
import { badOption, parseIntOption, UsageError } from "./errors.ts";
import { RateProgress } from "./progress.ts";

const DIAGNOSE_ROWS = 256;
const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

interface EvalCliOptions {
  sae: string;
  model: string;
  data?: string[];
  acts?: string;
  hook?: string;
  tokens: string;
  context?: string;
  batch?: string;
  zeroAllPositions?: boolean;
  check: boolean;
  allowNonfinite?: boolean;
  json?: boolean;
  out?: string;
  backend: string;
  precision: string;
}

function writeJson(path: string, body: unknown): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  atomicWriteJson(path, body);
}

/** The store folder for --acts: a store, or runs/<name>[/acts] holding the SAE's hook. */
function storeDirFor(path: string, hook: string | null): string {
  if (existsSync(join(path, MANIFEST))) return path;
  for (const d of hook ? [join(path, "acts", hook), join(path, hook)] : []) if (existsSync(join(d, MANIFEST))) return d;
  return path; // openStore names what is missing
}

export function register(program: Command): void {
  program
    .command("eval")
    .description("evaluate an SAE folder: reconstruction, sparsity and spliced CE / KL metrics (DESIGN.md s.3)")
    .requiredOption("--sae <folder>", "SAE folder (cfg.json + sae_weights.safetensors; ours or SAELens's)")
    .option("--model <dir>", "Hugging Face model folder", defaultModelDir)
    .option(
      "--data <spec>",
      "corpus (repeatable, one block each): brown:validation (default), nlp-corpus, brown:train, a file or folder",
      collect,
    )
    .option(
      "--acts <path>",
      "stored activations instead of the model: a store folder (or run folder) or a .safetensors file",
    )
    .option("--hook <name>", "hook to evaluate at (default cfg.json metadata.hook_name)")
    .option(
      "--tokens <n>",
      "positions per corpus (contexts = ceil(n / context)); with --acts, rows",
      String(DEFAULT_EVAL_TOKENS),
    )
    .option("--context <n>", "context length (default cfg.json metadata.context_size, else 128)")
    .option("--batch <n>", "contexts per forward (default 8, fewer for large vocabularies)")
    .option(
      "--zero-all-positions",
      "zero-ablate BOS/EOS/PAD positions too for ce_zero (default: the positions the SAE replaces)",
    )
    .option("--no-check", "skip the loaded-SAE check")
    .option("--allow-nonfinite", "load an SAE whose weights hold NaN / Inf anyway (forensics; a warning line)")
    .option("--json", "print the metrics as JSON")
    .option("--out <file>", "also write the JSON to this file (atomically), e.g. runs/<name>/eval/<arch>.json")
    .option("--backend <name>", "auto, native or ref", "auto")
    .option("--precision <p>", "model forward: f32, or bf16 (bf16 weights and GEMMs, fp32 accumulation)", "f32")
    .action(async (o: EvalCliOptions) => {
      if (!(PRECISIONS as readonly string[]).includes(o.precision))
        throw badOption("--precision", o.precision, PRECISIONS.join(" or "));
      if (o.acts !== undefined && o.precision !== "f32")
        throw new UsageError(
          `--precision ${o.precision} sets the model forward, and --acts runs no model; expected one of them`,
        );
      if (!["auto", "native", "ref"].includes(o.backend))
        throw badOption("--backend", o.backend, "auto, native or ref");
      const backend = getBackend(o.backend as "auto" | "native" | "ref");
      const loaded = loadSae<Float32Array>(o.sae, SAE_FACTORIES, backend, {
        arrayType: "f32",
        allowNonFinite: o.allowNonfinite ?? false,
      });
      if (o.allowNonfinite)
        process.stderr.write(
          `eval: ${o.sae}: --allow-nonfinite: non-finite weights are not refused; metrics may be NaN\n`,
        );
      for (const n of loaded.notes) process.stderr.write(`eval: ${o.sae}: ${n}\n`);
      const tokens = parseIntOption("--tokens", o.tokens, 1);
      const meta = loaded.cfg.metadata;
      const batch = o.batch === undefined ? undefined : parseIntOption("--batch", o.batch, 1);
      const out = (metrics: SaeMetrics | ReconMetrics, title: string) =>
        process.stdout.write(`${title}\n${formatMetrics(metrics)}\n`);

      if (o.acts !== undefined) {
        if (o.data !== undefined) throw new UsageError("--acts and --data both given: expected one of them");
        const hook = o.hook ?? (typeof meta.hook_name === "string" ? meta.hook_name : null);
        const isFile = existsSync(o.acts) && statSync(o.acts).isFile();
        const contextSize = o.context === undefined ? 128 : parseIntOption("--context", o.context, 1);
        let r: Awaited<ReturnType<typeof evaluateOnStore>>;
        let source = o.acts;
        let head: ActChunk | null = null; // the first rows, for the check's diagnosis
        let actsHook = hook ?? "the stored activations";
        if (isFile) {
          if (!o.acts.endsWith(".safetensors"))
            throw new UsageError(`--acts ${o.acts}: expected a store folder or a .safetensors file`);
          const chunk = chunkOfSafetensors(o.acts, contextSize);
          head = chunk;
          r = await evaluateOnChunks([chunk], loaded.sae, {
            scale: loaded.scale,
            tokens,
            batch,
            contextSize,
            d: chunk.acts[0].length / Math.max(1, chunk.rows),
          });
        } else {
          const store = openStore(storeDirFor(o.acts, hook));
          source = store.dir;
          actsHook = store.hook;
          if (hook && store.hook !== hook)
            process.stderr.write(`eval: note: the store holds ${store.hook} but the SAE is for ${hook}\n`);
          if (store.manifest.keep_special)
            process.stderr.write("eval: note: the store kept BOS/EOS/PAD positions; they are included\n");
          r = await evaluateOnStore(store, loaded.sae, { scale: loaded.scale, tokens, batch });
          if (o.check && trainingFigures(loaded.cfg) && store.manifest.shards.length > 0) head = store.readShard(0);
        }
        if (o.check && head) {
          const n = Math.min(DIAGNOSE_ROWS, head.rows);
          const x = head.acts[0].subarray(0, n * loaded.sae.hyper.d);
          const c = checkOnRows(loaded, r.metrics, actsHook, x, n, o.sae);
          if (c.line) process.stderr.write(`${c.line}\n`);
        }
        if (o.out) writeJson(o.out, r.metrics);
        if (o.json) process.stdout.write(`${JSON.stringify(r.metrics, null, 2)}\n`);
        else out(r.metrics, `${o.sae} on ${source}: ${r.tokens} rows`);
        return;
      }

      const specs = o.data ?? ["brown:validation"];
      const corpora = specs.map((s) => {
        try {
          return openCorpus(s);
        } catch (e) {
          throw new UsageError(`--data: ${(e as Error).message}`);
        }
      });
      const model = loadModel(o.model, { backend, precision: o.precision as Precision });
      const hook = hookOf(loaded, o.hook);
      const fromCfg = typeof meta.context_size === "number" ? meta.context_size : 128;
      const contextSize =
        o.context === undefined
          ? Math.min(fromCfg, model.dims.contextLength)
          : parseIntOption("--context", o.context, 2);
      const V = model.dims.vocabSize;
      const autoBatch = Math.max(1, Math.min(8, Math.floor(2 ** 28 / (contextSize * V * CLEAN_BYTES_PER_LOGIT))));
      const results: Record<string, SaeMetrics> = {};
      for (const [i, corpus] of corpora.entries()) {
        const total = Math.ceil(tokens / contextSize);
        const bar = new RateProgress(`eval ${corpus.spec}`, total * contextSize);
        let r: EvalReport<SaeMetrics>;
        try {
          r = await evaluateSae(model, loaded.sae, corpus, {
            hook,
            scale: loaded.scale,
            tokens,
            contextSize,
            batch: batch ?? autoBatch,
            zeroAllPositions: o.zeroAllPositions,
            onBatch: (done) => bar.update(done * contextSize, total * contextSize),
          });
        } finally {
          bar.stop();
        }
        results[corpus.spec] = r.metrics;
        if (i === 0 && o.check) {
          const c = await checkLoadedSae(model, loaded, corpus, {
            hook,
            contextSize,
            name: o.sae,
            measured: { l0: r.metrics.l0, explained_variance: r.metrics.explained_variance },
          });
          if (c.line) process.stderr.write(`${c.line}\n`);
        }
        if (!o.json)
          out(
            r.metrics,
            `${i > 0 ? "\n" : ""}${o.sae} at ${hook} on ${corpus.spec}: ${r.tokens} tokens (${r.contexts} contexts of ${r.contextSize}), ${r.ceTokens} CE-scored`,
          );
      }
      const body = specs.length === 1 ? results[corpora[0].spec] : results;
      if (o.out) writeJson(o.out, body);
      if (o.json) process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    });
}
