/**
 * BPE trainer: merges computed by hand on a tiny corpus, and the incremental trainer against a
 * naive trainer written here (full recount of every pair before each merge, same tie-break rule).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { brownDocuments } from "../../src/data/brown.ts";
import { trainBpe } from "../../src/tokenizer/bpe-trainer.ts";
import { byteToChar, preTokenize } from "../../src/tokenizer/bytes.ts";
import { countWords, trainTokenizer } from "../../src/tokenizer/train.ts";

const SPECIALS = ["<bos>", "<eos>", "<pad>"];
const mergeStrings = (tokens: string[], merges: [number, number][]): string[] =>
  merges.map(([l, r]) => `${tokens[l]} ${tokens[r]}`);

test("GPT-2 byte table: printable bytes map to themselves, space -> Ġ, newline -> Ċ, 256 distinct chars", () => {
  assert.equal(byteToChar[0x41], "A");
  assert.equal(byteToChar[0x20], "Ġ");
  assert.equal(byteToChar[0x0a], "Ċ");
  assert.equal(byteToChar[0x00], "Ā");
  assert.equal(byteToChar[0xad], "Ń"); // soft hyphen: the 68th and last non-printable byte -> U+0143
  assert.equal(new Set(byteToChar).size, 256);
});

test("pre-tokenizer splits like GPT-2 and concatenates back to the text", () => {
  assert.deepEqual(preTokenize("Hello world's  end 42x\n\n"), [
    "Hello",
    " world",
    "'s",
    " ",
    " end",
    " 42",
    "x",
    "\n\n",
  ]);
  assert.deepEqual(preTokenize(""), []);
});

test("first merges on a tiny corpus match a hand computation", async () => {
  // Pre-tokens: "low" x1, " low" x4, " lower" x2, " newest" x6, " widest" x3 (see the derivation below).
  const doc = "low low low low low lower lower newest newest newest newest newest newest widest widest widest";
  const { json, model } = await trainTokenizer([doc], { vocabSize: 269, minPairCount: 1 });
  // Counts: (e,s)=(s,t)=9 -> tie, smaller left id wins: "e s"; then (es,t)=9: "es t"; (l,o)=(o,w)=7:
  // "l o" (l < o); (lo,w)=7: "lo w"; six pairs at 6: (Ġ,n) and (Ġ,low) share the left Ġ, n (id 113)
  // < low (id 262): "Ġ n", then "Ġ low"; then (e,w) (left e=104 < Ġn=263, w=122): "e w";
  // (Ġn,ew) (263 < 265): "Ġn ew"; "Ġnew est"; then count 3: (Ġ,w) has the smallest left id: "Ġ w".
  assert.deepEqual(mergeStrings(model.tokens, model.merges), [
    "e s",
    "es t",
    "l o",
    "lo w",
    "Ġ n",
    "Ġ low",
    "e w",
    "Ġn ew",
    "Ġnew est",
    "Ġ w",
  ]);
  const vocab = json.model?.vocab as Record<string, number>;
  assert.equal(vocab["<bos>"], 0);
  assert.equal(vocab["<eos>"], 1);
  assert.equal(vocab["<pad>"], 2);
  assert.equal(vocab.Ā, 3); // byte 0
  assert.equal(vocab.e, 3 + 101);
  assert.equal(vocab.es, 259);
  assert.equal(vocab.Ġnewest, 267);
  assert.equal(Object.keys(vocab).length, 269);
  assert.equal((json.model!.merges as string[])[0], "e s");
});

/** Naive BPE: recount all pairs from scratch before every merge; same ids and tie-break rule. */
function naiveTrain(words: Map<string, number>, vocabSize: number, minCount: number): string[] {
  const tokens = [...SPECIALS, ...byteToChar];
  const idOf = new Map(tokens.map((t, i) => [t, i]));
  const enc = new TextEncoder();
  const list = [...words].map(([w, n]) => ({ syms: Array.from(enc.encode(w), (b) => byteToChar[b]), n }));
  const merges: string[] = [];
  while (tokens.length < vocabSize) {
    const counts = new Map<string, number>();
    for (const { syms, n } of list) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const k = `${syms[i]} ${syms[i + 1]}`;
        counts.set(k, (counts.get(k) ?? 0) + n);
      }
    }
    let best: [string, string] | null = null;
    let bestCount = 0;
    for (const [k, c] of counts) {
      const [l, r] = k.split(" ");
      const better =
        c > bestCount ||
        (c === bestCount &&
          best !== null &&
          (idOf.get(l)! < idOf.get(best[0])! || (l === best[0] && idOf.get(r)! < idOf.get(best[1])!)));
      if (better) {
        best = [l, r];
        bestCount = c;
      }
    }
    if (best === null || bestCount < minCount) break;
    const [l, r] = best;
    const merged = l + r;
    if (!idOf.has(merged)) {
      idOf.set(merged, tokens.length);
      tokens.push(merged);
    }
    merges.push(`${l} ${r}`);
    for (const w of list) {
      const out: string[] = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === l && w.syms[i + 1] === r) {
          out.push(merged);
          i++;
        } else out.push(w.syms[i]);
      }
      w.syms = out;
    }
  }
  return merges;
}

test("incremental trainer equals a naive full-recount trainer on a Brown slice", async () => {
  const docs: string[] = [];
  for (const d of brownDocuments("train")) {
    docs.push(d);
    if (docs.length === 3) break;
  }
  docs.push("aaaa aaaaa abababab ab ab 😀😀 日本語日本語"); // overlapping pairs and multi-byte characters
  const { words } = await countWords(docs, SPECIALS);
  const vocabSize = 259 + 400;
  const model = trainBpe(words, { vocabSize, specials: SPECIALS, minPairCount: 2 });
  const expected = naiveTrain(words, vocabSize, 2);
  assert.equal(model.merges.length, expected.length);
  assert.deepEqual(mergeStrings(model.tokens, model.merges), expected);
});

test("training is deterministic and stops when pairs run out", async () => {
  const a = await trainTokenizer(["ab ab ab cd"], { vocabSize: 400 });
  const b = await trainTokenizer(["ab ab ab cd"], { vocabSize: 400 });
  assert.deepEqual(a.json, b.json);
  // pre-tokens "ab", " ab" x2, " cd": (a,b) 3, then (Ġ,ab) 2; the rest occur once -> 2 merges, 261 tokens
  assert.deepEqual(mergeStrings(a.model.tokens, a.model.merges), ["a b", "Ġ ab"]);
  assert.equal(a.stats.vocabSize, 261);
});

test("bad trainer input gives one-line errors", async () => {
  await assert.rejects(trainTokenizer([""], { vocabSize: 300 }), /corpus is empty/);
  await assert.rejects(trainTokenizer(["x"], { vocabSize: 100 }), /vocabSize 100 is not valid/);
  await assert.rejects(trainTokenizer(["x"], { vocabSize: 300, specials: ["a"] }), /special token "a" is not valid/);
});
