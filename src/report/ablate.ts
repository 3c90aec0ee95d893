/**
 * The paper's Table 1 ablation end to end (`msae ablate`, `msae demo`), every stage resumable:
 *
 *   1. harvest once: the hooks at the paper's relative depths (src/harvest), runs/<name>/acts/<hook>/;
 *   2. per seed s: every architecture on every hook trained in one process on the same shuffled
 *      batches (src/sae/train), runs/<name>/seed-<s>/sae/<arch>/<hook>/ (SAELens folders);
 *   3. every SAE evaluated on held-out text (src/eval, spliced CE / KL included) and, when asked,
 *      on an out-of-distribution corpus: runs/<name>/eval/seed-<s>/<arch>/<hook>.json;
 *   4. the report (src/report/write.ts): runs/<name>/report/.
 * The resolved options live in runs/<name>/ablate.json. A killed ablation rerun with the same
 * command picks up where it stopped: the harvest resumes from its last shard, training from the
 * last checkpoint common to the seed's SAEs, evaluation skips the SAEs already written; a rerun
 * with other options is refused naming the first difference.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { cpus, hostname } from "node:os";
import { join } from "node:path";
import { type AblateOptions, ablateOptionsSchema } from "../config/ablate.ts";
import { parseSaeTrainConfig } from "../config/sae-train.ts";
import type { Backend } from "../core/backend.ts";
import { UsageError } from "../core/errors.ts";
import { msaeVersion } from "../core/paths.ts";
import { openCorpora } from "../data/spec.ts";
import { evaluateSaes } from "../eval/evaluate.ts";
import type { ContextTokenizer } from "../harvest/contexts.ts";
import { hookDir, runHarvest } from "../harvest/harvest.ts";
import { resolveHooks } from "../harvest/hooks.ts";
import { openStore, openStores } from "../harvest/store.ts";
import { atomicWriteJson } from "../io/atomic.ts";
import { readJsonl } from "../io/jsonl.ts";
import { parseHookName } from "../lm/hooks.ts";
import { loadModel } from "../lm/loader.ts";
import { firstDifference } from "../lm/train/checkpoint.ts";
import { loadSae } from "../sae/load.ts";
import { SAE_FACTORIES } from "../sae/registry.ts";
import { bufferBatches } from "../sae/train/batches.ts";
import { jobDir, trainSaes } from "../sae/train/trainer.ts";
import type { AblationRun, AblationSetup, CurvePoint } from "./results.ts";
import { type ReportFiles, writeReport } from "./write.ts";

export interface AblationEvents {
  /** One-line messages (stage starts, skips, resumes). */
  log?(line: string): void;
  /** Progress of the current stage in its own units. */
  progress?(stage: string, done: number, total: number): void;
}

export interface AblationResult {
  report: ReportFiles;
  setup: AblationSetup;
  runs: AblationRun[];
}

const seedDir = (run: string, seed: number) => join(run, `seed-${seed}`);
const evalFile = (run: string, seed: number, arch: string, hook: string) =>
  join(run, "eval", `seed-${seed}`, arch, `${hook}.json`);

/** Stores the options, or checks a rerun's options equal the stored ones. */
function checkRunOptions(o: AblateOptions): void {
  const file = join(o.out, "ablate.json");
  const stored = { ...o, out: undefined };
  if (existsSync(file)) {
    let old: unknown;
    try {
      old = JSON.parse(readFileSync(file, "utf8"));
    } catch {
      throw new Error(`${file} is not valid JSON; remove the run folder or choose another --out`);
    }
    // Runs from before --precision existed ran in f32.
    if (old && typeof old === "object" && !("precision" in old)) (old as Record<string, unknown>).precision = "f32";
    const diff = firstDifference(old, JSON.parse(JSON.stringify(stored)));
    if (diff)
      throw new UsageError(
        `${o.out} holds an ablation run with other options (${diff} differs); rerun the same command to resume it or choose another --out`,
      );
    return;
  }
  mkdirSync(o.out, { recursive: true });
  atomicWriteJson(file, stored);
}

function trainingFinished(out: string, archs: readonly string[], hooks: readonly string[]): boolean {
  return archs.every((a) => hooks.every((h) => existsSync(join(jobDir(out, a as never, h), "cfg.json"))));
}

function hasCheckpoint(out: string): boolean {
  const sae = join(out, "sae");
  if (!existsSync(sae)) return false;
  for (const a of readdirSync(sae))
    for (const h of readdirSync(join(sae, a))) {
      const c = join(sae, a, h, "checkpoint");
      if (existsSync(c) && readdirSync(c).length > 0) return true;
    }
  return false;
}

interface TrainLogRecord {
  step: number;
  tokens?: number;
  loss?: number;
  total?: number;
  recon?: number;
  l0?: number;
  elapsed_s?: number;
  job_seconds?: number;
  tokens_per_s?: number;
}

function readCurve(dir: string): { curve: CurvePoint[]; seconds: number; tokens: number; steps: number } {
  const { records } = readJsonl(join(dir, "train_log.jsonl"));
  const rs = records as TrainLogRecord[];
  const curve = rs.map((r) => ({
    step: r.step,
    tokens: r.tokens ?? 0,
    loss: r.total ?? r.loss ?? Number.NaN,
    recon: r.recon ?? Number.NaN,
    l0: r.l0 ?? Number.NaN,
  }));
  const last = rs[rs.length - 1];
  const seconds = last?.job_seconds ?? last?.elapsed_s ?? Number.NaN;
  return { curve, seconds, tokens: last?.tokens ?? 0, steps: last?.step ?? 0 };
}

export async function runAblation(
  input: AblateOptions,
  events: AblationEvents = {},
  backend?: Backend,
): Promise<AblationResult> {
  const o = ablateOptionsSchema.parse(input);
  const log = events.log ?? (() => {});
  const started = new Date();
  checkRunOptions(o);
  const model = loadModel(o.model, { backend, precision: o.precision });
  const tok = model.tokenizer as unknown as ContextTokenizer;
  const hooks = resolveHooks({ layers: o.layers }, model.dims.nLayers);
  const layers = hooks.map((h) => parseHookName(h, model.dims.nLayers).layer);
  const d = model.dims.dModel;

  // 1. Harvest (resumes or verifies).
  log(`harvest: ${hooks.join(", ")}, ${o.tokens} tokens of ${o.data.join(", ")}`);
  await runHarvest(
    model,
    tok,
    {
      modelDir: o.model,
      corpus: openCorpora(o.data),
      data: o.data,
      hooks,
      tokens: o.tokens,
      contextSize: o.context,
      llmBatch: o.llmBatch,
      dtype: o.dtype,
      runDir: o.out,
      keepSpecial: false,
    },
    { onBatch: (done, total) => events.progress?.("harvest", done, total) },
    model.backend,
  );
  const stores = hooks.map((h) => openStore(hookDir(o.out, h)));
  const source = openStores(hooks.map((h) => hookDir(o.out, h)));

  // 2. Training, seed by seed (all archs x hooks on the same batches).
  const trainTokens = o.trainTokens ?? o.tokens;
  for (let seed = 0; seed < o.seeds; seed++) {
    const out = seedDir(o.out, seed);
    if (trainingFinished(out, o.archs, hooks)) {
      log(`seed ${seed}: training already done`);
      continue;
    }
    const sae: Record<string, unknown> = { expansion: o.expansion };
    if (o.l1 !== null) sae.l1 = o.l1;
    if (o.l2 !== null) sae.l2 = o.l2;
    if (o.k !== null) sae.k = o.k;
    const config = parseSaeTrainConfig(
      {
        recipe: o.recipe,
        tokens: trainTokens,
        seed,
        batchSize: o.batchSize,
        microBatches: o.microBatches,
        ...(o.lr !== null ? { lr: o.lr } : {}),
        sae,
      },
      "msae ablate",
    );
    const stream = bufferBatches(source, {
      batchSize: o.batchSize,
      bufferContexts: config.bufferContexts,
      seed,
      rows: stores[0].rows,
      scales: stores.map((s) => s.scale),
      identity: {
        stores: stores.map((s) => ({ hook: s.hook, content: s.manifest.model.content_sha256, rows: s.rows })),
      },
    });
    const resume = hasCheckpoint(out);
    log(`seed ${seed}: ${resume ? "resuming" : "training"} ${o.archs.length} architectures x ${hooks.length} hooks`);
    await trainSaes({
      config,
      archs: o.archs,
      stream,
      out,
      resume,
      backend: model.backend,
      info: { model_name: o.model, context_size: o.context, prepend_bos: true, dataset_path: o.data.join(",") },
      log,
      onProgress: (done, total) => events.progress?.(`train seed ${seed}`, done, total),
    });
  }

  // 3. Evaluation: the seed's SAEs not yet evaluated, together (one clean and one zero-ablated
  // forward per batch shared by all of them: evaluateSaes), then each one's JSON (atomic).
  const evalCorpus = openCorpora(o.evalData);
  const oodCorpus = o.oodData.length ? openCorpora(o.oodData) : null;
  const runs: AblationRun[] = [];
  const evalOpts = { tokens: o.evalTokens, contextSize: o.context };
  for (let seed = 0; seed < o.seeds; seed++) {
    const jobs = o.archs.flatMap((arch) =>
      hooks.map((hook) => {
        const dir = jobDir(seedDir(o.out, seed), arch, hook);
        return {
          arch,
          hook,
          dir,
          file: evalFile(o.out, seed, arch, hook),
          loaded: loadSae<Float32Array>(dir, SAE_FACTORIES, model.backend, { arrayType: "f32" }),
        };
      }),
    );
    const todo = jobs.filter((j) => !existsSync(j.file));
    if (todo.length > 0) {
      log(
        `seed ${seed}: evaluating ${todo.length} SAEs on ${o.evalData.join(", ")}${oodCorpus ? ` and ${o.oodData.join(", ")}` : ""}`,
      );
      const list = todo.map((j) => ({ sae: j.loaded.sae, hook: j.hook, scale: j.loaded.scale }));
      const N = Math.ceil(o.evalTokens / o.context) * (oodCorpus ? 2 : 1);
      const main = await evaluateSaes(model, list, evalCorpus, {
        ...evalOpts,
        onBatch: (done) => events.progress?.(`eval seed ${seed}`, done, N),
      });
      const ood = oodCorpus
        ? await evaluateSaes(model, list, oodCorpus, {
            ...evalOpts,
            onBatch: (done) => events.progress?.(`eval seed ${seed}`, N / 2 + done, N),
          })
        : null;
      todo.forEach((j, k) => {
        mkdirSync(join(j.file, ".."), { recursive: true });
        atomicWriteJson(j.file, { metrics: { ...main[k].metrics }, ood: ood ? { ...ood[k].metrics } : null });
      });
    }
    for (const j of jobs) {
      const ev = JSON.parse(readFileSync(j.file, "utf8")) as {
        metrics: Record<string, number>;
        ood: Record<string, number> | null;
      };
      const train = readCurve(j.dir);
      runs.push({
        arch: j.arch,
        hook: j.hook,
        layer: layers[hooks.indexOf(j.hook)],
        seed,
        metrics: ev.metrics,
        ...(ev.ood ? { metricsOod: ev.ood } : {}),
        train: {
          seconds: train.seconds,
          tokens: train.tokens,
          tokens_per_s: train.seconds > 0 ? train.tokens / train.seconds : Number.NaN,
          steps: train.steps,
        },
        curve: train.curve,
        log10Density: j.loaded.sparsity ? Array.from(j.loaded.sparsity, (v) => (Number.isFinite(v) ? v : null)) : [],
      });
    }
  }

  // 4. The report.
  // Wall time over every invocation of this run (a resumed run adds its own): runs/<name>/ablate-time.json.
  const finished = new Date();
  const timeFile = join(o.out, "ablate-time.json");
  const past = existsSync(timeFile)
    ? (JSON.parse(readFileSync(timeFile, "utf8")) as { started: string; seconds: number })
    : { started: started.toISOString(), seconds: 0 };
  const time = { started: past.started, seconds: past.seconds + (finished.getTime() - started.getTime()) / 1000 };
  atomicWriteJson(timeFile, time);
  const setup: AblationSetup = {
    model: o.model,
    model_architecture: model.info.architecture,
    precision: model.precision,
    data: o.data,
    eval_data: o.evalData,
    harvest_tokens: o.tokens,
    train_tokens: trainTokens,
    eval_tokens: o.evalTokens,
    context: o.context,
    recipe: o.recipe,
    reconstruct: "denormalized",
    hooks,
    layers,
    n_layers: model.dims.nLayers,
    seeds: Array.from({ length: o.seeds }, (_, i) => i),
    d,
    m: Math.round(d * o.expansion),
    archs: [...o.archs],
    msae_version: msaeVersion,
    machine: `${hostname()}: ${cpus()[0]?.model ?? "cpu"} x ${cpus().length}, backend ${model.backend.name}`,
    started: time.started,
    finished: finished.toISOString(),
    seconds: time.seconds,
  };
  const report = await writeReport(join(o.out, "report"), setup, runs);
  return { report, setup, runs };
}
