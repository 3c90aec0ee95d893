/**
 * Brown corpus: tag stripping and spacing on a hand-made tagged text, the fixed train/validation
 * split (deterministic, disjoint, covering all 500 documents, every 10th in validation), no POS tags
 * left in the text; nlp-corpus read in its fixed order.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  brownDirectory,
  brownDocument,
  brownDocuments,
  brownSplitIds,
  brownToText,
  detokenize,
} from "../../src/data/brown.ts";
import { nlpCorpusDirectory, nlpCorpusDocuments } from "../../src/data/nlp-corpus.ts";

test("tagged text -> readable text: tags gone, punctuation, quotes, dashes, headlines, paragraphs", () => {
  const tagged = [
    "",
    "",
    "\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ./.",
    "It/pps (/( 1/cd )/) ended/vbd ;/. fine/jj --/-- done/vbn !/.",
    "",
    "",
    "",
    "Merger/nn-hl proposed/vbn-hl ",
    "However/wrb ,/, he/pps said/vbd '/' yes/rb '/' and/cc 1/2/cd ./.",
    "",
  ].join("\n");
  assert.equal(
    brownToText(tagged),
    "The jury said \"no evidence\". It (1) ended; fine--done!\n\nMerger proposed\n\nHowever, he said 'yes' and 1/2.",
  );
  assert.equal(
    detokenize(["Is", "it", "?", "``", "Yes", "''", ",", "she", "said", ":", "ok", "."]),
    'Is it? "Yes", she said: ok.',
  );
});

test("the first Brown document starts as the printed text does", () => {
  const text = brownDocument("ca01");
  assert.ok(
    text.startsWith(
      "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced " +
        '"no evidence" that any irregularities took place.\n\nThe jury further said in term-end presentments that',
    ),
  );
});

test("split: 450 train + 50 validation, disjoint, covering every document, every 10th id, deterministic", () => {
  const all = readdirSync(brownDirectory())
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
  assert.equal(all.length, 500);
  const train = brownSplitIds("train");
  const validation = brownSplitIds("validation");
  assert.equal(train.length, 450);
  assert.equal(validation.length, 50);
  assert.equal(new Set([...train, ...validation]).size, 500);
  assert.deepEqual([...train, ...validation].sort(), all);
  assert.deepEqual(
    validation,
    all.filter((_, i) => (i + 1) % 10 === 0),
  );
  assert.deepEqual(validation.slice(0, 5), ["ca10", "ca20", "ca30", "ca40", "cb06"]);
  assert.equal(validation[49], "cr09");
  assert.deepEqual(brownSplitIds("validation"), validation);
  assert.deepEqual(brownSplitIds("all"), all);
  // every genre (the letter after "c") appears in validation
  assert.equal(new Set(validation.map((id) => id[1])).size, new Set(all.map((id) => id[1])).size);
});

test("no POS tags are left in any document, and the text is plain prose", () => {
  let docs = 0;
  let chars = 0;
  for (const doc of brownDocuments("all")) {
    docs++;
    chars += doc.length;
    assert.ok(doc.length > 1000);
    assert.doesNotMatch(doc, /[A-Za-z.,'`]\/(at|nn|nns|np|vbd|vb|in|jj|cc|rb|pps|cd|to)(-[a-z]+)?(?=\s|$)/);
    assert.doesNotMatch(doc, /\/[a-z]+[-$*+][a-z]*(?=\s|$)/); // compound tags like nn-tl, np$, md*, ppss+md
    assert.doesNotMatch(doc, /``|(?<!\d)''|\t| \n|\n | [,.;?!)]/); // '' only as inches (4' 10'')
    assert.doesNotMatch(doc, /\n{3}/);
  }
  assert.equal(docs, 500);
  assert.ok(chars > 5_500_000 && chars < 6_500_000, `${chars} characters`);
});

test("each validation document has exactly the tagged file's characters, only spacing and quote tokens changed", () => {
  // independent of the detokenizer: drop the tags, turn the `` and '' tokens into ", remove all whitespace
  for (const id of brownSplitIds("validation")) {
    const tagged = readFileSync(join(brownDirectory(), id), "utf8");
    const expected = tagged
      .split(/\s+/)
      .filter((t) => t.length > 0)
      .map((t) => t.slice(0, t.lastIndexOf("/")))
      .map((w) => (w === "``" || w === "''" ? '"' : w))
      .join("");
    assert.equal(brownDocument(id).replace(/\s+/g, ""), expected, id);
  }
});

test("nlp-corpus: every non-empty string of doc-0.json .. doc-99.json, in numeric file order", () => {
  const docs = [...nlpCorpusDocuments()];
  const first = JSON.parse(readFileSync(join(nlpCorpusDirectory(), "doc-0.json"), "utf8")) as string[];
  const second = JSON.parse(readFileSync(join(nlpCorpusDirectory(), "doc-1.json"), "utf8")) as string[];
  assert.deepEqual(
    docs.slice(0, first.length),
    first.filter((s) => s.length > 0),
  );
  assert.equal(
    docs[first.length],
    second.find((s) => s.length > 0),
  );
  assert.ok(docs.length > 50_000);
  assert.ok(docs.every((d) => typeof d === "string" && d.length > 0));
});
