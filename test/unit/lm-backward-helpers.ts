/**
 * Helpers for the Gemma-2 backward gradient checks: a tiny config with every Gemma-2 feature, a
 * float64 keepActivations workspace (the forward allocates Float32Array; here every Float32Array of
 * the workspace is swapped for a Float64Array of the same length, so the unchanged forward runs in float64 on the ref backend), and a finite-difference checker.
 */

import type { FloatArray } from "../../src/core/backend.ts";
import { refBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import type { Gemma2Config } from "../../src/lm/gemma2/config.ts";
import { Gemma2Model, type Gemma2Workspace } from "../../src/lm/gemma2/forward.ts";
import { createGemma2Params, type Gemma2Params, type ParamDtype } from "../../src/lm/train/params.ts";

export const ref = refBackend;

/** Every Gemma-2 feature: GQA (4 heads on 2 kv heads), sliding layer 0 (window 3 < T), caps small enough to bend. */
export function tinyConfig(over: Partial<Gemma2Config> = {}): Gemma2Config {
  return {
    vocabSize: 13,
    hiddenSize: 8,
    intermediateSize: 12,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 4,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    queryPreAttnScalar: 4,
    slidingWindow: 3,
    layerSliding: [true, false],
    attnSoftcap: 1.5,
    finalSoftcap: 2.5,
    tieEmbeddings: true,
    maxPositions: 16,
    bosId: 0,
    eosId: 1,
    padId: 2,
    ...over,
  };
}

/** Parameters with random values (norm gains too, so (1 + w) is exercised). */
export function randomParams(cfg: Gemma2Config, seed: number, dtype: ParamDtype = "float64"): Gemma2Params {
  const params = createGemma2Params(cfg, dtype);
  const rng = new Rng(seed);
  for (const p of params.list) rng.fillNormal(p.data, p.shape.length >= 2 ? 0.5 : 0.3);
  return params;
}

function widen(obj: Record<string, unknown>): void {
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    if (v instanceof Float32Array) obj[key] = new Float64Array(v.length);
    else if (Array.isArray(v) && v.length > 0 && v.every((x) => x instanceof Float32Array))
      obj[key] = v.map((x: Float32Array) => new Float64Array(x.length));
  }
}

/** A keepActivations workspace whose every float buffer is a Float64Array. */
export function f64Workspace(model: Gemma2Model, batch: number, seq: number): Gemma2Workspace {
  const ws = model.createWorkspace(batch, seq, true);
  const logits = ws.logits(); // allocate the lazy buffer so it is widened too
  const wsRec = ws as unknown as Record<string, unknown>;
  const logitsKey = Object.keys(wsRec).find((k) => wsRec[k] === logits);
  if (!logitsKey) throw new Error("f64Workspace: cannot find the workspace's logits buffer");
  widen(wsRec);
  for (const blk of ws.blocks) widen(blk as unknown as Record<string, unknown>);
  if (!(ws.logits() instanceof Float64Array)) throw new Error("f64Workspace: the logits buffer is still float32");
  return ws;
}

export function buildModel(cfg: Gemma2Config, params: Gemma2Params): Gemma2Model {
  return new Gemma2Model(cfg, params.weights, ref);
}

/** Full forward of ids [batch*seq] into ws. */
export function forward(model: Gemma2Model, ws: Gemma2Workspace, ids: Int32Array): FloatArray {
  model.embed(ws, ids);
  for (let l = 0; l < model.cfg.numLayers; l++) model.block(ws, l, null);
  return model.head(ws);
}

/** sum_i w_i y_i in float64. */
export function dot(w: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < w.length; i++) s += w[i] * y[i];
  return s;
}

export interface FdResult {
  maxError: number;
  worst: string;
}

/**
 * Compares analytic[j] with the central difference (L(x + eps) - L(x - eps)) / 2 eps of `loss`
 * for the listed entries j of x; error |a - n| / max(1, |a|, |n|) (float64: ~1e-9 when right).
 */
export function fdCheck(
  label: string,
  x: FloatArray,
  analytic: ArrayLike<number>,
  loss: () => number,
  entries: Iterable<number> = x.keys(),
  eps = 1e-5,
): FdResult {
  let maxError = 0;
  let worst = `${label}: no entries`;
  for (const j of entries) {
    const keep = x[j];
    x[j] = keep + eps;
    const up = loss();
    x[j] = keep - eps;
    const down = loss();
    x[j] = keep;
    const numeric = (up - down) / (2 * eps);
    const a = analytic[j];
    const err = Math.abs(a - numeric) / Math.max(1, Math.abs(a), Math.abs(numeric));
    if (err >= maxError) {
      maxError = err;
      worst = `${label}[${j}]: analytic ${a} vs numeric ${numeric} (error ${err.toExponential(2)})`;
    }
  }
  return { maxError, worst };
}

/** A few distinct random indices in [0, n). */
export function someIndices(n: number, count: number, seed: number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(seed);
  const set = new Set<number>();
  while (set.size < count) set.add(rng.int(n));
  return [...set].sort((a, b) => a - b);
}
