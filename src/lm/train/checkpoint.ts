/**
 * Training checkpoints: ONE safetensors file (so it is replaced atomically as a whole) holding
 *   param/<name>   the weights                      float32, HF names
 *   adam_m/<name>  AdamW first moments              float32
 *   adam_v/<name>  AdamW second moments             float32
 * and string metadata: format, step (optimizer steps done = AdamW's bias-correction counter),
 * samples (the next sample index of the data order: data.ts), lr, and the run fingerprint (the
 * JSON of everything that decides the trajectory: model, optimizer, schedule, seed, batching,
 * data). The data order and the schedule are pure functions of (seed, step), so weights + moments
 * + step are the whole state: a resumed run continues bit for bit. Loading checks every tensor's
 * dtype (F32) and values (no NaN / Inf: src/io/finite.ts) before anything is used.
 */
import { existsSync } from "node:fs";
import type { FloatArray } from "../../core/backend.ts";
import { checkFinite } from "../../io/finite.ts";
import { SafetensorsFile } from "../../io/safetensors.ts";
import { writeSafetensors } from "../../io/safetensors-write.ts";
import type { AdamW } from "../../optim/adamw.ts";
import type { Gemma2Params } from "./params.ts";

export const CHECKPOINT_FORMAT = "msae-lm-checkpoint-1";

export interface CheckpointInfo {
  step: number;
  samples: number;
}

export async function saveCheckpoint(
  path: string,
  params: Gemma2Params,
  optimizer: AdamW,
  info: CheckpointInfo,
  fingerprint: unknown,
): Promise<void> {
  const st = optimizer.state();
  const tensors = new Map<string, { dtype: "F32"; shape: readonly number[]; data: Float32Array }>();
  const f32 = (a: FloatArray, name: string): Float32Array => {
    if (!(a instanceof Float32Array)) throw new Error(`checkpoint: ${name} is not float32`);
    return a;
  };
  for (const p of params.list) {
    tensors.set(`param/${p.name}`, { dtype: "F32", shape: p.shape, data: f32(p.data, p.name) });
    tensors.set(`adam_m/${p.name}`, { dtype: "F32", shape: p.shape, data: f32(st.m[p.name], p.name) });
    tensors.set(`adam_v/${p.name}`, { dtype: "F32", shape: p.shape, data: f32(st.v[p.name], p.name) });
  }
  await writeSafetensors(path, tensors, {
    format: CHECKPOINT_FORMAT,
    step: String(info.step),
    adam_step: String(st.step),
    lr: String(st.lr),
    samples: String(info.samples),
    fingerprint: JSON.stringify(fingerprint),
  });
}

/** The first path at which two JSON values differ ("" when equal). */
export function firstDifference(a: unknown, b: unknown, path = ""): string | null {
  if (a === b) return null;
  if (a && b && typeof a === "object" && typeof b === "object" && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const d = firstDifference(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        path ? `${path}.${k}` : k,
      );
      if (d !== null) return d;
    }
    return null;
  }
  return path || "(root)";
}

/** Loads a checkpoint into params and optimizer after checking it belongs to this run. */
export function loadCheckpoint(
  path: string,
  params: Gemma2Params,
  optimizer: AdamW,
  fingerprint: unknown,
): CheckpointInfo {
  if (!existsSync(path)) throw new Error(`--resume: no checkpoint at ${path}; start without --resume`);
  const f = SafetensorsFile.open(path);
  try {
    const md = f.metadata;
    if (md.format !== CHECKPOINT_FORMAT)
      throw new Error(`${path}: format ${JSON.stringify(md.format)} is not ${CHECKPOINT_FORMAT}`);
    let saved: unknown;
    try {
      saved = JSON.parse(md.fingerprint ?? "null");
    } catch {
      throw new Error(`${path}: the run fingerprint in the metadata is not valid JSON`);
    }
    const diff = firstDifference(saved, fingerprint);
    if (diff !== null) {
      const show = (v: unknown) => JSON.stringify(diff.split(".").reduce<unknown>((o, k) => (o as never)?.[k], v));
      throw new Error(
        `--resume: the checkpoint was made with ${diff} = ${show(saved)} but this run has ${show(fingerprint)}; ` +
          "resume with the same config and data, or start a new output folder",
      );
    }
    const m: Record<string, FloatArray> = {};
    const v: Record<string, FloatArray> = {};
    const read = (name: string, shape: readonly number[]): Float32Array => {
      const data = f.readF32(name, { shape, dtypes: ["F32"], purpose: "checkpoints hold float32" });
      checkFinite(path, name, data, { hint: "the checkpoint is corrupt; restart the run" });
      return data;
    };
    for (const p of params.list) {
      p.data.set(read(`param/${p.name}`, p.shape));
      m[p.name] = read(`adam_m/${p.name}`, p.shape);
      v[p.name] = read(`adam_v/${p.name}`, p.shape);
    }
    const step = Number(md.step);
    const samples = Number(md.samples);
    if (!Number.isInteger(step) || step < 0 || !Number.isInteger(samples) || samples < 0)
      throw new Error(`${path}: step ${md.step} / samples ${md.samples} are not integers >= 0`);
    optimizer.loadState({ step: Number(md.adam_step), lr: Number(md.lr), m, v });
    return { step, samples };
  } finally {
    f.close();
  }
}
