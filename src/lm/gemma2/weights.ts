/**
 * Gemma-2 weight map: HF names (Gemma2ForCausalLM stores them under "model."; a bare Gemma2Model
 * without it; both accepted) and shapes from the config. nn.Linear weights are [out, in].
 *
 *   embed_tokens.weight                      [vocab, d]        (tied unembedding unless tie_word_embeddings = false)
 *   layers.N.self_attn.q_proj.weight         [H * hd, d]
 *   layers.N.self_attn.{k,v}_proj.weight     [KV * hd, d]
 *   layers.N.self_attn.o_proj.weight         [d, H * hd]
 *   layers.N.mlp.{gate,up}_proj.weight       [dMlp, d]
 *   layers.N.mlp.down_proj.weight            [d, dMlp]
 *   layers.N.{input,post_attention,pre_feedforward,post_feedforward}_layernorm.weight  [d]
 *   norm.weight                              [d]
 *   lm_head.weight (untied only, no prefix)  [vocab, d]
 */
import type { WeightSpec } from "../weights.ts";
import type { Gemma2Config } from "./config.ts";

export const GEMMA2_PREFIXES = ["model.", ""] as const;

export interface Gemma2LayerWeights {
  inputNorm: Float32Array; // [d]
  wq: Float32Array; // [H*hd, d]
  wk: Float32Array; // [KV*hd, d]
  wv: Float32Array; // [KV*hd, d]
  wo: Float32Array; // [d, H*hd]
  postAttnNorm: Float32Array; // [d]
  preFfNorm: Float32Array; // [d]
  wGate: Float32Array; // [dMlp, d]
  wUp: Float32Array; // [dMlp, d]
  wDown: Float32Array; // [d, dMlp]
  postFfNorm: Float32Array; // [d]
}

export interface Gemma2Weights {
  embed: Float32Array; // [vocab, d]
  layers: Gemma2LayerWeights[];
  finalNorm: Float32Array; // [d]
  lmHead: Float32Array; // [vocab, d] (the embedding itself when tied)
}

const NORMS = [
  "input_layernorm",
  "post_attention_layernorm",
  "pre_feedforward_layernorm",
  "post_feedforward_layernorm",
];

export function gemma2WeightSpecs(cfg: Gemma2Config): WeightSpec[] {
  const { hiddenSize: d, numHeads: H, numKvHeads: KV, headDim: hd, intermediateSize: m, vocabSize: V } = cfg;
  const specs: WeightSpec[] = [{ name: "embed_tokens.weight", shape: [V, d] }];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `layers.${l}.`;
    specs.push(
      { name: `${p}self_attn.q_proj.weight`, shape: [H * hd, d] },
      { name: `${p}self_attn.k_proj.weight`, shape: [KV * hd, d] },
      { name: `${p}self_attn.v_proj.weight`, shape: [KV * hd, d] },
      { name: `${p}self_attn.o_proj.weight`, shape: [d, H * hd] },
      { name: `${p}mlp.gate_proj.weight`, shape: [m, d] },
      { name: `${p}mlp.up_proj.weight`, shape: [m, d] },
      { name: `${p}mlp.down_proj.weight`, shape: [d, m] },
    );
    for (const n of NORMS) specs.push({ name: `${p}${n}.weight`, shape: [d] });
  }
  specs.push({ name: "norm.weight", shape: [d] });
  if (!cfg.tieEmbeddings) specs.push({ name: "lm_head.weight", shape: [V, d], prefixes: [""] });
  return specs;
}

export function gemma2Weights(cfg: Gemma2Config, w: ReadonlyMap<string, Float32Array>): Gemma2Weights {
  const get = (n: string) => {
    const t = w.get(n);
    if (!t) throw new Error(`gemma2: weight ${n} was not loaded`);
    return t;
  };
  const layers: Gemma2LayerWeights[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `layers.${l}.`;
    layers.push({
      inputNorm: get(`${p}input_layernorm.weight`),
      wq: get(`${p}self_attn.q_proj.weight`),
      wk: get(`${p}self_attn.k_proj.weight`),
      wv: get(`${p}self_attn.v_proj.weight`),
      wo: get(`${p}self_attn.o_proj.weight`),
      postAttnNorm: get(`${p}post_attention_layernorm.weight`),
      preFfNorm: get(`${p}pre_feedforward_layernorm.weight`),
      wGate: get(`${p}mlp.gate_proj.weight`),
      wUp: get(`${p}mlp.up_proj.weight`),
      wDown: get(`${p}mlp.down_proj.weight`),
      postFfNorm: get(`${p}post_feedforward_layernorm.weight`),
    });
  }
  const embed = get("embed_tokens.weight");
  return { embed, layers, finalNorm: get("norm.weight"), lmHead: cfg.tieEmbeddings ? embed : get("lm_head.weight") };
}
