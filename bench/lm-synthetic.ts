/**
 * A Gemma-2 model folder with random weights, for `msae bench lm`: config.json + model.safetensors
 * (float32, HF names under "model."), written once and read by both msae (loadModel) and the
 * PyTorch peer (bench/torch_lm.py), so both sides run the SAME weights.
 *
 * Weights: projections and the embedding are uniform in [-a, a] with a = 0.02 sqrt(3) (std 0.02,
 * transformers' initializer_range); norm weights w uniform in [-0.1, 0.1] (the norms scale by 1 + w).
 * The generator is xorshift32 seeded per tensor, so a (shape, seed) gives the same folder every time.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type TensorToWrite, writeSafetensors } from "../src/io/safetensors-write.ts";

/** The dimensions of a synthetic Gemma-2 (HF config names in the comments). */
export interface Gemma2Shape {
  layers: number; // num_hidden_layers
  d: number; // hidden_size
  heads: number; // num_attention_heads
  kvHeads: number; // num_key_value_heads
  headDim: number; // head_dim
  ffn: number; // intermediate_size
  vocab: number; // vocab_size
}

/**
 * gemma-2-2b's block shapes, 2 layers. The vocabulary is 8192 because this case stops at the final
 * norm (no logits head: its GEMM would be 3.8x the two blocks'); the embedding gather it feeds costs
 * nothing measurable at any vocabulary size.
 */
export const GEMMA2_2B_SHAPE: Gemma2Shape = {
  layers: 2,
  d: 2304,
  heads: 8,
  kvHeads: 4,
  headDim: 256,
  ffn: 9216,
  vocab: 8192,
};

/** gemma-2-2b's config.json values for everything but the dimensions. */
export function gemma2ConfigJson(s: Gemma2Shape): Record<string, unknown> {
  return {
    architectures: ["Gemma2ForCausalLM"],
    model_type: "gemma2",
    attention_bias: false,
    attn_logit_softcapping: 50.0,
    final_logit_softcapping: 30.0,
    bos_token_id: 2,
    eos_token_id: 1,
    pad_token_id: 0,
    head_dim: s.headDim,
    hidden_activation: "gelu_pytorch_tanh",
    hidden_size: s.d,
    intermediate_size: s.ffn,
    max_position_embeddings: 8192,
    num_attention_heads: s.heads,
    num_hidden_layers: s.layers,
    num_key_value_heads: s.kvHeads,
    query_pre_attn_scalar: s.headDim,
    rms_norm_eps: 1e-6,
    rope_theta: 10000.0,
    sliding_window: 4096,
    tie_word_embeddings: true,
    torch_dtype: "float32",
    vocab_size: s.vocab,
  };
}

/** Fills out with uniform values in [-bound, bound] from xorshift32 seeded with `seed`. */
export function fillUniform(out: Float32Array, bound: number, seed: number): Float32Array {
  let x = (seed ^ 0x9e3779b9) >>> 0 || 1;
  const scale = (2 * bound) / 4294967296;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x * scale - bound;
  }
  return out;
}

/** Token ids [n] uniform in [0, vocab), deterministic in seed. */
export function randomIds(n: number, vocab: number, seed: number): Int32Array {
  const u = fillUniform(new Float32Array(n), 0.5, seed);
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = Math.min(vocab - 1, Math.floor((u[i] + 0.5) * vocab));
  return ids;
}

/** Every weight of the shape: HF name -> [shape, kind]. */
function weightList(s: Gemma2Shape): [string, number[], "matrix" | "norm"][] {
  const { d, heads: H, kvHeads: KV, headDim: hd, ffn: m, vocab: V } = s;
  const list: [string, number[], "matrix" | "norm"][] = [["model.embed_tokens.weight", [V, d], "matrix"]];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}.`;
    list.push(
      [`${p}self_attn.q_proj.weight`, [H * hd, d], "matrix"],
      [`${p}self_attn.k_proj.weight`, [KV * hd, d], "matrix"],
      [`${p}self_attn.v_proj.weight`, [KV * hd, d], "matrix"],
      [`${p}self_attn.o_proj.weight`, [d, H * hd], "matrix"],
      [`${p}mlp.gate_proj.weight`, [m, d], "matrix"],
      [`${p}mlp.up_proj.weight`, [m, d], "matrix"],
      [`${p}mlp.down_proj.weight`, [d, m], "matrix"],
    );
    for (const n of ["input", "post_attention", "pre_feedforward", "post_feedforward"])
      list.push([`${p}${n}_layernorm.weight`, [d], "norm"]);
  }
  list.push(["model.norm.weight", [d], "norm"]);
  return list;
}

/** Number of parameters of the shape (tied embedding counted once). */
export function parameterCount(s: Gemma2Shape): number {
  return weightList(s).reduce((n, [, shape]) => n + shape.reduce((a, b) => a * b, 1), 0);
}

/** Checks a shape: positive integers, heads a multiple of kvHeads, an even head dim (RoPE). */
export function checkShape(s: Gemma2Shape): void {
  for (const [k, v] of Object.entries(s))
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`bench lm: shape field ${k} = ${v}; expected an integer >= 1`);
  if (s.heads % s.kvHeads !== 0)
    throw new RangeError(`bench lm: ${s.heads} heads are not a multiple of ${s.kvHeads} key/value heads`);
  if (s.headDim % 2 !== 0) throw new RangeError(`bench lm: head dim ${s.headDim} must be even (RoPE)`);
}

/** Writes config.json and model.safetensors of a random-weight Gemma-2 into `dir` (which must exist). */
export async function writeSyntheticGemma2(dir: string, s: Gemma2Shape, seed = 1): Promise<void> {
  checkShape(s);
  writeFileSync(join(dir, "config.json"), `${JSON.stringify(gemma2ConfigJson(s), null, 2)}\n`);
  const tensors: Record<string, TensorToWrite> = {};
  let i = 0;
  for (const [name, shape, kind] of weightList(s)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    fillUniform(data, kind === "matrix" ? 0.02 * Math.sqrt(3) : 0.1, seed * 1000003 + i++);
    tensors[name] = { dtype: "F32", shape, data };
  }
  await writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
}
