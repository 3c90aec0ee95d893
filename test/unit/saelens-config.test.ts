// SAELens cfg.json in both layouts: hand-written examples in the style of SAELens releases
// (gpt2-small-res-jb's early flat files, a 3.x/4.x flat file, a TopK flat file, and v6 files
// like those SAELens >= 6 writes), what each means, and one-line errors.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSaelensConfig, saelensConfigJson } from "../../src/io/saelens.ts";

// Early SAELens (gpt2-small-res-jb): flat, hook_point names, torch dtype, no architecture.
const GPT2_RES_JB = {
  model_name: "gpt2-small",
  hook_point: "blocks.8.hook_resid_pre",
  hook_point_layer: 8,
  hook_point_head_index: null,
  dataset_path: "Skylion007/openwebtext",
  is_dataset_tokenized: false,
  context_size: 128,
  use_cached_activations: false,
  d_in: 768,
  n_batches_in_buffer: 128,
  total_training_tokens: 300000000,
  store_batch_size: 32,
  device: "mps",
  seed: 42,
  dtype: "torch.float32",
  b_dec_init_method: "geometric_median",
  expansion_factor: 32,
  l1_coefficient: 8e-5,
  lr: 0.0004,
  train_batch_size: 4096,
  d_sae: 24576,
  run_name: "24576-L1-8e-05-LR-0.0004-Tokens-3.000e+08",
};

// SAELens 3.x / 4.x: flat, hook_name, an architecture, a boolean normalize_activations.
const V4_JUMPRELU = {
  architecture: "jumprelu",
  d_in: 2304,
  d_sae: 16384,
  dtype: "float32",
  model_name: "gemma-2-2b",
  hook_name: "blocks.12.hook_resid_post",
  hook_head_index: null,
  activation_fn_str: "relu",
  finetuning_scaling_factor: false,
  sae_lens_training_version: null,
  prepend_bos: true,
  dataset_path: "monology/pile-uncopyrighted",
  context_size: 1024,
  dataset_trust_remote_code: true,
  apply_b_dec_to_input: false,
  normalize_activations: null,
  sae_lens_version: "4.4.1",
};

const V5_TOPK = {
  d_in: 512,
  d_sae: 16384,
  dtype: "float32",
  device: "cuda",
  model_name: "pythia-70m-deduped",
  hook_name: "blocks.3.attn.hook_z",
  hook_head_index: null,
  activation_fn: "topk",
  activation_fn_kwargs: { k: 32 },
  apply_b_dec_to_input: true,
  normalize_activations: true,
  context_size: 128,
  sae_lens_version: "5.9.1",
};

// SAELens >= 6: run fields on top, provenance under metadata, architecture last.
const V6_STANDARD = {
  d_in: 768,
  d_sae: 24576,
  dtype: "float32",
  device: "cpu",
  apply_b_dec_to_input: true,
  normalize_activations: "expected_average_only_in",
  reshape_activations: "none",
  metadata: {
    sae_lens_version: "6.5.1",
    sae_lens_training_version: "6.5.1",
    model_name: "gpt2",
    hook_name: "blocks.8.hook_resid_pre",
    hook_head_index: null,
    prepend_bos: true,
    context_size: 128,
    dataset_path: "Skylion007/openwebtext",
    neuronpedia_id: "gpt2-small/8-res-jb",
  },
  architecture: "standard",
};

test("v5: the early gpt2-small-res-jb flat file", () => {
  const c = parseSaelensConfig(GPT2_RES_JB);
  assert.equal(c.layout, "v5");
  assert.equal(c.architecture, "standard");
  assert.equal(c.d_in, 768);
  assert.equal(c.d_sae, 24576);
  assert.equal(c.dtype, "float32");
  assert.equal(c.device, "mps");
  assert.equal(c.apply_b_dec_to_input, true);
  assert.equal(c.normalize_activations, "none");
  assert.equal(c.reshape_activations, "none");
  assert.equal(c.metadata.hook_name, "blocks.8.hook_resid_pre");
  assert.equal(c.metadata.hook_head_index, null);
  assert.equal(c.metadata.model_name, "gpt2-small");
  assert.equal(c.metadata.context_size, 128);
  assert.equal(c.metadata.prepend_bos, true);
  assert.equal(c.metadata.dataset_path, "Skylion007/openwebtext");
  assert.equal("hook_point" in c.extra, false);
  assert.equal(c.extra.l1_coefficient, 8e-5);
});

test("v5: a 4.x jumprelu file and a topk file", () => {
  const j = parseSaelensConfig(V4_JUMPRELU);
  assert.equal(j.layout, "v5");
  assert.equal(j.architecture, "jumprelu");
  assert.equal(j.apply_b_dec_to_input, false);
  assert.equal(j.normalize_activations, "none");
  assert.equal(j.metadata.sae_lens_version, "4.4.1");
  assert.equal(j.metadata.hook_name, "blocks.12.hook_resid_post");
  assert.equal(j.extra.activation_fn, "relu");
  const t = parseSaelensConfig(V5_TOPK);
  assert.equal(t.architecture, "topk");
  assert.equal(t.extra.k, 32);
  assert.equal(t.normalize_activations, "expected_average_only_in");
  assert.equal(t.reshape_activations, "hook_z");
});

test("v6: metadata read as written; our writer's layout reads back the same", () => {
  const c = parseSaelensConfig(V6_STANDARD);
  assert.equal(c.layout, "v6");
  assert.equal(c.architecture, "standard");
  assert.equal(c.normalize_activations, "expected_average_only_in");
  assert.equal(c.metadata.neuronpedia_id, "gpt2-small/8-res-jb");
  assert.deepEqual(c.extra, {});
  const ours = saelensConfigJson({
    ...c,
    architecture: "topk",
    extra: { k: 16 },
    metadata: { hook_name: "blocks.1.hook_resid_post", msae_architecture: "topk", l0: 16 },
  });
  assert.deepEqual(Object.keys(ours).slice(0, 8), [
    "architecture",
    "d_in",
    "d_sae",
    "dtype",
    "device",
    "apply_b_dec_to_input",
    "normalize_activations",
    "reshape_activations",
  ]);
  assert.equal((ours.metadata as Record<string, unknown>).sae_lens_version, "6.0.0");
  const back = parseSaelensConfig(JSON.parse(JSON.stringify(ours)));
  assert.equal(back.layout, "v6");
  assert.equal(back.extra.k, 16);
  assert.equal(back.metadata.msae_architecture, "topk");
  assert.equal(back.metadata.l0, 16);
});

test("bad cfg.json fields are one line naming the field and what is expected", () => {
  const cases: [unknown, RegExp][] = [
    [[1, 2], /expected a JSON object, got an array/],
    [{ ...V6_STANDARD, d_in: 0 }, /field "d_in" is 0: expected an integer >= 1/],
    [{ ...V6_STANDARD, d_sae: undefined }, /field "d_sae" is missing: expected an integer >= 1/],
    [{ ...V6_STANDARD, dtype: "int8" }, /field "dtype" is "int8": expected one of float32/],
    [{ ...V6_STANDARD, normalize_activations: "whiten" }, /field "normalize_activations" is "whiten"/],
    [{ ...V6_STANDARD, metadata: 3 }, /field "metadata" is 3: expected an object/],
    [{ ...V6_STANDARD, architecture: "" }, /field "architecture" is "": expected an SAELens architecture name/],
    [
      { ...V6_STANDARD, metadata: { ...V6_STANDARD.metadata, activation_norm_scaling_factor: -1 } },
      /activation_norm_scaling_factor" is -1: expected a finite number > 0/,
    ],
  ];
  for (const [raw, re] of cases)
    assert.throws(
      () => parseSaelensConfig(raw, "cfg.json"),
      (e: unknown) => e instanceof Error && re.test(e.message) && !e.message.includes("\n"),
      JSON.stringify(raw).slice(0, 80),
    );
});
