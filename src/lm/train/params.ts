/**
 * Trainable Gemma-2 parameters: one Parameter per tensor of the HF weight map (gemma2WeightSpecs),
 * named as stored in a Gemma2ForCausalLM safetensors file ("model.layers.0.self_attn.q_proj.weight",
 * ...), with the Gemma2Weights view the forward reads and the same view over the gradients.
 * Weight decay applies to the matrices (embedding included) and not to the RMSNorm gains.
 *
 * Init (seeded, deterministic, in weight-map order): matrices ~ N(0, initStd^2) (HF Gemma2
 * initializer_range), RMSNorm gains w = 0 (the norm multiplies by 1 + w, so they start at 1).
 *
 * Memory: every parameter is a view into one flat data buffer and its gradient into one flat
 * gradient buffer, laid out as [every matrix in weight-map order | every gain in weight-map order]:
 * per layer q, k, v, o, gate, up, down are adjacent, so q|k|v is one [(H + 2 KV) hd, d] matrix and
 * gate|up one [2 dMlp, d] (the forward and backward run one GEMM for each: gemma2/packed.ts), and
 * the optimizer runs one pass over the decayed matrices and one over the gains (AdamW coalesces
 * adjacent views). Names, shapes and the list order are those of the weight map.
 */
import type { FloatArray } from "../../core/backend.ts";
import { Parameter } from "../../core/parameter.ts";
import { Rng } from "../../core/tensor.ts";
import type { Gemma2Config } from "../gemma2/config.ts";
import { type Gemma2Weights, gemma2WeightSpecs, gemma2Weights } from "../gemma2/weights.ts";

export type ParamDtype = "float32" | "float64";

export interface Gemma2Params {
  /** Every trainable tensor, in weight-map order (the tied unembedding is not a separate one). */
  list: Parameter<FloatArray>[];
  /** The forward's view of the parameter data (lmHead === embed when tied). */
  weights: Gemma2Weights;
  /** The same view over the gradient buffers. */
  grads: Gemma2Weights;
}

/** Stored name of a canonical weight name (lm_head.weight has no "model." prefix). */
export function storedName(canonical: string): string {
  return canonical === "lm_head.weight" ? canonical : `model.${canonical}`;
}

/** Zero-filled parameters for cfg (call initGemma2Params or load data into them). */
export function createGemma2Params(cfg: Gemma2Config, dtype: ParamDtype = "float32"): Gemma2Params {
  const list: Parameter<FloatArray>[] = [];
  const data = new Map<string, Float32Array>();
  const grad = new Map<string, Float32Array>();
  const specs = gemma2WeightSpecs(cfg);
  const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const offsets = new Map<string, number>();
  let total = 0;
  for (const matrices of [true, false])
    for (const spec of specs)
      if (spec.shape.length >= 2 === matrices) {
        offsets.set(spec.name, total);
        total += size(spec.shape);
      }
  const flat: FloatArray = dtype === "float64" ? new Float64Array(total) : new Float32Array(total);
  const flatGrad: FloatArray = dtype === "float64" ? new Float64Array(total) : new Float32Array(total);
  for (const spec of specs) {
    const o = offsets.get(spec.name) ?? 0;
    const n = size(spec.shape);
    const arr = flat.subarray(o, o + n);
    const p = new Parameter<FloatArray>(
      storedName(spec.name),
      arr,
      spec.shape,
      spec.shape.length >= 2,
      flatGrad.subarray(o, o + n),
    );
    list.push(p);
    // The forward is typed over Float32Array; a Float64Array runs the same code on the ref backend.
    data.set(spec.name, p.data as Float32Array);
    grad.set(spec.name, p.grad as Float32Array);
  }
  return { list, weights: gemma2Weights(cfg, data), grads: gemma2Weights(cfg, grad) };
}

/** Seeded init: matrices N(0, initStd^2), norm gains 0. */
export function initGemma2Params(params: Gemma2Params, seed: number, initStd: number): void {
  const rng = new Rng(seed);
  for (const p of params.list) {
    if (p.shape.length >= 2) rng.fillNormal(p.data, initStd);
    else p.data.fill(0);
  }
}

/** Number of trainable scalars. */
export function countParams(params: Gemma2Params): number {
  let n = 0;
  for (const p of params.list) n += p.data.length;
  return n;
}
