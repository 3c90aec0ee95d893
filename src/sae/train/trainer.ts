/**
 * The SAE trainer (DESIGN.md s.2 "Training protocol"): several SAEs, one per (arch, hook), trained
 * in one process on the same micro-batches, each batch read once (the ablation trains 10 archs x 3
 * hooks at once). Per micro-batch of the stream (batches.ts): x_in = c_h x for every hook h, then
 * every job on hook h runs job.microBatch(x_in) (job.ts); after `microBatches` of them every job
 * steps. The run consumes ceil(tokens / batchSize) micro-batches, so S = ceil(that / microBatches)
 * optimizer steps (the last one shorter when it does not divide).
 *
 * Outputs per job, in <out>/sae/<arch>/<hook>/: train_log.jsonl (one record per optimizer step:
 * every loss part, L0, dead count, lr, grad norm, tokens/s, reactivations, and job_seconds: the
 * compute seconds of that SAE alone, which the ablation reports per architecture), checkpoint/ (every
 * checkpointEvery steps, at the end and when stopped; checkpoint.ts), train_config.json (the
 * resolved config, hyperparameters, scale, data) and at the end the SAELens v6 folder files
 * (cfg.json with the training-time l0 / explained_variance / dead_count measured by the final
 * weights' inference forward on the last micro-batch, sae_weights.safetensors, sparsity.safetensors
 * = log10 feature density over the last reactivation window), written by src/sae/save.ts.
 *
 * --resume: the newest checkpoint step every job has; each job reloads its state, the logs are
 * cut back to that step and the stream restarts at the saved (epoch, index): the run continues
 * bit for bit (weights byte-identical to an uninterrupted run). A NaN/Inf loss part or gradient
 * stops training with one line; the checkpoints already written stay.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../config/parse.ts";
import { resolveSaeHyper, saeConfigSchema } from "../../config/sae.ts";
import { resolveDeadTokens, type SaeTrainConfig } from "../../config/sae-train.ts";
import type { Backend } from "../../core/backend.ts";
import { getBackend } from "../../core/backends/index.ts";
import { atomicWriteJson, fsyncDirSync } from "../../io/atomic.ts";
import { JsonlWriter, readJsonl } from "../../io/jsonl.ts";
import { truncateLog } from "../../lm/train/trainer.ts";
import { type SaeRunInfo, saveSae } from "../save.ts";
import type { SaeArch } from "../types.ts";
import type { BatchStream, TrainBatch } from "./batches.ts";
import {
  checkpointPosition,
  commonStep,
  type DataPosition,
  loadJobCheckpoint,
  pruneCheckpoints,
  saveJobCheckpoint,
} from "./checkpoint.ts";
import { SaeJob } from "./job.ts";
import { finalMetrics } from "./metrics.ts";

export interface TrainSaesOptions {
  config: SaeTrainConfig;
  archs: readonly SaeArch[];
  /**
   * Per-arch SAE fields over config.sae (e.g. the ablation's own l1 for jumprelu); validated by
   * the SAE schema, recorded in each job's resolved hyperparameters and fingerprint.
   */
  saeOverrides?: Partial<Record<SaeArch, Record<string, unknown>>>;
  /** Hooks of the stream to train on (default: all of them). */
  hooks?: readonly string[];
  stream: BatchStream;
  /** The run folder: SAEs go to <out>/sae/<arch>/<hook>/. */
  out: string;
  resume?: boolean;
  /** Stop after this optimizer step (checkpoint written), as an interruption would. */
  stopAfter?: number;
  shouldStop?: () => boolean;
  backend?: Backend;
  /** Metadata for cfg.json (model_name, context_size, ...); hook_name is set per job. */
  info?: SaeRunInfo;
  log?: (line: string) => void;
  /** Tokens done of the total, after every optimizer step. */
  onProgress?: (tokens: number, total: number) => void;
}

export interface JobResult {
  arch: SaeArch;
  hook: string;
  dir: string;
  l0: number;
  explainedVariance: number;
  deadCount: number;
}

export interface TrainSaesResult {
  step: number;
  totalSteps: number;
  tokens: number;
  stopped: boolean;
  tokensPerSecond: number;
  jobs: JobResult[];
}

export function jobDir(out: string, arch: SaeArch, hook: string): string {
  return join(out, "sae", arch, hook);
}

export async function trainSaes(o: TrainSaesOptions): Promise<TrainSaesResult> {
  const be = o.backend ?? getBackend();
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const c = o.config;
  const stream = o.stream;
  const hooks = o.hooks ?? stream.hooks;
  for (const h of hooks)
    if (!stream.hooks.includes(h)) throw new Error(`hook ${h} is not in the activations (${stream.hooks.join(", ")})`);
  const B = stream.batchSize;
  const A = c.microBatches;
  const microTotal = Math.ceil(c.tokens / B);
  const totalSteps = Math.ceil(microTotal / A);
  const targetTokens = microTotal * B;
  const deadTokens = resolveDeadTokens(c, stream.epochRows);
  const scales = await stream.scales();

  const specs = hooks.flatMap((hook) => o.archs.map((arch) => ({ arch, hook })));
  const dirs = specs.map((s) => jobDir(o.out, s.arch, s.hook));
  const existing = commonStep(dirs);
  if (!o.resume)
    for (const d of dirs)
      if (existsSync(join(d, "checkpoint")) && readdirSync(join(d, "checkpoint")).length > 0)
        throw new Error(`${d} already holds a training run; pass --resume to continue it or choose another --out`);

  // The first micro-batch initializes every module (b_dec = mean of the first batch).
  const xin = stream.hooks.map(() => new Float32Array(B * stream.d));
  const scaleInto = (acts: readonly Float32Array[], rows: number) => {
    stream.hooks.forEach((_, h) => {
      const src = acts[h];
      const dst = xin[h];
      const f = scales[h];
      for (let i = 0; i < rows * stream.d; i++) dst[i] = f * src[i];
    });
  };
  let step = 0;
  let pos: DataPosition = { epoch: 0, index: 0, tokens: 0 };
  if (o.resume) {
    if (existing === null) throw new Error(`--resume: no checkpoint common to every SAE under ${join(o.out, "sae")}`);
    step = existing;
    pos = checkpointPosition(dirs[0], step);
  }
  // One generator for the whole run; its first batch also initializes every module (b_dec =
  // mean of the first batch; on resume the checkpoint overwrites it).
  const gen = stream.from(pos.epoch, pos.index);
  const first = step < totalSteps ? await gen.next() : null;
  if (first?.done) throw new Error("the activations yielded no batch");
  const firstBatch: TrainBatch | null = first && !first.done ? first.value : null;
  if (firstBatch) scaleInto(firstBatch.acts, firstBatch.rows);
  else for (const a of xin) a.fill(1);
  const jobs = specs.map((s, index) => {
    const hookIndex = stream.hooks.indexOf(s.hook);
    const sae = parseConfig(
      saeConfigSchema,
      { ...c.sae, ...(o.saeOverrides?.[s.arch] ?? {}), arch: s.arch },
      `msae train (${s.arch})`,
    );
    const hyper = resolveSaeHyper(sae, stream.d, "msae train");
    return new SaeJob(
      { index, hyper, hook: s.hook, hookIndex, scale: scales[hookIndex], dir: dirs[index], totalSteps, deadTokens },
      c,
      be,
      xin[hookIndex].subarray(0, B * stream.d),
      B,
    );
  });
  const { checkpointEvery: _ce, ...trajectory } = c;
  const fingerprintOf = (j: SaeJob) => ({
    config: trajectory,
    hyper: j.setup.hyper,
    hook: j.setup.hook,
    scale: j.setup.scale,
    data: stream.identity,
    total_steps: totalSteps,
    dead_tokens: deadTokens,
  });

  if (o.resume && existing !== null) {
    for (const j of jobs) loadJobCheckpoint(j, existing, fingerprintOf(j));
    for (const j of jobs) truncateLog(join(j.setup.dir, "train_log.jsonl"), step);
    log(
      step >= totalSteps
        ? `the run in ${o.out} is already complete (step ${step}/${totalSteps})`
        : `resuming ${jobs.length} SAE(s) at step ${step}/${totalSteps}`,
    );
  } else for (const j of jobs) rmSync(join(j.setup.dir, "train_log.jsonl"), { force: true });
  if (jobs[0]?.warmupWarning) log(`note: ${jobs[0].warmupWarning}`);
  for (const j of jobs) {
    mkdirSync(j.setup.dir, { recursive: true });
    atomicWriteJson(join(j.setup.dir, "train_config.json"), {
      ...fingerprintOf(j),
      checkpoint_every: c.checkpointEvery,
      arch: j.setup.hyper.arch,
    });
  }
  log(
    `training ${jobs.map((j) => j.name).join(", ")} | d ${stream.d} | ${totalSteps} steps of ${A} x ${B} rows ` +
      `(${targetTokens} tokens) | recipe ${c.recipe} | backend ${be.name}`,
  );

  // Compute seconds of each job alone (its micro-batches and steps), carried across a resume.
  const jobSeconds = jobs.map((j) => {
    if (!o.resume) return 0;
    const file = join(j.setup.dir, "train_log.jsonl");
    const recs = existsSync(file) ? (readJsonl(file).records as { job_seconds?: number }[]) : [];
    return recs[recs.length - 1]?.job_seconds ?? 0;
  });
  const writers = jobs.map((j) => JsonlWriter.open(join(j.setup.dir, "train_log.jsonl")));
  let lastCheckpoint: number | null = o.resume ? existing : null;
  const checkpointAll = async () => {
    for (const j of jobs) await saveJobCheckpoint(j, step, pos, fingerprintOf(j));
    for (const j of jobs) pruneCheckpoints(j.setup.dir, step);
    lastCheckpoint = step;
  };
  const end = Math.min(totalSteps, o.stopAfter ?? totalSteps);
  let stopped = false;
  let lastRows = 0;
  const t0 = performance.now();
  let tokensRun = 0;
  let stepStart = performance.now();
  try {
    if (firstBatch && step < end) {
      let micro = 0;
      let pending: TrainBatch | null = firstBatch;
      for (;;) {
        let b = pending;
        pending = null;
        if (!b) {
          const next = await gen.next();
          if (next.done) throw new Error("the activation stream ended early");
          b = next.value;
          scaleInto(b.acts, b.rows);
        }
        const t = step + 1;
        let stepped = null as null | ReturnType<SaeJob["microBatch"]>[];
        const results = jobs.map((j, k) => {
          const tj = performance.now();
          const r = j.microBatch(xin[j.setup.hookIndex].subarray(0, b.rows * stream.d), b.rows, t);
          jobSeconds[k] += (performance.now() - tj) / 1000;
          return r;
        });
        micro++;
        lastRows = b.rows;
        pos = { epoch: b.epoch, index: b.index + 1, tokens: pos.tokens + b.rows };
        tokensRun += b.rows;
        const last = pos.tokens >= targetTokens;
        if (micro === A) stepped = results;
        else if (last)
          stepped = jobs.map((j, k) => {
            const tj = performance.now();
            const r = j.flush(t);
            jobSeconds[k] += (performance.now() - tj) / 1000;
            return r;
          });
        if (stepped) {
          micro = 0;
          step = t;
          const dt = (performance.now() - stepStart) / 1000;
          stepStart = performance.now();
          jobs.forEach((j, k) => {
            const r = stepped![k];
            if (!r.stepped) throw new Error(`internal: ${j.name} did not step at step ${t}`);
            const tj = performance.now();
            const rec = j.afterStep(r, pos.tokens);
            jobSeconds[k] += (performance.now() - tj) / 1000;
            writers[k].append({
              ...rec,
              tokens_per_s: (A * B) / dt,
              elapsed_s: (performance.now() - t0) / 1000,
              job_seconds: jobSeconds[k],
            });
          });
          o.onProgress?.(pos.tokens, targetTokens);
          if (step % c.checkpointEvery === 0 || step === totalSteps) await checkpointAll();
          if (step >= totalSteps) break;
          if (step >= end || o.shouldStop?.()) {
            stopped = true;
            if (step % c.checkpointEvery !== 0) await checkpointAll();
            log(`stopped at step ${step}/${totalSteps}; checkpoint written (continue with --resume)`);
            break;
          }
        }
      }
    } else if (step < totalSteps) stopped = true;
  } catch (e) {
    throw new Error(
      `${(e as Error).message}${lastCheckpoint === null ? "" : ` (the last good checkpoint, step ${lastCheckpoint}, is kept)`}`,
    );
  } finally {
    for (const w of writers) w.close();
    await gen.return(undefined);
  }

  const seconds = (performance.now() - t0) / 1000;
  const results: JobResult[] = [];
  if (!stopped && lastRows > 0) {
    for (const j of jobs) {
      const x = xin[j.setup.hookIndex].subarray(0, lastRows * stream.d);
      const met = finalMetrics(j, x, lastRows);
      writeSaeFolder(j, met, o.info ?? {});
      results.push({ arch: j.setup.hyper.arch, hook: j.setup.hook, dir: j.setup.dir, ...met });
    }
  }
  return {
    step,
    totalSteps,
    tokens: pos.tokens,
    stopped,
    tokensPerSecond: seconds > 0 ? tokensRun / seconds : 0,
    jobs: results,
  };
}

/**
 * The SAELens files of a job's folder, beside its log and checkpoints: saveSae writes a whole
 * folder, so it writes into a sibling temp folder whose three files are renamed into place
 * (each rename atomic; cfg.json last, so a folder with cfg.json holds its weights).
 */
function writeSaeFolder(
  j: SaeJob,
  met: { l0: number; explainedVariance: number; deadCount: number },
  info: SaeRunInfo,
): void {
  const dir = j.setup.dir;
  const tmp = join(dir, ".sae-tmp");
  rmSync(tmp, { recursive: true, force: true });
  saveSae(tmp, j.sae, {
    scale: j.setup.scale,
    sparsity: j.logDensity(),
    info: {
      ...info,
      hook_name: j.setup.hook,
      l0: met.l0,
      explained_variance: met.explainedVariance,
      dead_count: met.deadCount,
      training_tokens: j.config.tokens,
      recipe: j.config.recipe,
    },
  });
  for (const f of ["sae_weights.safetensors", "sparsity.safetensors", "cfg.json"])
    renameSync(join(tmp, f), join(dir, f));
  rmSync(tmp, { recursive: true, force: true });
  fsyncDirSync(dir);
}
