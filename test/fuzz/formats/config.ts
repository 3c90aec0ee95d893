/**
 * Fuzz format "config.json": corrupted config.json files of the Gemma-2 and GPT-2 golden fixtures
 * (weights and tokenizer.json unchanged), loaded by loadModel. A correct load must agree with the
 * file read here independently (vocab_size / hidden size / layer count, defaults where absent) and
 * a forward pass over a few tokens must give finite logits of the right shape.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getBackend } from "../../../src/core/backends/index.ts";
import { loadModel } from "../../../src/lm/loader.ts";
import type { LanguageModel } from "../../../src/lm/model.ts";
import { type Corruptor, type FuzzFormat, jsonCorruptors, type Rng } from "../generator.ts";

const GOLDEN = join(import.meta.dirname, "..", "..", "golden", "lm");
const FIXTURES = ["gemma2-old", "gpt2"];
const int = (rng: Rng, n: number) => Math.floor(rng.next() * n);
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Field edits a careless user makes: special ids, sizes, model_type / architectures. */
const FIELDS = [
  "vocab_size",
  "bos_token_id",
  "eos_token_id",
  "pad_token_id",
  "hidden_size",
  "n_embd",
  "num_hidden_layers",
  "n_layer",
  "num_attention_heads",
  "num_key_value_heads",
  "head_dim",
  "intermediate_size",
  "rms_norm_eps",
  "layer_norm_epsilon",
  "query_pre_attn_scalar",
  "rope_theta",
  "attn_logit_softcapping",
  "final_logit_softcapping",
  "sliding_window",
  "max_position_embeddings",
  "n_positions",
  "tie_word_embeddings",
  "layer_types",
];
const VALUES: unknown[] = [0, 1, -1, 2, 3, 287, 288, 289, 1e-300, 1e300, 0.5, "2", null, true, [], [1, 2]];

const specific: Corruptor[] = [
  {
    name: "field set to an odd value",
    apply: (b, rng) => {
      const c = JSON.parse(dec.decode(b));
      c[FIELDS[int(rng, FIELDS.length)]] = VALUES[int(rng, VALUES.length)];
      return enc.encode(JSON.stringify(c));
    },
  },
  {
    name: "model_type / architectures swapped",
    apply: (b, rng) => {
      const c = JSON.parse(dec.decode(b));
      const types = ["gemma2", "gpt2", "llama", "", null];
      const classes = [["Gemma2ForCausalLM"], ["GPT2LMHeadModel"], ["LlamaForCausalLM"], [], "Gemma2ForCausalLM"];
      if (rng.next() < 0.5) c.model_type = types[int(rng, types.length)];
      else c.architectures = classes[int(rng, classes.length)];
      return enc.encode(JSON.stringify(c));
    },
  },
];

function field(c: Record<string, unknown>, names: string[], fallback: number): number {
  for (const n of names) if (c[n] !== undefined && c[n] !== null) return c[n] as number;
  return fallback;
}

export const configFormat: FuzzFormat<{ model: LanguageModel; fixture: number }> = {
  name: "config.json",
  bases: (work) =>
    FIXTURES.map((fx, i) => {
      const dir = join(work, `cfg-${i}`);
      mkdirSync(dir, { recursive: true });
      cpSync(join(GOLDEN, fx), dir, { recursive: true });
      return new Uint8Array(readFileSync(join(GOLDEN, fx, "config.json")));
    }),
  corruptors: [...specific, ...specific, ...jsonCorruptors],
  load: (bytes, work, fixture) => {
    const dir = join(work, `cfg-${fixture}`);
    writeFileSync(join(dir, "config.json"), bytes);
    return { model: loadModel(dir, { backend: getBackend() }), fixture };
  },
  check: ({ model }, bytes) => {
    const c = JSON.parse(dec.decode(bytes)) as Record<string, unknown>;
    const gpt2 = model.info.architecture === "gpt2";
    const vocab = field(c, ["vocab_size"], gpt2 ? 50257 : 256000);
    const d = field(c, gpt2 ? ["n_embd", "hidden_size"] : ["hidden_size"], gpt2 ? 768 : 2304);
    const layers = field(c, gpt2 ? ["n_layer", "num_hidden_layers"] : ["num_hidden_layers"], gpt2 ? 12 : 26);
    const dm = model.dims;
    if (dm.vocabSize !== vocab || dm.dModel !== d || dm.nLayers !== layers)
      throw new Error(`dims ${JSON.stringify(dm)} disagree with the file (vocab ${vocab}, d ${d}, layers ${layers})`);
    const T = Math.min(6, dm.contextLength);
    const ids = [[1, 5, 7, 9, 2, 3].slice(0, T)];
    const logits = model.run(ids).logits!;
    if (logits.data.length !== T * vocab) throw new Error(`logits have ${logits.data.length} values`);
    for (let i = 0; i < logits.data.length; i++)
      if (!Number.isFinite(logits.data[i])) throw new Error(`logit ${i} is ${logits.data[i]} after a successful load`);
  },
};
