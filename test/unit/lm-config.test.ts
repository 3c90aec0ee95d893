/**
 * Config mapping (src/lm/{gemma2,gpt2}/config.ts, registry.ts) and hook names (src/lm/hooks.ts):
 * values read from both Gemma-2 config styles, transformers' defaults, one-line errors.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseGemma2Config } from "../../src/lm/gemma2/config.ts";
import { gemma2WeightSpecs } from "../../src/lm/gemma2/weights.ts";
import { parseGpt2Config } from "../../src/lm/gpt2/config.ts";
import { HookPlan, listHookNames, parseHookName } from "../../src/lm/hooks.ts";
import { findArchitecture } from "../../src/lm/registry.ts";

/** gemma-2-2b's config.json (older style), as published. */
const GEMMA_2_2B = {
  architectures: ["Gemma2ForCausalLM"],
  attention_bias: false,
  attention_dropout: 0.0,
  attn_logit_softcapping: 50.0,
  bos_token_id: 2,
  cache_implementation: "hybrid",
  eos_token_id: 1,
  final_logit_softcapping: 30.0,
  head_dim: 256,
  hidden_act: "gelu_pytorch_tanh",
  hidden_activation: "gelu_pytorch_tanh",
  hidden_size: 2304,
  initializer_range: 0.02,
  intermediate_size: 9216,
  max_position_embeddings: 8192,
  model_type: "gemma2",
  num_attention_heads: 8,
  num_hidden_layers: 26,
  num_key_value_heads: 4,
  pad_token_id: 0,
  query_pre_attn_scalar: 256,
  rms_norm_eps: 1e-6,
  rope_theta: 10000.0,
  sliding_window: 4096,
  torch_dtype: "float32",
  vocab_size: 256000,
};

describe("gemma2 config", () => {
  test("older style: gemma-2-2b values, even layers sliding", () => {
    const c = parseGemma2Config(GEMMA_2_2B, "config.json");
    assert.equal(c.numLayers, 26);
    assert.equal(c.hiddenSize, 2304);
    assert.equal(c.numKvHeads, 4);
    assert.equal(c.headDim, 256);
    assert.equal(c.queryPreAttnScalar, 256);
    assert.equal(c.slidingWindow, 4096);
    assert.equal(c.attnSoftcap, 50);
    assert.equal(c.finalSoftcap, 30);
    assert.equal(c.ropeTheta, 10000);
    assert.deepEqual(
      c.layerSliding,
      Array.from({ length: 26 }, (_, i) => i % 2 === 0),
    );
    assert.equal(c.tieEmbeddings, true);
    // 2.61B parameters: gemma-2-2b's published count
    const n = gemma2WeightSpecs(c).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
    assert.equal(n, 2614341888);
  });

  test("newer style: rope_parameters and layer_types win", () => {
    const raw = {
      ...GEMMA_2_2B,
      rope_theta: undefined,
      num_hidden_layers: 3,
      rope_parameters: { rope_theta: 123.0, rope_type: "default" },
      layer_types: ["full_attention", "sliding_attention", "sliding_attention"],
    };
    const c = parseGemma2Config(raw, "config.json");
    assert.equal(c.ropeTheta, 123);
    assert.deepEqual(c.layerSliding, [false, true, true]);
  });

  test("null soft-caps disable capping; absent ones take transformers' defaults", () => {
    const c = parseGemma2Config({ model_type: "gemma2", attn_logit_softcapping: null }, "c");
    assert.equal(c.attnSoftcap, null);
    assert.equal(c.finalSoftcap, 30);
    assert.equal(c.headDim, 256);
    assert.equal(c.numKvHeads, 4);
  });

  test("errors name the field", () => {
    const bad = (raw: object, re: RegExp) =>
      assert.throws(() => parseGemma2Config({ ...GEMMA_2_2B, ...raw }, "cfg.json"), re);
    bad({ rope_parameters: { rope_theta: 1, rope_type: "yarn" } }, /rope_type is "yarn"; expected "default"/);
    bad({ hidden_activation: "relu" }, /hidden_activation is "relu"/);
    bad({ num_key_value_heads: 3 }, /num_key_value_heads is 3; expected a divisor of num_attention_heads \(8\)/);
    bad({ layer_types: Array(26).fill("local") }, /layer_types\[0\] is "local"/);
    bad({ hidden_size: 0 }, /cfg\.json: field hidden_size is 0/);
  });
});

describe("gpt2 config", () => {
  test("gpt2-small values and aliases", () => {
    const c = parseGpt2Config(
      { model_type: "gpt2", n_embd: 768, n_head: 12, n_layer: 12, n_positions: 1024, n_inner: null },
      "c",
    );
    assert.equal(c.nInner, 3072);
    assert.equal(c.vocabSize, 50257);
    assert.equal(c.layerNormEps, 1e-5);
    const d = parseGpt2Config({ hidden_size: 64, num_attention_heads: 4, num_hidden_layers: 2 }, "c");
    assert.equal(d.nEmbd, 64);
    assert.equal(d.nHead, 4);
    assert.equal(d.nLayer, 2);
    assert.throws(() => parseGpt2Config({ activation_function: "gelu" }, "c"), /activation_function is "gelu"/);
  });
});

describe("registry", () => {
  test("model_type, then architectures, decide", () => {
    assert.equal(findArchitecture({ model_type: "gemma2" }, "c").name, "gemma2");
    assert.equal(findArchitecture({ architectures: ["GPT2LMHeadModel"] }, "c").name, "gpt2");
    assert.throws(
      () => findArchitecture({ model_type: "mistral" }, "c"),
      /unsupported architecture.*supported: gemma2.*gpt2/,
    );
  });
});

describe("hooks", () => {
  test("names and parsing", () => {
    assert.deepEqual(listHookNames(1), [
      "blocks.0.hook_resid_pre",
      "blocks.0.hook_attn_out",
      "blocks.0.hook_mlp_out",
      "blocks.0.hook_resid_post",
    ]);
    assert.deepEqual(parseHookName("blocks.3.hook_mlp_out", 4), { layer: 3, kind: "mlp_out" });
    for (const bad of [
      "blocks.4.hook_mlp_out",
      "blocks.01.hook_mlp_out",
      "blocks.0.hook_resid_mid",
      "resid_post",
      "",
    ]) {
      assert.throws(
        () => parseHookName(bad, 4),
        (e: Error) =>
          !e.message.includes("\n") &&
          /valid hooks are blocks\.\{L\}\.hook_\{resid_pre\|attn_out\|mlp_out\|resid_post\} with L in 0\.\.3/.test(
            e.message,
          ),
      );
    }
  });

  test("plan: layers to run", () => {
    assert.equal(new HookPlan(6, {}).layersToRun, 6);
    assert.equal(new HookPlan(6, { capture: ["blocks.2.hook_resid_pre"], logits: false }).layersToRun, 2);
    assert.equal(new HookPlan(6, { capture: ["blocks.2.hook_attn_out"], logits: false }).layersToRun, 3);
    assert.equal(new HookPlan(6, { capture: ["blocks.0.hook_resid_pre"], logits: false }).layersToRun, 0);
    assert.equal(new HookPlan(6, { splice: { "blocks.4.hook_resid_post": () => {} }, logits: false }).layersToRun, 5);
    assert.throws(() => new HookPlan(6, { capture: ["blocks.6.hook_resid_pre"] }), /unknown hook/);
  });
});
