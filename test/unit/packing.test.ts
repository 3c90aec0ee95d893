/**
 * Context packing, SAELens semantics (concat_and_batch_sequences with begin_batch_token = BOS,
 * sequence_separator_token = BOS): exact layouts written out by hand, SAELens's own output on random
 * documents (golden made by tools/golden/make_packing_golden.py), and a property check that removing
 * BOS and PAD from the padded stream gives back the concatenated documents.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ContextPacker, packDocuments, packTokens, saelensPackingOptions } from "../../src/data/packing.ts";

const BOS = 0;
const PAD = 99;

function packAll(docs: number[][], options: Parameters<typeof packTokens>[1]): number[][] {
  const packer = new ContextPacker(options);
  const out: number[][] = [];
  for (const d of docs) for (const c of packer.push(d)) out.push(Array.from(c));
  for (const c of packer.finish()) out.push(Array.from(c));
  return out;
}

test("hand example: BOS first in every context, BOS between documents, empty documents skipped, remainder dropped", () => {
  const docs = [[1, 2, 3], [4, 5, 6, 7], [], [8]];
  // stream: [0 1 2 3 | 0] -> the separator takes the last slot; doc 2 restarts after the next BOS
  assert.deepEqual(packAll(docs, saelensPackingOptions(BOS, 5)), [
    [0, 1, 2, 3, 0],
    [0, 4, 5, 6, 7],
  ]);
  assert.deepEqual(packAll(docs, { ...saelensPackingOptions(BOS, 5), remainder: "pad", padId: PAD }), [
    [0, 1, 2, 3, 0],
    [0, 4, 5, 6, 7],
    [0, 8, PAD, PAD, PAD],
  ]);
});

test("a long document is cut and each piece starts with BOS; short documents share a context", () => {
  const long = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
  assert.deepEqual(packAll([long, [30, 31], [40]], saelensPackingOptions(BOS, 4)), [
    [0, 10, 11, 12],
    [0, 13, 14, 15],
    [0, 16, 17, 18],
    [0, 19, 20, 0],
    [0, 30, 31, 0], // [0 40] is left over and dropped
  ]);
  assert.deepEqual(packAll([[1], [2], [3]], saelensPackingOptions(BOS, 8)), []); // [0 1 0 2 0 3] < 8: dropped
  assert.deepEqual(packAll([[1], [2], [3]], { ...saelensPackingOptions(BOS, 6), remainder: "pad", padId: PAD }), [
    [0, 1, 0, 2, 0, 3],
  ]);
});

test("a document that already starts with BOS gets no second BOS (SAELens checks the first token)", () => {
  assert.deepEqual(packAll([[BOS, 1, 2], [BOS, 3], [4]], saelensPackingOptions(BOS, 4)), [
    [0, 1, 2, 0],
    [0, 3, 0, 4],
  ]);
});

test("other SAELens options: no BOS at all, separator only, begin-sequence token", () => {
  const docs = [
    [1, 2, 3],
    [4, 5],
  ];
  assert.deepEqual(packAll(docs, { contextSize: 2 }), [
    [1, 2],
    [3, 4],
  ]); // [5] dropped
  assert.deepEqual(
    packAll(
      [
        [1, 2],
        [4, 5],
      ],
      { contextSize: 5, sequenceSeparatorToken: 7 },
    ),
    [[1, 2, 7, 4, 5]],
  );
  // a document that starts a fresh context gets no separator ([4 5] is left over)
  assert.deepEqual(packAll(docs, { contextSize: 3, sequenceSeparatorToken: 7 }), [[1, 2, 3]]);
  // begin_sequence_token 8 on every document, begin_batch BOS, separator BOS
  assert.deepEqual(
    packAll(docs, { contextSize: 4, beginBatchToken: BOS, sequenceSeparatorToken: BOS, beginSequenceToken: 8 }),
    [
      [0, 8, 1, 2],
      [0, 3, 0, 8],
    ],
  ); // [0 4 5] left over
});

test("equals SAELens 6.18 concat_and_batch_sequences on 120 random cases (golden), all option combinations", () => {
  type Case = {
    C: number;
    docs: number[][];
    bb: number | null;
    sep: number | null;
    bs: number | null;
    out: number[][];
  };
  const cases = JSON.parse(
    readFileSync(new URL("../golden/packing/saelens-packing.json", import.meta.url), "utf8"),
  ) as Case[];
  assert.equal(cases.length, 120);
  for (const c of cases) {
    const got = packAll(c.docs, {
      contextSize: c.C,
      beginBatchToken: c.bb,
      sequenceSeparatorToken: c.sep,
      beginSequenceToken: c.bs,
    });
    assert.deepEqual(got, c.out, JSON.stringify(c));
  }
});

test("property: every context has length C and starts with BOS; without BOS and PAD the stream is the documents", async () => {
  let seed = 7;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const docs: number[][] = [];
  for (let d = 0; d < 200; d++) docs.push(Array.from({ length: next(40) }, () => 1 + next(50)));
  for (const C of [2, 3, 16, 128]) {
    const contexts: Int32Array[] = [];
    for await (const c of packTokens(docs, { ...saelensPackingOptions(BOS, C), remainder: "pad", padId: PAD }))
      contexts.push(c);
    for (const c of contexts) {
      assert.equal(c.length, C);
      assert.equal(c[0], BOS);
    }
    const rest = contexts.flatMap((c) => Array.from(c)).filter((t) => t !== BOS && t !== PAD);
    assert.deepEqual(rest, docs.flat());
  }
});

test("packDocuments tokenizes strings and uses the tokenizer's BOS; bad options fail clearly", async () => {
  const tok = {
    encode: (s: string) => Int32Array.from(s, (ch) => ch.charCodeAt(0)),
    bosId: 1,
    padId: 2,
  };
  const out: number[][] = [];
  for await (const c of packDocuments(["abc", "de"], tok, { contextSize: 4, remainder: "pad" }))
    out.push(Array.from(c));
  assert.deepEqual(out, [
    [1, 97, 98, 99],
    [1, 100, 101, 2],
  ]);
  assert.throws(() => new ContextPacker({ contextSize: 1 }), /contextSize 1 is not valid: expected an integer >= 2/);
  assert.throws(() => new ContextPacker({ remainder: "pad" }), /remainder "pad" needs a padId/);
  assert.throws(() => packDocuments([], { ...tok, bosId: null }), /no BOS token/);
});
