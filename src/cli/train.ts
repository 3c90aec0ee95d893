/**
 * `msae train`: trains SAEs with the paper's recipe (src/sae/train/, DESIGN.md s.2).
 *   msae train --arch multiscale --acts runs/<name>/acts/<hook> [--l1] [--l2] [--k] [--expansion]
 *              [--seed] [--tokens] [--recipe paper|default] [--out runs/<name>] [--resume]
 *   msae train --arch a,b,c --acts <store1>,<store2>      several SAEs x several hooks on the same batches
 *   msae train --arch relu --model <dir> --data brown:train --hook blocks.3.hook_resid_post --out runs/<name>
 * Writes runs/<name>/sae/<arch>/<hook>/ (SAELens v6 folder, train_log.jsonl, checkpoint/).
 * Thin: parse and validate the flags into the training schema, open the data, call trainSaes.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import { parseSaeTrainConfig, type SaeTrainInput } from "../config/sae-train.ts";
import { getBackend } from "../core/backends/index.ts";
import { badOption, UsageError } from "../core/errors.ts";
import { openCorpora } from "../data/spec.ts";
import { specialIds } from "../harvest/activations.ts";
import { ModelChunkSource } from "../harvest/buffer.ts";
import { resolveHooks } from "../harvest/hooks.ts";
import { type ActivationStore, MultiHookSource, openStore } from "../harvest/store.ts";
import { loadModel } from "../lm/loader.ts";
import { TOPK_FAMILY } from "../sae/registry.ts";
import { type BatchStream, bufferBatches, countStreamRows } from "../sae/train/batches.ts";
import { trainSaes } from "../sae/train/trainer.ts";
import { isSaeArch, PAPER_ARCHS, SAE_ARCHS, type SaeArch } from "../sae/types.ts";
import { RateProgress } from "./progress.ts";

interface RawTrainOptions {
  arch: string;
  acts?: string;
  model?: string;
  data?: string[];
  hook?: string;
  l1?: string;
  l2?: string;
  k?: string;
  expansion?: string;
  seed?: string;
  tokens?: string;
  recipe?: string;
  out?: string;
  resume?: boolean;
  config?: string;
  batchSize?: string;
  backend: string;
}

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

function num(flag: string, v: string | undefined, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n)))
    throw badOption(flag, v, integer ? "an integer" : "a number");
  return n;
}

export function parseArchs(list: string): SaeArch[] {
  const archs = list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (archs.length === 0) throw badOption("--arch", list, `one or more of ${SAE_ARCHS.join(", ")}`);
  for (const a of archs) if (!isSaeArch(a)) throw badOption("--arch", a, `one of ${SAE_ARCHS.join(", ")}`);
  if (new Set(archs).size !== archs.length) throw new UsageError(`--arch ${list} names an architecture twice`);
  return archs as SaeArch[];
}

/** Arch-specific flags must fit at least one arch of the list (one line otherwise). */
export function checkArchFlags(archs: readonly SaeArch[], given: { k: boolean; l1: boolean; l2: boolean }): void {
  const uses = {
    k: (a: SaeArch) => TOPK_FAMILY.includes(a),
    l2: (a: SaeArch) => (PAPER_ARCHS as readonly string[]).includes(a),
    l1: (a: SaeArch) => !TOPK_FAMILY.includes(a),
  };
  const who = {
    k: TOPK_FAMILY.join(", "),
    l2: PAPER_ARCHS.join(", "),
    l1: "every arch but topk, batchtopk, matryoshka",
  };
  for (const f of ["k", "l1", "l2"] as const)
    if (given[f] && !archs.some(uses[f]))
      throw new UsageError(`--${f} does not apply to --arch ${archs.join(",")}: it is for ${who[f]}`);
}

function readConfigFile(path: string): string {
  if (!existsSync(path)) throw new UsageError(`--config ${path}: no such file (give a JSON object or a .json file)`);
  return readFileSync(path, "utf8");
}

/** The run folder of a store runs/<name>/acts/<hook>: runs/<name>. */
function runOfStore(dir: string): string {
  const acts = dirname(resolve(dir));
  return dirname(acts);
}

export function register(program: Command): void {
  program
    .command("train")
    .description("train sparse autoencoders on activation stores (or streaming from a model) with the paper's recipe")
    .requiredOption("--arch <list>", `architectures, comma-separated: ${SAE_ARCHS.join(", ")}`)
    .option("--acts <dirs>", "activation stores runs/<name>/acts/<hook>, comma-separated (one harvest)")
    .option("--model <dir>", "stream activations from this model instead of a store")
    .option("--data <spec>", "corpus to stream (with --model; repeatable)", collect)
    .option("--hook <list>", "hooks to stream (with --model), comma-separated")
    .option("--l1 <x>", "sparsity coefficient (paper archs, relu, gated: L1; jumprelu: L0)")
    .option("--l2 <x>", "orthogonality coefficient (paper archs)")
    .option("--k <n>", "active latents per token (topk, batchtopk, matryoshka)")
    .option("--expansion <x>", "dictionary size over input width (m = d * expansion)")
    .option("--seed <n>", "seed of the init, the buffer order and reactivation")
    .option("--tokens <n>", "tokens to train on (epochs repeat as needed)")
    .option("--recipe <name>", "paper or default (see README)")
    .option("--batch-size <n>", "SAE micro-batch rows (recipe: 2048)")
    .option(
      "--config <json|file>",
      "training config: a JSON object or a .json file (any schema field; flags override it)",
    )
    .option("--out <dir>", "run folder; SAEs go to <out>/sae/<arch>/<hook>/ (default: the store's run)")
    .option("--resume", "continue the run in --out from its last checkpoint")
    .option("--backend <name>", "auto, native or ref", "auto")
    .action(async (raw: RawTrainOptions) => {
      const archs = parseArchs(raw.arch);
      checkArchFlags(archs, { k: raw.k !== undefined, l1: raw.l1 !== undefined, l2: raw.l2 !== undefined });
      let input: Record<string, unknown> = {};
      if (raw.config) {
        const text = raw.config.trim().startsWith("{") ? raw.config : readConfigFile(raw.config);
        try {
          input = JSON.parse(text) as Record<string, unknown>;
        } catch {
          throw new UsageError(`--config is not valid JSON: ${raw.config.slice(0, 60)}`);
        }
        if (!input || typeof input !== "object" || Array.isArray(input))
          throw new UsageError("--config must be a JSON object");
      }
      const sae: Record<string, unknown> = { ...((input.sae as Record<string, unknown>) ?? {}) };
      const set = (o: Record<string, unknown>, key: string, v: unknown) => {
        if (v !== undefined) o[key] = v;
      };
      set(sae, "l1", num("--l1", raw.l1, false));
      set(sae, "l2", num("--l2", raw.l2, false));
      set(sae, "k", num("--k", raw.k, true));
      set(sae, "expansion", num("--expansion", raw.expansion, false));
      set(input, "seed", num("--seed", raw.seed, true));
      set(input, "tokens", num("--tokens", raw.tokens, true));
      set(input, "batchSize", num("--batch-size", raw.batchSize, true));
      set(input, "recipe", raw.recipe);
      input.sae = sae;
      const config = parseSaeTrainConfig(input as SaeTrainInput, "msae train");
      const backend = getBackend(raw.backend as "auto" | "native" | "ref");

      let stream: BatchStream;
      let out: string;
      let info: Record<string, unknown>;
      if (raw.acts !== undefined) {
        if (raw.model !== undefined || raw.data !== undefined || raw.hook !== undefined)
          throw new UsageError("give either --acts (stores) or --model --data --hook (streaming), not both");
        const dirs = raw.acts
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
        if (dirs.length === 0) throw badOption("--acts", raw.acts, "one or more store folders");
        const stores: ActivationStore[] = dirs.map((d) => openStore(d));
        for (const s of stores.slice(1))
          if (s.d !== stores[0].d)
            throw new UsageError(`store ${s.dir} has d = ${s.d} but ${stores[0].dir} has d = ${stores[0].d}`);
        const source = stores.length === 1 ? stores[0] : new MultiHookSource(stores);
        const m0 = stores[0].manifest;
        stream = bufferBatches(source, {
          batchSize: config.batchSize,
          bufferContexts: config.bufferContexts,
          seed: config.seed,
          rows: stores[0].rows,
          scales: stores.map((s) => s.scale),
          identity: {
            stores: stores.map((s) => ({ hook: s.hook, rows: s.rows, d: s.d, scale: s.scale })),
            model: m0.model,
          },
        });
        out = raw.out ?? runOfStore(dirs[0]);
        info = {
          model_name: m0.model_path,
          context_size: m0.context_size,
          prepend_bos: true,
          dataset_path: m0.corpus.join(","),
        };
      } else {
        if (raw.model === undefined)
          throw new UsageError("give --acts <store> or --model <dir> --data <spec> --hook <name>");
        if (raw.data === undefined || raw.hook === undefined)
          throw new UsageError("streaming from --model needs --data <spec> and --hook <name>");
        if (raw.out === undefined) throw new UsageError("streaming from --model needs --out <run folder>");
        out = raw.out;
        let corpus: ReturnType<typeof openCorpora>;
        try {
          corpus = openCorpora(raw.data);
        } catch (e) {
          throw new UsageError(`--data: ${(e as Error).message}`);
        }
        const model = loadModel(raw.model, { backend });
        const hooks = resolveHooks({ hooks: raw.hook, layers: undefined }, model.dims.nLayers);
        const ctx = config.contextSize;
        // The contexts a harvest of --tokens would store, so streaming trains on the same rows.
        const contexts = Math.ceil(config.tokens / ctx);
        const excludedIds = specialIds(model);
        const source = new ModelChunkSource(model, model.tokenizer as never, corpus, {
          hooks,
          contexts,
          contextSize: ctx,
          llmBatch: config.llmBatch,
          excludedIds,
        });
        stream = bufferBatches(source, {
          batchSize: config.batchSize,
          bufferContexts: config.bufferContexts,
          seed: config.seed,
          rows: await countStreamRows(corpus, model.tokenizer as never, ctx, contexts, excludedIds),
          scales: null,
          identity: { model: raw.model, data: raw.data, hooks, contexts, context_size: ctx },
        });
        info = { model_name: raw.model, context_size: ctx, prepend_bos: true, dataset_path: raw.data.join(",") };
      }

      const bar = new RateProgress("train", config.tokens);
      try {
        const r = await trainSaes({
          config,
          archs,
          stream,
          out,
          resume: raw.resume ?? false,
          backend,
          info,
          log: (l) => bar.message(l),
          onProgress: (done, total) => bar.update(done, total),
        });
        bar.stop();
        for (const j of r.jobs)
          process.stdout.write(
            `${j.dir}: l0 ${j.l0.toFixed(2)}, explained variance ${j.explainedVariance.toFixed(4)}, dead ${j.deadCount}\n`,
          );
        process.stdout.write(
          `train: ${r.stopped ? "stopped" : "done"} at step ${r.step}/${r.totalSteps}, ${r.tokens} tokens, ${Math.round(r.tokensPerSecond)} tok/s\n`,
        );
      } finally {
        bar.stop();
      }
    });
}
