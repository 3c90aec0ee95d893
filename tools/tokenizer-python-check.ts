/**
 * Checks that a tokenizer.json written by `msae tokenizer train` loads in Python's `tokenizers`
 * (the Rust library) and encodes exactly as our loadTokenizer does, and that Python's decode
 * returns the text. Not part of npm test (needs Python with `tokenizers`, which Debian does not
 * package; e.g. `python3 -m venv /tmp/venv && /tmp/venv/bin/pip install tokenizers`).
 *
 *   node --import tsx tools/tokenizer-python-check.ts <tokenizer.json> [python executable]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brownDocuments } from "../src/data/brown.ts";
import { nlpCorpusDocuments } from "../src/data/nlp-corpus.ts";
import { loadTokenizer } from "../src/tokenizer/load.ts";

const [path, python = "python3"] = process.argv.slice(2);
if (!path) {
  process.stderr.write("usage: node --import tsx tools/tokenizer-python-check.ts <tokenizer.json> [python]\n");
  process.exit(2);
}
const tok = loadTokenizer(path);
const texts = [
  ...brownDocuments("validation"),
  ...[...nlpCorpusDocuments()].slice(0, 3000),
  "",
  "emoji 😀👍🏽 CJK 日本語の文章 combining e\u0301 a\u0308 controls \u0000\u0001\u001f\u007f tabs\t\tand\r\n  spaces   ",
  "literal specials <bos> in <eos> text <pad>",
];
const cases = texts.map((text) => ({ text, ids: Array.from(tok.encode(text)) }));
const dir = mkdtempSync(join(tmpdir(), "msae-tok-py-"));
const casesPath = join(dir, "cases.json");
writeFileSync(casesPath, JSON.stringify(cases));

const program = `
import json, sys
from tokenizers import Tokenizer
import tokenizers
tok = Tokenizer.from_file(sys.argv[1])
cases = json.load(open(sys.argv[2], encoding="utf-8"))
bad_ids = bad_text = 0
for c in cases:
    ids = tok.encode(c["text"], add_special_tokens=False).ids
    if ids != c["ids"]:
        bad_ids += 1
        if bad_ids <= 3: print("ids differ:", repr(c["text"][:120]))
    if c["ids"] and tok.decode(c["ids"], skip_special_tokens=False) != c["text"]:
        bad_text += 1
        if bad_text <= 3: print("decode differs:", repr(c["text"][:120]))
with_bos = tok.encode("Hello").ids
print(f"python tokenizers {tokenizers.__version__}: vocab {tok.get_vocab_size()}, {len(cases)} texts, "
      f"{bad_ids} id mismatches, {bad_text} decode mismatches, encode('Hello') with specials = {with_bos}")
sys.exit(1 if bad_ids or bad_text else 0)
`;
const run = spawnSync(python, ["-c", program, path, casesPath], { encoding: "utf8" });
process.stdout.write(run.stdout ?? "");
process.stderr.write(run.stderr ?? "");
if (run.error) {
  process.stderr.write(`could not run ${python}: ${run.error.message}\n`);
  process.exit(1);
}
process.exit(run.status ?? 1);
