/**
 * `msae lm train`: trains a Gemma-2-architecture LM from scratch with the engine's hand-written
 * forward (gemma2/forward.ts) and backward (gemma2/backward.ts).
 *
 * One optimizer step t = 1..S (S = training.steps, or floor(epochs * N / (batch * grad_accum))):
 *   samples k = (t - 1) * A * B .. t * A * B - 1 of the deterministic order (data.ts), in A = grad_accum
 *   micro-batches of B contexts; loss = token mean of the next-token cross-entropy over the step's
 *   scored targets (each micro-batch's backward gets dloss = 1 / (scored targets of the step));
 *   then global-norm clipping (grad_clip), lr(t) = linear warmup to lr over warmup_steps then cosine
 *   to min_lr at S, AdamW (weight decay on matrices only) (optim/accumulate.ts runs the step).
 * Every eval_interval steps and at the end: loss on the fixed validation slice. Every
 * checkpoint_interval steps, at the end and when stopped: an atomic checkpoint (checkpoint.ts) and
 * the model folder (export.ts). train_log.jsonl gets one record per step:
 *   {step, loss, lr, grad_norm, tokens, tokens_per_s, elapsed_s, val_loss?}
 * --resume loads the checkpoint, cuts the log back to its step and continues bit for bit.
 * Crash safety: --out is checked writable first; its run marker (src/io/complete.ts) says
 * "incomplete" before anything else is written and "complete" only after the last step's model
 * folder and summary are committed, so a killed or stopped run is refused by loadModel (one line
 * naming the resume command) and resumable, never loaded as finished.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Backend } from "../../core/backend.ts";
import { getBackend } from "../../core/backends/index.ts";
import { atomicWriteFile, atomicWriteJson } from "../../io/atomic.ts";
import { checkOutputFolder, markComplete, markIncomplete, readRunMarker } from "../../io/complete.ts";
import { JsonlWriter, readJsonl } from "../../io/jsonl.ts";
import { AdamW, effectiveWarmup, GradAccumulator, type MicroStepResult, WarmupCosine } from "../../optim/index.ts";
import { Gemma2Backward } from "../gemma2/backward.ts";
import { Gemma2Model } from "../gemma2/forward.ts";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import type { LmTrainConfig } from "./config.ts";
import { fillTargets, gatherBatch, SampleOrder } from "./data.ts";
import { contextsLoss } from "./evaluate.ts";
import { gemma2HfConfig, writeModelFolder } from "./export.ts";
import { countParams, createGemma2Params, initGemma2Params } from "./params.ts";
import type { KernelProfile } from "./profile.ts";
import { TrainProgress } from "./progress.ts";
import { gemma2ConfigFor, prepareData, prepareTokenizer } from "./setup.ts";

export interface TrainOptions {
  config: LmTrainConfig;
  /** Training data spec (data/spec.ts). */
  data: string;
  /** Validation data spec; default brown:validation for brown:train, else a held-out tail. */
  valData?: string | null;
  /** Output model folder. */
  out: string;
  resume?: boolean;
  /** Stop after this optimizer step (checkpoint written), as an interruption would; --resume continues. */
  stopAfter?: number;
  /** Polled after each step; true stops like stopAfter (Ctrl-C). */
  shouldStop?: () => boolean;
  backend?: Backend;
  /** Plain message lines (default stderr). */
  log?: (line: string) => void;
  /** Force the progress bar on or off (default: stderr is a terminal). */
  tty?: boolean;
  /** Kernel profile to enable during training steps only (the backend must be profiledBackend). */
  profile?: KernelProfile;
  /** How to finish this run, recorded in the run marker (default: built from out and data). */
  resumeCommand?: string;
}

/** The run-marker kind of an `msae lm train` output folder (src/io/complete.ts). */
export const LM_TRAIN_KIND = "lm-train";

export interface TrainResult {
  step: number;
  totalSteps: number;
  /** Whether the run stopped before totalSteps. */
  stopped: boolean;
  /** Loss of the last step run (NaN when none ran). */
  loss: number;
  /** Last validation loss (NaN when none was measured). */
  valLoss: number;
  /** Mean training throughput of this invocation (tokens/s, evaluation excluded). */
  tokensPerSecond: number;
  /** Seconds spent in training steps by this invocation (evaluation and checkpoints excluded). */
  trainSeconds: number;
  parameters: number;
}

export async function trainLm(o: TrainOptions): Promise<TrainResult> {
  const be = o.backend ?? getBackend();
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { config, out } = o;
  const t = config.training;
  const ckptDir = join(out, "checkpoint");
  const ckptPath = join(ckptDir, "checkpoint.safetensors");
  if (!o.resume && existsSync(ckptPath))
    throw new Error(
      `${out} already holds a training run (${ckptPath}); pass --resume to continue it or choose another --out`,
    );
  checkOutputFolder(out, "--out");
  mkdirSync(ckptDir, { recursive: true });
  // Before any output is written: the folder is refused by loaders until the last step is saved.
  if (!o.resume || !alreadyComplete(out))
    markIncomplete(out, LM_TRAIN_KIND, {
      resume: o.resumeCommand ?? `msae lm train --resume --out ${out} --data ${o.data} (and the same --config)`,
    });

  const tok = await prepareTokenizer(config, o.data, out, o.resume ?? false, log);
  const { train, val, valSource } = await prepareData(config, o.data, o.valData, tok.tokenizer);
  const cfg = gemma2ConfigFor(config, tok.tokenizer);
  const T = cfg.maxPositions;
  const B = t.batch_size;
  const A = t.grad_accum;
  const totalSteps = t.steps ?? Math.max(1, Math.floor((t.epochs * train.count) / (B * A)));

  const params = createGemma2Params(cfg);
  initGemma2Params(params, t.seed, config.model.initializer_range);
  const model = new Gemma2Model(cfg, params.weights, be);
  const ws = model.createWorkspace(B, T, true);
  const bw = new Gemma2Backward(model, be);
  const opt = new AdamW([{ params: params.list, weightDecay: t.weight_decay }], {
    lr: t.lr,
    beta1: t.beta1,
    beta2: t.beta2,
    eps: t.adam_eps,
    backend: be,
  });
  const warm = effectiveWarmup(t.warmup_steps, totalSteps);
  if (warm.warning) log(`note: ${warm.warning}`);
  const schedule = new WarmupCosine({ lr: t.lr, warmupSteps: warm.warmupSteps, totalSteps, floor: t.min_lr });
  const acc = new GradAccumulator({
    optimizer: opt,
    microBatches: A,
    maxGradNorm: t.grad_clip,
    averaging: "lossScale",
    schedule,
  });
  const { eval_interval: _e, checkpoint_interval: _c, log_interval: _l, ...trajectory } = t;
  const fingerprint = {
    model: gemma2HfConfig(cfg),
    training: trajectory,
    total_steps: totalSteps,
    tokenizer_sha256: tok.sha256,
    data: o.data,
    train_contexts: train.count,
  };

  let step = 0;
  let samples = 0;
  const logPath = join(out, "train_log.jsonl");
  if (o.resume) {
    ({ step, samples } = loadCheckpoint(ckptPath, params, opt, fingerprint));
    truncateLog(logPath, step);
    log(
      step >= totalSteps
        ? `the run in ${out} is already complete (step ${step}/${totalSteps}); nothing to do`
        : `resuming at step ${step}/${totalSteps} from ${ckptPath}`,
    );
  } else {
    rmSync(logPath, { force: true });
  }
  const nParams = countParams(params);
  atomicWriteJson(join(out, "train_config.json"), {
    ...config,
    resolved: { ...fingerprint, val_source: valSource, val_contexts: val.count, parameters: nParams },
  });
  log(
    `model: ${nParams} parameters (${cfg.numLayers} layers, d ${cfg.hiddenSize}, vocab ${cfg.vocabSize}); ` +
      `data: ${train.count} contexts of ${T} from ${o.data}; validation: ${val.count} contexts from ${valSource}; ` +
      `${totalSteps} steps of ${B * A} contexts; backend ${be.name}`,
  );

  const order = new SampleOrder(t.seed, train.count);
  const ids = new Int32Array(A * B * T);
  const targets = new Int32Array(A * B * T);
  const forwardAll = (x: Int32Array) => {
    model.embed(ws, x);
    for (let l = 0; l < cfg.numLayers; l++) model.block(ws, l, null);
    return model.head(ws);
  };
  const validate = () => contextsLoss(be, forwardAll, val, B, cfg.vocabSize, cfg.bosId).loss;
  const saveAll = async () => {
    await saveCheckpoint(ckptPath, params, opt, { step, samples }, fingerprint);
    await writeModelFolder(out, cfg, params, tok.path, t.save_dtype);
  };

  const writer = JsonlWriter.open(logPath);
  const progress = new TrainProgress(totalSteps, step, { tty: o.tty, every: t.log_interval, write: o.log });
  const end = Math.min(totalSteps, o.stopAfter ?? totalSteps);
  if (o.profile) o.profile.enabled = false;
  const t0 = performance.now();
  let trainSeconds = 0;
  let tokensRun = 0;
  let loss = Number.NaN;
  let valLoss = Number.NaN;
  let stopped = false;
  try {
    while (step < totalSteps) {
      if (step >= end || o.shouldStop?.()) {
        stopped = true;
        break;
      }
      if (o.profile) o.profile.enabled = true;
      const s0 = performance.now();
      gatherBatch(train, order, samples, A * B, ids);
      const scored = fillTargets(ids, T, cfg.bosId, targets);
      if (scored === 0) throw new Error(`step ${step + 1}: the batch has no token to predict`);
      let sum = 0;
      let r: MicroStepResult | null = null;
      for (let m = 0; m < A; m++) {
        const mIds = ids.subarray(m * B * T, (m + 1) * B * T);
        const mTargets = targets.subarray(m * B * T, (m + 1) * B * T);
        model.embed(ws, mIds);
        for (let l = 0; l < cfg.numLayers; l++) model.block(ws, l, null);
        model.headRaw(ws); // the soft-cap is fused with the loss and its gradient
        sum += bw.lossAndBackward(ws, mIds, mTargets, 1 / scored, params.grads).sum;
        r = acc.microStep();
      }
      if (!r?.stepped) throw new Error("internal: the last micro-batch did not run an optimizer step");
      step = r.step;
      samples += A * B;
      loss = sum / scored;
      if (!Number.isFinite(loss)) throw new Error(`training loss is ${loss} at step ${step}; training stopped`);
      const dt = (performance.now() - s0) / 1000;
      if (o.profile) o.profile.enabled = false;
      trainSeconds += dt;
      tokensRun += A * B * T;
      const record: Record<string, number> = {
        step,
        loss,
        lr: r.lr,
        grad_norm: r.gradNorm,
        tokens: samples * T,
        tokens_per_s: (A * B * T) / dt,
        elapsed_s: (performance.now() - t0) / 1000,
      };
      if ((t.eval_interval > 0 && step % t.eval_interval === 0) || step === totalSteps) {
        valLoss = validate();
        record.val_loss = valLoss;
      }
      writer.append(record);
      progress.step({ step, loss, lr: r.lr, tokensPerSecond: tokensRun / trainSeconds, valLoss: record.val_loss });
      if ((t.checkpoint_interval > 0 && step % t.checkpoint_interval === 0) || step === totalSteps) await saveAll();
    }
    if (stopped) {
      await saveAll();
      progress.message(`stopped at step ${step}/${totalSteps}; checkpoint written (continue with --resume)`);
    }
  } finally {
    progress.stop();
    writer.close();
  }
  atomicWriteJson(join(out, "train_summary.json"), {
    step,
    total_steps: totalSteps,
    complete: step >= totalSteps,
    loss,
    val_loss: valLoss,
    parameters: nParams,
    tokens_per_s: trainSeconds > 0 ? tokensRun / trainSeconds : null,
    train_seconds_this_invocation: trainSeconds,
    backend: be.name,
  });
  if (step >= totalSteps) markComplete(out, LM_TRAIN_KIND, { detail: { step, total_steps: totalSteps } });
  return {
    step,
    totalSteps,
    stopped,
    loss,
    valLoss,
    tokensPerSecond: trainSeconds > 0 ? tokensRun / trainSeconds : 0,
    trainSeconds,
    parameters: nParams,
  };
}

/** Whether the run marker of `out` says complete (a corrupt marker counts as not complete). */
function alreadyComplete(out: string): boolean {
  try {
    return readRunMarker(out)?.status === "complete";
  } catch {
    return false;
  }
}

/** Keeps the records of train_log.jsonl with step <= `step` (a resumed run rewrites the rest). */
export function truncateLog(path: string, step: number): void {
  if (!existsSync(path)) return;
  const kept = readJsonl(path).records.filter((r) => ((r as { step?: number }).step ?? 0) <= step);
  atomicWriteFile(path, kept.map((r) => `${JSON.stringify(r)}\n`).join(""));
}
