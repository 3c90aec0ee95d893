/**
 * Fuzz format "tokenizer.json": corrupted tokenizer.json files (the Gemma-style and GPT-2-style
 * golden fixtures), loaded by loadTokenizer. A correct load must encode a probe text to integer
 * ids inside [0, vocabSize) that are tokens of the file (checked here against its own vocab and
 * added_tokens, parsed independently), decode back to a string, and report special ids that are
 * tokens of the file.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type LoadedTokenizer, loadTokenizer } from "../../../src/tokenizer/load.ts";
import { type Corruptor, type FuzzFormat, jsonCorruptors, type Rng } from "../generator.ts";

const GOLDEN = join(import.meta.dirname, "..", "..", "golden", "lm");
const int = (rng: Rng, n: number) => Math.floor(rng.next() * n);
const enc = new TextEncoder();
const dec = new TextDecoder();
const PROBE = "The cat sat, and the hat 12 fell! <bos> e\u0301 日本";

type Tok = { model: Record<string, unknown>; added_tokens?: { id: number; content: string }[] };

function edit(name: string, f: (t: Tok, rng: Rng) => void): Corruptor {
  return {
    name,
    apply: (b, rng) => {
      const t = JSON.parse(dec.decode(b)) as Tok;
      f(t, rng);
      return enc.encode(JSON.stringify(t));
    },
  };
}

const specific: Corruptor[] = [
  edit("model.type changed", (t, rng) => {
    t.model.type = ["BPE", "Unigram", "WordPiece", "WordLevel", "bpe", "Nope", 5][int(rng, 7)];
  }),
  edit("vocab id duplicated / out of range", (t, rng) => {
    const v = t.model.vocab as Record<string, unknown>;
    const keys = Object.keys(v);
    const k = keys[int(rng, keys.length)];
    v[k] = [v[keys[int(rng, keys.length)]], -1, 1e9, 1.5, "3", null][int(rng, 6)];
  }),
  edit("merge corrupted", (t, rng) => {
    const m = t.model.merges as unknown[];
    if (!Array.isArray(m) || m.length === 0) return;
    m[int(rng, m.length)] = ["zz qq", "a", "", ["a"], 5, "a b c"][int(rng, 6)];
  }),
  edit("vocab token dropped", (t, rng) => {
    const v = t.model.vocab as Record<string, unknown>;
    const keys = Object.keys(v);
    delete v[keys[int(rng, keys.length)]];
  }),
  edit("added token changed", (t, rng) => {
    const a = t.added_tokens;
    if (!a?.length) return;
    const x = a[int(rng, a.length)] as Record<string, unknown>;
    const ops: (() => void)[] = [
      () => {
        x.id = (x.id as number) + 1 + int(rng, 5);
      },
      () => {
        x.id = -1;
      },
      () => {
        x.content = "";
      },
      () => {
        x.content = a[int(rng, a.length)].content;
      },
      () => {
        x.id = 100000;
      },
    ];
    ops[int(rng, ops.length)]();
  }),
  edit("pre_tokenizer / decoder / normalizer changed", (t, rng) => {
    const r = t as unknown as Record<string, unknown>;
    const key = ["pre_tokenizer", "decoder", "normalizer", "post_processor"][int(rng, 4)];
    r[key] = [null, { type: "Nope" }, { type: "ByteLevel" }, 5, { type: "Metaspace" }][int(rng, 5)];
  }),
];

export const tokenizerFormat: FuzzFormat<{ tok: LoadedTokenizer }> = {
  name: "tokenizer.json",
  bases: (work) => {
    mkdirSync(join(work, "tok"), { recursive: true });
    return ["gemma2-old", "gpt2"].map((fx) => new Uint8Array(readFileSync(join(GOLDEN, fx, "tokenizer.json"))));
  },
  corruptors: [...specific, ...specific, ...jsonCorruptors],
  load: (bytes, work) => {
    const p = join(work, "tok", "tokenizer.json");
    writeFileSync(p, bytes);
    return { tok: loadTokenizer(p) };
  },
  check: ({ tok }, bytes) => {
    const t = JSON.parse(dec.decode(bytes)) as Tok;
    const ids = new Set<number>();
    const v = t.model.vocab;
    if (Array.isArray(v)) for (let i = 0; i < v.length; i++) ids.add(i);
    else for (const id of Object.values(v as Record<string, number>)) ids.add(id);
    for (const a of t.added_tokens ?? []) ids.add(a.id);
    if (!(Number.isInteger(tok.vocabSize) && tok.vocabSize > 0)) throw new Error(`vocabSize ${tok.vocabSize}`);
    const out = tok.encode(PROBE);
    for (const id of out)
      if (!Number.isInteger(id) || id < 0 || id >= tok.vocabSize || !ids.has(id))
        throw new Error(`encode gave id ${id}, not a token of the file (vocabSize ${tok.vocabSize})`);
    if (typeof tok.decode(out) !== "string") throw new Error("decode did not return a string");
    for (const s of [tok.bosId, tok.eosId, tok.padId])
      if (s !== null && !ids.has(s)) throw new Error(`special id ${s} is not a token of the file`);
  },
};
