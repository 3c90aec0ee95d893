/**
 * Gemma-2 config.json -> Gemma2Config, following transformers' Gemma2Config (defaults are its
 * defaults, i.e. gemma-2-2b's values where a field is absent).
 *
 * Two config styles exist:
 * - older (transformers 4.42+): rope_theta, sliding_window, no layer_types. Layers alternate and
 *   EVEN layers (0, 2, ...) use the sliding window: modeling_gemma2 sets
 *   `sliding_window if not bool(layer_idx % 2) else None`.
 * - newer: rope_parameters {rope_theta, rope_type} and an explicit layer_types list of
 *   "sliding_attention" / "full_attention" (its default is the same even-layers-sliding pattern).
 * Only rope_type "default" is supported (what every Gemma-2 checkpoint uses).
 * hidden_activation (default gelu_pytorch_tanh) is the MLP activation; the legacy hidden_act
 * field is ignored, as transformers' Gemma2MLP ignores it.
 */
import { ConfigError, ConfigReader, checkTanhGelu, MAX_LAYERS, type RawConfig } from "../config-fields.ts";
import type { ModelDims } from "../model.ts";

export interface Gemma2Config {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** Attention scores are scaled by queryPreAttnScalar^-0.5 (not headDim^-0.5). */
  queryPreAttnScalar: number;
  /** Window of sliding layers: key j is visible from query i when 0 <= i - j < slidingWindow. */
  slidingWindow: number;
  /** Per layer: true = sliding-window attention, false = global. */
  layerSliding: boolean[];
  attnSoftcap: number | null;
  finalSoftcap: number | null;
  tieEmbeddings: boolean;
  maxPositions: number;
  bosId: number | null;
  eosId: number | null;
  padId: number | null;
}

export function parseGemma2Config(raw: RawConfig, where: string): Gemma2Config {
  const c = new ConfigReader(raw, where);
  const numLayers = c.int("num_hidden_layers", 26, 1, MAX_LAYERS);
  const numHeads = c.int("num_attention_heads", 8);
  const numKvHeads = c.int("num_key_value_heads", 4);
  if (numHeads % numKvHeads !== 0)
    c.fail("num_key_value_heads", numKvHeads, `a divisor of num_attention_heads (${numHeads})`);
  checkTanhGelu(c, "hidden_activation", "gelu_pytorch_tanh");
  if (c.bool("attention_bias", false)) c.fail("attention_bias", true, "false (Gemma-2 attention has no biases)");
  if (c.bool("use_bidirectional_attention", false))
    c.fail("use_bidirectional_attention", true, "false or absent (only causal attention is supported)");

  let ropeTheta = c.positive("rope_theta", 10000);
  const rp = raw.rope_parameters ?? raw.rope_scaling;
  if (rp !== undefined && rp !== null) {
    const field = raw.rope_parameters !== undefined ? "rope_parameters" : "rope_scaling";
    if (typeof rp !== "object" || Array.isArray(rp)) c.fail(field, rp, "an object {rope_theta, rope_type}");
    const r = new ConfigReader(rp as RawConfig, `${where}: ${field}`);
    const type = r.str("rope_type", r.str("type", "default"));
    if (type !== "default") r.fail("rope_type", type, '"default" (other RoPE scalings are not supported)');
    if (field === "rope_parameters" || r.has("rope_theta")) ropeTheta = r.positive("rope_theta", ropeTheta);
  }

  const slidingWindow = c.int(["sliding_window", "sliding_window_size"], 4096);
  let layerSliding: boolean[];
  const types = raw.layer_types;
  if (types === undefined || types === null) {
    layerSliding = Array.from({ length: numLayers }, (_, i) => i % 2 === 0);
  } else {
    if (!Array.isArray(types) || types.length !== numLayers)
      c.fail("layer_types", types, `a list of ${numLayers} entries (one per layer)`);
    layerSliding = (types as unknown[]).map((t, i) => {
      if (t === "sliding_attention") return true;
      if (t === "full_attention") return false;
      throw new ConfigError(
        `${where}: layer_types[${i}] is ${JSON.stringify(t)}; expected "sliding_attention" or "full_attention"`,
      );
    });
  }

  return {
    vocabSize: c.int("vocab_size", 256000),
    hiddenSize: c.int("hidden_size", 2304),
    intermediateSize: c.int("intermediate_size", 9216),
    numLayers,
    numHeads,
    numKvHeads,
    headDim: c.int("head_dim", 256),
    rmsNormEps: c.positive("rms_norm_eps", 1e-6),
    ropeTheta,
    queryPreAttnScalar: c.positive("query_pre_attn_scalar", 256),
    slidingWindow,
    layerSliding,
    attnSoftcap: c.positiveOrNull("attn_logit_softcapping", 50),
    finalSoftcap: c.positiveOrNull("final_logit_softcapping", 30),
    tieEmbeddings: c.bool("tie_word_embeddings", true),
    maxPositions: c.int("max_position_embeddings", 8192),
    bosId: c.tokenId("bos_token_id", 2),
    eosId: c.tokenId("eos_token_id", 1),
    padId: c.tokenId("pad_token_id", 0),
  };
}

export function gemma2Dims(cfg: Gemma2Config): ModelDims {
  return {
    nLayers: cfg.numLayers,
    dModel: cfg.hiddenSize,
    nHeads: cfg.numHeads,
    nKvHeads: cfg.numKvHeads,
    headDim: cfg.headDim,
    dMlp: cfg.intermediateSize,
    vocabSize: cfg.vocabSize,
    contextLength: cfg.maxPositions,
  };
}
