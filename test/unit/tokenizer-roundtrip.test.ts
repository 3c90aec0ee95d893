/**
 * encode -> decode is the identity on any (lone-surrogate-free) text: random Unicode from a seeded
 * generator (ASCII, Latin, combining marks, CJK, emoji with skin tones and ZWJ, control characters,
 * unusual whitespace, BOM, literal special-token strings), real Brown text, and the empty string;
 * through our encoder and through @huggingface/tokenizers.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { brownDocuments } from "../../src/data/brown.ts";
import { type LoadedTokenizer, loadTokenizer } from "../../src/tokenizer/load.ts";
import { trainTokenizer, writeTokenizerJson } from "../../src/tokenizer/train.ts";

let dir: string;
let ours: LoadedTokenizer;
let hf: LoadedTokenizer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "msae-tok-rt-"));
  const docs = [...brownDocuments("train")].slice(0, 20);
  const { json } = await trainTokenizer(docs, { vocabSize: 1200 });
  writeTokenizerJson(join(dir, "tokenizer.json"), json);
  ours = loadTokenizer(join(dir, "tokenizer.json"));
  hf = loadTokenizer(join(dir, "tokenizer.json"), { engine: "hf" });
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Mulberry32: a small seeded PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const POOLS: (string[] | [number, number])[] = [
  [0x20, 0x7e], // ASCII printable
  [0x00, 0x1f], // C0 controls (incl. \t \n \r)
  [0x7f, 0x9f], // DEL and C1 controls
  [0xa0, 0x24f], // Latin-1 supplement, Latin extended
  [0x300, 0x36f], // combining marks
  [0x4e00, 0x9fff], // CJK
  [0x1f300, 0x1faff], // emoji (astral: surrogate pairs in JS)
  [0x10000, 0x10ffff], // any astral code point
  ["\u200d", "\u{1f3fd}", "\ufe0f", "\u00a0", "\u2028", "\u3000", "\ufeff", "\u200b", " ", "  ", "\n\n", "\r\n"],
  ["<bos>", "<eos>", "<pad>", "<bos", "eos>", "'s", "'ll", " the", "Ġ", "Ċ"],
  ["\u{1f468}\u200d\u{1f469}\u200d\u{1f467}", "\u{1f44d}\u{1f3fd}", "e\u0301", "\u0915\u094d\u0937"], // ZWJ family, skin tone, combining, Devanagari conjunct
];

function randomText(next: () => number): string {
  const length = Math.floor(next() * 60);
  let s = "";
  for (let i = 0; i < length; i++) {
    const pool = POOLS[Math.floor(next() * POOLS.length)];
    if (typeof pool[0] === "string") {
      s += pool[Math.floor(next() * pool.length)];
    } else {
      const [lo, hi] = pool as [number, number];
      let cp = lo + Math.floor(next() * (hi - lo + 1));
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41; // no lone surrogates
      s += String.fromCodePoint(cp);
    }
  }
  return s;
}

test("random Unicode round-trips exactly (our encoder and @huggingface/tokenizers agree)", () => {
  assert.equal(ours.engine, "msae-bpe");
  assert.equal(hf.engine, "huggingface");
  const next = rng(12345);
  for (let i = 0; i < 400; i++) {
    const text = randomText(next);
    const ids = ours.encode(text);
    assert.equal(ours.decode(ids), text, `our round trip failed on ${JSON.stringify(text)}`);
    const hfIds = hf.encode(text);
    assert.deepEqual(Array.from(ids), Array.from(hfIds), `encodings differ on ${JSON.stringify(text)}`);
    assert.equal(hf.decode(hfIds), text, `HF round trip failed on ${JSON.stringify(text)}`);
    for (const id of ids) assert.ok(id >= 0 && id < ours.vocabSize);
  }
});

test("Brown validation documents round-trip exactly", () => {
  for (const doc of brownDocuments("validation")) {
    const ids = ours.encode(doc);
    assert.ok(ids.length > 0 && ids.length < doc.length); // BPE compresses
    assert.equal(ours.decode(ids), doc);
  }
});

test("empty text encodes to no ids and decodes back", () => {
  for (const t of [ours, hf]) {
    assert.equal(t.encode("").length, 0);
    assert.equal(t.decode([]), "");
    assert.equal(t.decode(t.encode("")), "");
  }
});

test("literal special-token strings become their ids; skipSpecial drops them", () => {
  for (const t of [ours, hf]) {
    const ids = Array.from(t.encode("a<eos>b"));
    assert.ok(ids.includes(1));
    assert.equal(ids.length, 3);
    assert.equal(t.decode(ids), "a<eos>b");
    assert.equal(t.decode(ids, { skipSpecial: true }), "ab");
  }
});

test("a single byte-level token may be half a character; the whole sequence still decodes", () => {
  const ids = ours.encode("😀");
  assert.ok(ids.length >= 1);
  assert.equal(ours.decode(ids), "😀");
  assert.equal(ours.decode([...ids, ...ids]), "😀😀");
});
