/**
 * SAE training checkpoints, one safetensors file per job and step (written atomically as a
 * whole): <job dir>/checkpoint/step-<NNNNNNNN>.safetensors holding
 *   param/<name>, adam_m/<name>, adam_v/<name>   weights and AdamW moments (the module's dtype)
 *   buffer/<name>                                 every buffer (run stats, thresholds, coact_ema)
 *   state/importance, state/last_fired, state/tokens_since, state/density   (F64)
 * and string metadata: format, step, adam_step, lr, plateau (JSON), position (JSON: the next
 * batch's epoch/index and the tokens consumed), density_tokens and the run fingerprint (as in
 * src/lm/train/checkpoint.ts: everything that decides the trajectory; a resume with a different
 * one is refused naming the first field that differs).
 *
 * Several jobs train in lockstep, so a consistent restart point is a step every job has: the
 * trainer writes step-N for every job, and only then deletes the older files; `commonStep` finds
 * the newest step present in every job's folder (a kill between two jobs' writes falls back one
 * checkpoint, never mixes steps).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { FloatArray } from "../../core/backend.ts";
import { SafetensorsFile } from "../../io/safetensors.ts";
import { type TensorToWrite, writeSafetensors } from "../../io/safetensors-write.ts";
import { firstDifference } from "../../lm/train/checkpoint.ts";
import type { PlateauState } from "../../optim/plateau.ts";
import type { SaeJob } from "./job.ts";

export const SAE_CHECKPOINT_FORMAT = "msae-sae-checkpoint-1";
const FILE_RE = /^step-(\d{8})\.safetensors$/;

export interface DataPosition {
  epoch: number;
  index: number;
  tokens: number;
}

export function checkpointDir(jobDir: string): string {
  return join(jobDir, "checkpoint");
}

function fileOf(jobDir: string, step: number): string {
  return join(checkpointDir(jobDir), `step-${String(step).padStart(8, "0")}.safetensors`);
}

function tensor(data: FloatArray, shape: readonly number[]): TensorToWrite {
  return data instanceof Float64Array ? { dtype: "F64", shape, data } : { dtype: "F32", shape, data };
}

export async function saveJobCheckpoint(
  job: SaeJob,
  step: number,
  position: DataPosition,
  fingerprint: unknown,
): Promise<void> {
  const dir = checkpointDir(job.setup.dir);
  mkdirSync(dir, { recursive: true });
  const st = job.optimizer.state();
  const t = new Map<string, TensorToWrite>();
  for (const [name, { param }] of job.sae.params) {
    t.set(`param/${name}`, tensor(param.data, param.shape));
    t.set(`adam_m/${name}`, tensor(st.m[name], param.shape));
    t.set(`adam_v/${name}`, tensor(st.v[name], param.shape));
  }
  for (const [name, b] of job.sae.buffers) t.set(`buffer/${name}`, tensor(b.data, b.shape));
  const m = job.setup.hyper.m;
  t.set("state/importance", tensor(job.importance.ema, [m]));
  t.set("state/last_fired", tensor(job.dead.lastFired, [m]));
  t.set("state/tokens_since", tensor(job.dead.tokensSince, [m]));
  t.set("state/density", tensor(job.density, [m]));
  await writeSafetensors(fileOf(job.setup.dir, step), t, {
    format: SAE_CHECKPOINT_FORMAT,
    step: String(step),
    adam_step: String(st.step),
    lr: String(st.lr),
    plateau: JSON.stringify(job.schedule.state()),
    position: JSON.stringify(position),
    density_tokens: String(job.densityTokens),
    fingerprint: JSON.stringify(fingerprint),
  });
}

/** Steps of the checkpoint files in a job folder, ascending. */
export function checkpointSteps(jobDir: string): number[] {
  const dir = checkpointDir(jobDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => FILE_RE.exec(f))
    .filter((x): x is RegExpExecArray => x !== null)
    .map((x) => Number(x[1]))
    .sort((a, b) => a - b);
}

/** The newest step every job folder has a checkpoint of (null when there is none). */
export function commonStep(jobDirs: readonly string[]): number | null {
  if (jobDirs.length === 0) return null;
  let common: number[] = checkpointSteps(jobDirs[0]);
  for (const dir of jobDirs.slice(1)) {
    const steps = new Set(checkpointSteps(dir));
    common = common.filter((s) => steps.has(s));
  }
  return common.length === 0 ? null : Math.max(...common);
}

/** Deletes the checkpoints of a job older than `keep`. */
export function pruneCheckpoints(jobDir: string, keep: number): void {
  for (const s of checkpointSteps(jobDir)) if (s < keep) rmSync(fileOf(jobDir, s), { force: true });
}

function copyInto(f: SafetensorsFile, name: string, target: FloatArray, path: string): void {
  if (!f.has(name)) throw new Error(`${path}: the checkpoint has no tensor "${name}"`);
  const src = f.read(name) as FloatArray;
  if (src.length !== target.length || src.constructor !== target.constructor)
    throw new Error(
      `${path}: tensor "${name}" has ${src.length} ${src.constructor.name} values; expected ${target.length} ${target.constructor.name}`,
    );
  target.set(src);
}

/** The data position saved with step `step` of a job (read before the modules exist). */
export function checkpointPosition(jobDir: string, step: number): DataPosition {
  const f = SafetensorsFile.open(fileOf(jobDir, step));
  try {
    return JSON.parse(f.metadata.position ?? "null") as DataPosition;
  } finally {
    f.close();
  }
}

/** Loads step `step` into the job after checking the fingerprint; returns the data position. */
export function loadJobCheckpoint(job: SaeJob, step: number, fingerprint: unknown): DataPosition {
  const path = fileOf(job.setup.dir, step);
  const f = SafetensorsFile.open(path);
  try {
    const md = f.metadata;
    if (md.format !== SAE_CHECKPOINT_FORMAT)
      throw new Error(`${path}: format ${JSON.stringify(md.format)} is not ${SAE_CHECKPOINT_FORMAT}`);
    const saved = JSON.parse(md.fingerprint ?? "null");
    const diff = firstDifference(saved, fingerprint);
    if (diff !== null) {
      const show = (v: unknown) => JSON.stringify(diff.split(".").reduce<unknown>((o, k) => (o as never)?.[k], v));
      throw new Error(
        `--resume: ${job.name} was checkpointed with ${diff} = ${show(saved)} but this run has ${show(fingerprint)}; ` +
          "resume with the same options and data, or train into another --out",
      );
    }
    const m: Record<string, FloatArray> = {};
    const v: Record<string, FloatArray> = {};
    for (const [name, { param }] of job.sae.params) {
      copyInto(f, `param/${name}`, param.data, path);
      m[name] = param.data.slice();
      v[name] = param.data.slice();
      copyInto(f, `adam_m/${name}`, m[name], path);
      copyInto(f, `adam_v/${name}`, v[name], path);
    }
    for (const [name, b] of job.sae.buffers) copyInto(f, `buffer/${name}`, b.data, path);
    copyInto(f, "state/importance", job.importance.ema, path);
    copyInto(f, "state/last_fired", job.dead.lastFired, path);
    copyInto(f, "state/tokens_since", job.dead.tokensSince, path);
    copyInto(f, "state/density", job.density, path);
    job.densityTokens = Number(md.density_tokens);
    job.optimizer.loadState({ step: Number(md.adam_step), lr: Number(md.lr), m, v });
    job.schedule.loadState(JSON.parse(md.plateau) as PlateauState);
    const pos = JSON.parse(md.position) as DataPosition;
    if (Number(md.step) !== step) throw new Error(`${path}: metadata step ${md.step} is not ${step}`);
    return pos;
  } finally {
    f.close();
  }
}
