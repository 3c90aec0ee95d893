/**
 * GPT-2 weight map: HF names with or without the "transformer." prefix (GPT2LMHeadModel vs
 * GPT2Model / the original hub files). Conv1D weights are stored [in, out] (y = x W + b).
 *
 *   wte.weight [vocab, d], wpe.weight [n_positions, d]
 *   h.N.ln_1.{weight,bias} [d]          h.N.ln_2.{weight,bias} [d]
 *   h.N.attn.c_attn.weight [d, 3d]      h.N.attn.c_attn.bias [3d]    (columns: q | k | v)
 *   h.N.attn.c_proj.weight [d, d]       h.N.attn.c_proj.bias [d]
 *   h.N.mlp.c_fc.weight [d, inner]      h.N.mlp.c_fc.bias [inner]
 *   h.N.mlp.c_proj.weight [inner, d]    h.N.mlp.c_proj.bias [d]
 *   ln_f.{weight,bias} [d]              lm_head.weight [vocab, d] (untied only, no prefix)
 * The h.N.attn.bias / masked_bias buffers of old checkpoints (the causal mask) are ignored.
 */
import type { WeightSpec } from "../weights.ts";
import type { Gpt2Config } from "./config.ts";

export const GPT2_PREFIXES = ["transformer.", ""] as const;

export interface Gpt2LayerWeights {
  ln1g: Float32Array; // [d]
  ln1b: Float32Array; // [d]
  wAttn: Float32Array; // [d, 3d]
  bAttn: Float32Array; // [3d]
  wAttnProj: Float32Array; // [d, d]
  bAttnProj: Float32Array; // [d]
  ln2g: Float32Array; // [d]
  ln2b: Float32Array; // [d]
  wFc: Float32Array; // [d, inner]
  bFc: Float32Array; // [inner]
  wMlpProj: Float32Array; // [inner, d]
  bMlpProj: Float32Array; // [d]
}

export interface Gpt2Weights {
  wte: Float32Array; // [vocab, d]
  wpe: Float32Array; // [n_positions, d]
  layers: Gpt2LayerWeights[];
  lnfg: Float32Array; // [d]
  lnfb: Float32Array; // [d]
  lmHead: Float32Array; // [vocab, d] (wte when tied)
}

export function gpt2WeightSpecs(cfg: Gpt2Config): WeightSpec[] {
  const { nEmbd: d, nInner: m, vocabSize: V } = cfg;
  const specs: WeightSpec[] = [
    { name: "wte.weight", shape: [V, d] },
    { name: "wpe.weight", shape: [cfg.nPositions, d] },
  ];
  for (let l = 0; l < cfg.nLayer; l++) {
    const p = `h.${l}.`;
    specs.push(
      { name: `${p}ln_1.weight`, shape: [d] },
      { name: `${p}ln_1.bias`, shape: [d] },
      { name: `${p}attn.c_attn.weight`, shape: [d, 3 * d] },
      { name: `${p}attn.c_attn.bias`, shape: [3 * d] },
      { name: `${p}attn.c_proj.weight`, shape: [d, d] },
      { name: `${p}attn.c_proj.bias`, shape: [d] },
      { name: `${p}ln_2.weight`, shape: [d] },
      { name: `${p}ln_2.bias`, shape: [d] },
      { name: `${p}mlp.c_fc.weight`, shape: [d, m] },
      { name: `${p}mlp.c_fc.bias`, shape: [m] },
      { name: `${p}mlp.c_proj.weight`, shape: [m, d] },
      { name: `${p}mlp.c_proj.bias`, shape: [d] },
    );
  }
  specs.push({ name: "ln_f.weight", shape: [d] }, { name: "ln_f.bias", shape: [d] });
  if (!cfg.tieEmbeddings) specs.push({ name: "lm_head.weight", shape: [V, d], prefixes: [""] });
  return specs;
}

export function gpt2Weights(cfg: Gpt2Config, w: ReadonlyMap<string, Float32Array>): Gpt2Weights {
  const get = (n: string) => {
    const t = w.get(n);
    if (!t) throw new Error(`gpt2: weight ${n} was not loaded`);
    return t;
  };
  const layers: Gpt2LayerWeights[] = [];
  for (let l = 0; l < cfg.nLayer; l++) {
    const p = `h.${l}.`;
    layers.push({
      ln1g: get(`${p}ln_1.weight`),
      ln1b: get(`${p}ln_1.bias`),
      wAttn: get(`${p}attn.c_attn.weight`),
      bAttn: get(`${p}attn.c_attn.bias`),
      wAttnProj: get(`${p}attn.c_proj.weight`),
      bAttnProj: get(`${p}attn.c_proj.bias`),
      ln2g: get(`${p}ln_2.weight`),
      ln2b: get(`${p}ln_2.bias`),
      wFc: get(`${p}mlp.c_fc.weight`),
      bFc: get(`${p}mlp.c_fc.bias`),
      wMlpProj: get(`${p}mlp.c_proj.weight`),
      bMlpProj: get(`${p}mlp.c_proj.bias`),
    });
  }
  const wte = get("wte.weight");
  return {
    wte,
    wpe: get("wpe.weight"),
    layers,
    lnfg: get("ln_f.weight"),
    lnfb: get("ln_f.bias"),
    lmHead: cfg.tieEmbeddings ? wte : get("lm_head.weight"),
  };
}
