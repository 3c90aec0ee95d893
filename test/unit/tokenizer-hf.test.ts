/**
 * tokenizer.json interop: the file we write loads in @huggingface/tokenizers and its ids equal our
 * encoder's on real paragraphs; hand-written GPT-2-style and Gemma-style (byte fallback) files give
 * hand-computed ids through loadTokenizer; special ids are found by name; bad files fail in one line.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Tokenizer } from "@huggingface/tokenizers";
import { brownDocuments } from "../../src/data/brown.ts";
import { nlpCorpusDocuments } from "../../src/data/nlp-corpus.ts";
import { byteToChar } from "../../src/tokenizer/bytes.ts";
import { loadTokenizer } from "../../src/tokenizer/load.ts";
import { trainTokenizer, writeTokenizerJson } from "../../src/tokenizer/train.ts";

let dir: string;
let trainedPath: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "msae-tok-hf-"));
  trainedPath = join(dir, "trained.json");
  const docs = [...brownDocuments("train")].slice(0, 15);
  writeTokenizerJson(trainedPath, (await trainTokenizer(docs, { vocabSize: 1000 })).json);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function writeJson(name: string, value: unknown): string {
  const p = join(dir, name);
  mkdirSync(join(p, ".."), { recursive: true });
  writeFileSync(p, typeof value === "string" ? value : JSON.stringify(value));
  return p;
}

test("@huggingface/tokenizers loads the trained file and encodes paragraphs exactly as our encoder", () => {
  const json = JSON.parse(readFileSync(trainedPath, "utf8"));
  const hf = new Tokenizer(json, {});
  const ours = loadTokenizer(trainedPath);
  assert.equal(ours.engine, "msae-bpe");
  const paragraphs = [
    ...[...brownDocuments("validation")].slice(0, 3).flatMap((d) => d.split("\n\n")),
    ...[...nlpCorpusDocuments()].slice(0, 300),
  ];
  assert.ok(paragraphs.length > 300);
  for (const p of paragraphs) {
    assert.deepEqual(Array.from(ours.encode(p)), hf.encode(p, { add_special_tokens: false }).ids, JSON.stringify(p));
  }
  // the template prepends <bos> (id 0) when the HF library adds special tokens
  assert.deepEqual(hf.encode("Hi", { add_special_tokens: true }).ids, [0, ...ours.encode("Hi")]);
  assert.equal(ours.bosId, 0);
  assert.equal(ours.eosId, 1);
  assert.equal(ours.padId, 2);
  assert.equal(ours.vocabSize, 1000);
  assert.deepEqual([...ours.specialIds].sort(), [0, 1, 2]);
});

/** A GPT-2-style file by hand: 256 byte tokens (ids = byte values), six merges, <|endoftext|>. */
function gpt2Style(): unknown {
  const vocab: Record<string, number> = {};
  for (let b = 0; b < 256; b++) vocab[byteToChar[b]] = b;
  const merged = ["Ġt", "he", "Ġthe", "bc", "ab", "aa"];
  merged.forEach((t, i) => {
    vocab[t] = 256 + i;
  });
  vocab["<|endoftext|>"] = 262;
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: "1.0",
    added_tokens: [
      {
        id: 262,
        content: "<|endoftext|>",
        special: true,
        normalized: true,
        lstrip: false,
        rstrip: false,
        single_word: false,
      },
    ],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: { type: "BPE", dropout: null, unk_token: null, vocab, merges: ["Ġ t", "h e", "Ġt he", "b c", "a b", "a a"] },
  };
}

test("GPT-2-style file: hand-computed ids (lowest rank first, leftmost on ties), <|endoftext|> is BOS and EOS", () => {
  const path = writeJson("gpt2/tokenizer.json", gpt2Style());
  for (const engine of ["auto", "hf"] as const) {
    const tok = loadTokenizer(path, { engine });
    assert.equal(tok.engine, engine === "auto" ? "msae-bpe" : "huggingface");
    assert.deepEqual(Array.from(tok.encode(" the")), [258]);
    assert.deepEqual(Array.from(tok.encode("the")), [116, 257]); // "t" alone: no (t, he) merge
    assert.deepEqual(Array.from(tok.encode("abc")), [97, 259]); // "b c" (rank 3) beats "a b" (rank 4)
    assert.deepEqual(Array.from(tok.encode("aaa")), [261, 97]); // leftmost "a a" first
    assert.deepEqual(Array.from(tok.encode("aaaa")), [261, 261]);
    assert.deepEqual(Array.from(tok.encode(" the<|endoftext|>")), [258, 262]);
    assert.equal(tok.decode([258, 262, 32, 97]), " the<|endoftext|> a");
    assert.equal(tok.bosId, 262);
    assert.equal(tok.eosId, 262);
    assert.equal(tok.padId, null);
    assert.equal(tok.vocabSize, 263);
  }
});

test("tokenizer_config.json beside the file names the special tokens", () => {
  const json = gpt2Style() as { added_tokens: unknown[] };
  json.added_tokens.push({ id: 263, content: "[MYPAD]", special: true });
  (json as unknown as { model: { vocab: Record<string, number> } }).model.vocab["[MYPAD]"] = 263;
  const path = writeJson("cfg/tokenizer.json", json);
  writeJson("cfg/tokenizer_config.json", { pad_token: { content: "[MYPAD]" }, bos_token: "<|endoftext|>" });
  const tok = loadTokenizer(path);
  assert.equal(tok.padId, 263);
  assert.equal(tok.bosId, 262);
});

test("Gemma-style SentencePiece BPE with byte fallback goes through @huggingface/tokenizers", () => {
  const vocab: Record<string, number> = { "<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`] = 4 + b;
  ["▁", "h", "e", "l", "o", "he", "ll", "hell", "hello", "▁hello", "w", "r", "d"].forEach((t, i) => {
    vocab[t] = 260 + i;
  });
  const special = (id: number, content: string) => ({
    id,
    content,
    special: true,
    normalized: false,
    lstrip: false,
    rstrip: false,
    single_word: false,
  });
  const path = writeJson("gemma/tokenizer.json", {
    version: "1.0",
    added_tokens: [special(0, "<pad>"), special(1, "<eos>"), special(2, "<bos>"), special(3, "<unk>")],
    normalizer: { type: "Replace", pattern: { String: " " }, content: "▁" },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<bos>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [],
      special_tokens: { "<bos>": { id: "<bos>", ids: [2], tokens: ["<bos>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "▁" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      merges: ["h e", "l l", "he ll", "hell o", "▁ hello"],
    },
  });
  const tok = loadTokenizer(path);
  assert.equal(tok.engine, "huggingface");
  assert.deepEqual([tok.bosId, tok.eosId, tok.padId], [2, 1, 0]);
  // "hello world é" -> "hello▁world▁é": hello ▁ w o r l d ▁ <0xC3> <0xA9> (é is not in the vocabulary)
  const ids = Array.from(tok.encode("hello world é"));
  assert.deepEqual(ids, [268, 260, 270, 264, 271, 263, 272, 260, 4 + 0xc3, 4 + 0xa9]);
  assert.deepEqual(Array.from(tok.encode(" hello")), [269]); // no BOS added by encode
  assert.equal(tok.decode(ids), "hello world é");
});

test("missing or malformed files give one-line errors naming the file", () => {
  const check = (fn: () => unknown, re: RegExp): void => {
    assert.throws(fn, (e: Error) => re.test(e.message) && !e.message.includes("\n"));
  };
  check(() => loadTokenizer(join(dir, "nope.json")), /tokenizer file ".*nope\.json" not found/);
  check(() => loadTokenizer(writeJson("bad.json", "{ not json")), /bad\.json" is not valid JSON/);
  check(
    () => loadTokenizer(writeJson("nomodel.json", { version: "1.0" })),
    /nomodel\.json" is not a Hugging Face tokenizer\.json/,
  );
  check(
    () => loadTokenizer(writeJson("badmodel.json", { model: { type: "Nope" } })),
    /badmodel\.json": model\.type is "Nope"; expected one of BPE, Unigram, WordPiece, WordLevel/,
  );
  check(
    () =>
      loadTokenizer(
        writeJson("badpre.json", {
          model: { type: "BPE", vocab: { a: 0 }, merges: [] },
          pre_tokenizer: { type: "Nope" },
        }),
      ),
    /badpre\.json" could not be loaded by @huggingface\/tokenizers/,
  );
  for (const engine of ["auto", "hf"] as const) {
    const tok = loadTokenizer(trainedPath, { engine });
    check(() => tok.decode([5, 100000]), /token id 100000 is not in the vocabulary/);
  }
});
