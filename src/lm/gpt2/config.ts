/**
 * GPT-2 config.json -> Gpt2Config, following transformers' GPT2Config (defaults are its defaults,
 * i.e. gpt2-small's). Field aliases as in GPT2Config.attribute_map: hidden_size = n_embd,
 * num_hidden_layers = n_layer, num_attention_heads = n_head, max_position_embeddings = n_positions.
 * n_inner null -> 4 * n_embd. activation_function "gelu_new" (GELU, tanh approximation).
 * Attention scores are divided by sqrt(head_dim) when scale_attn_weights (default true) and
 * additionally by (layer + 1) when scale_attn_by_inverse_layer_idx (default false).
 */
import { ConfigReader, checkTanhGelu, MAX_LAYERS, type RawConfig } from "../config-fields.ts";
import type { ModelDims } from "../model.ts";

export interface Gpt2Config {
  vocabSize: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nInner: number;
  nPositions: number;
  layerNormEps: number;
  scaleAttnWeights: boolean;
  scaleAttnByInverseLayerIdx: boolean;
  tieEmbeddings: boolean;
  bosId: number | null;
  eosId: number | null;
}

export function parseGpt2Config(raw: RawConfig, where: string): Gpt2Config {
  const c = new ConfigReader(raw, where);
  const nEmbd = c.int(["n_embd", "hidden_size"], 768);
  const nHead = c.int(["n_head", "num_attention_heads"], 12);
  if (nEmbd % nHead !== 0) c.fail("n_head", nHead, `a divisor of n_embd (${nEmbd})`);
  checkTanhGelu(c, "activation_function", "gelu_new");
  if (c.bool("add_cross_attention", false)) c.fail("add_cross_attention", true, "false (decoder-only GPT-2)");
  return {
    vocabSize: c.int("vocab_size", 50257),
    nEmbd,
    nLayer: c.int(["n_layer", "num_hidden_layers"], 12, 1, MAX_LAYERS),
    nHead,
    nInner: c.int("n_inner", 4 * nEmbd),
    nPositions: c.int(["n_positions", "max_position_embeddings"], 1024),
    layerNormEps: c.positive("layer_norm_epsilon", 1e-5),
    scaleAttnWeights: c.bool("scale_attn_weights", true),
    scaleAttnByInverseLayerIdx: c.bool("scale_attn_by_inverse_layer_idx", false),
    tieEmbeddings: c.bool("tie_word_embeddings", true),
    bosId: c.tokenId("bos_token_id", 50256),
    eosId: c.tokenId("eos_token_id", 50256),
  };
}

export function gpt2Dims(cfg: Gpt2Config): ModelDims {
  return {
    nLayers: cfg.nLayer,
    dModel: cfg.nEmbd,
    nHeads: cfg.nHead,
    nKvHeads: cfg.nHead,
    headDim: cfg.nEmbd / cfg.nHead,
    dMlp: cfg.nInner,
    vocabSize: cfg.vocabSize,
    contextLength: cfg.nPositions,
  };
}
