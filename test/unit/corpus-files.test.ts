/**
 * The user's files as documents: .txt (one document per file), .jsonl (`text` per line), .parquet
 * (`text` column; written here by a minimal Parquet writer - Thrift compact metadata, PLAIN
 * BYTE_ARRAY pages, one page per row group, uncompressed and gzip - since no parquet writer is
 * installed), folders (recursive, sorted), and the data-spec errors.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { openCorpora, openCorpus } from "../../src/data/spec.ts";
import { writeParquet } from "../helpers/parquet.ts";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "msae-corpus-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const d of it) out.push(d);
  return out;
}

test(".txt: the whole file is one document (BOM dropped); an empty file yields none", async () => {
  writeFileSync(join(dir, "a.txt"), "\ufeffFirst line.\n\nSecond paragraph, 日本語 😀\n");
  writeFileSync(join(dir, "empty.txt"), "");
  assert.deepEqual(await collect(openCorpus(join(dir, "a.txt")).documents()), [
    "First line.\n\nSecond paragraph, 日本語 😀\n",
  ]);
  assert.deepEqual(await collect(openCorpus(join(dir, "empty.txt")).documents()), []);
});

test(".jsonl: the text field of each line, blank lines and empty texts skipped; bad lines named", async () => {
  const p = join(dir, "b.jsonl");
  writeFileSync(
    p,
    `${JSON.stringify({ id: 1, text: "one\nwith newline" })}\n\n${JSON.stringify({ text: "" })}\r\n${JSON.stringify({ text: "two 😀" })}\n`,
  );
  assert.deepEqual(await collect(openCorpus(p).documents()), ["one\nwith newline", "two 😀"]);
  writeFileSync(join(dir, "bad.jsonl"), '{"text": "ok"}\n{"body": "no text"}\n');
  await assert.rejects(
    collect(openCorpus(join(dir, "bad.jsonl")).documents()),
    /bad\.jsonl:2: expected a JSON object with a string "text" field/,
  );
  writeFileSync(join(dir, "broken.jsonl"), '{"text": "ok"}\n{not json\n');
  await assert.rejects(collect(openCorpus(join(dir, "broken.jsonl")).documents()), /broken\.jsonl:2: not valid JSON/);
});

test(".parquet: the text column, row group by row group, uncompressed and gzip", async () => {
  const groups = [
    ["alpha", "béta 😀", ""],
    ["gamma\nline two", "delta"],
  ];
  for (const codec of [0, 2] as const) {
    const p = join(dir, `c${codec}.parquet`);
    writeParquet(p, "text", groups, codec);
    assert.deepEqual(await collect(openCorpus(p).documents()), ["alpha", "béta 😀", "gamma\nline two", "delta"]);
  }
  const wrong = join(dir, "wrong.parquet");
  writeParquet(wrong, "body", [["x"]], 0);
  await assert.rejects(collect(openCorpus(wrong).documents()), /has no "text" column \(columns: body\)/);
  writeFileSync(join(dir, "junk.parquet"), "not a parquet file at all");
  await assert.rejects(collect(openCorpus(join(dir, "junk.parquet")).documents()), /junk\.parquet" could not be read/);
});

test("folder: every corpus file below it, sorted by relative path, others and hidden ones ignored", async () => {
  const root = join(dir, "folder");
  mkdirSync(join(root, "sub"), { recursive: true });
  mkdirSync(join(root, ".hidden"), { recursive: true });
  writeFileSync(join(root, "b.txt"), "B");
  writeFileSync(join(root, "a.jsonl"), '{"text":"A1"}\n{"text":"A2"}\n');
  writeFileSync(join(root, "sub", "c.txt"), "C");
  writeFileSync(join(root, "notes.md"), "ignored");
  writeFileSync(join(root, ".hidden", "h.txt"), "hidden");
  writeParquet(join(root, "sub", "a.parquet"), "text", [["P"]], 2);
  assert.deepEqual(await collect(openCorpus(root).documents()), ["A1", "A2", "B", "P", "C"]);
  // iterating twice gives the same stream
  assert.deepEqual(await collect(openCorpus(root).documents()), ["A1", "A2", "B", "P", "C"]);
  const empty = join(dir, "nothing");
  mkdirSync(empty);
  await assert.rejects(
    collect(openCorpus(empty).documents()),
    /folder ".*nothing" has no \.txt, \.jsonl or \.parquet files/,
  );
});

test("several specs are read one after the other", async () => {
  writeFileSync(join(dir, "x.txt"), "X");
  writeFileSync(join(dir, "y.txt"), "Y");
  assert.deepEqual(await collect(openCorpora([join(dir, "y.txt"), join(dir, "x.txt")]).documents()), ["Y", "X"]);
});

test("bad data specs: one line naming the spec and listing the allowed forms", () => {
  const forms =
    /expected brown:train, brown:validation, brown, nlp-corpus, or a path to a \.txt, \.jsonl or \.parquet file or a folder of them$/;
  for (const [spec, why] of [
    ["brown:test", "unknown Brown split"],
    [join(dir, "missing.txt"), "no such file or folder"],
    ["", "no such file or folder"],
  ]) {
    assert.throws(
      () => openCorpus(spec),
      (e: Error) =>
        e.message.startsWith(`data spec "${spec}" is not valid (${why})`) &&
        forms.test(e.message) &&
        !e.message.includes("\n"),
    );
  }
  writeFileSync(join(dir, "data.csv"), "a,b");
  assert.throws(() => openCorpus(join(dir, "data.csv")), /data\.csv" is not valid \(unsupported file type\)/);
  assert.throws(() => openCorpora([]), /no data spec given/);
});

test("built-in specs open without reading everything", async () => {
  const first = async (spec: string): Promise<string> => {
    for await (const d of openCorpus(spec).documents()) return d;
    return "";
  };
  assert.match(await first("brown:train"), /^The Fulton County Grand Jury/);
  assert.match(await first("brown:validation"), /\S/);
  assert.match(await first("brown"), /^The Fulton County Grand Jury/);
  assert.ok((await first("nlp-corpus")).length > 0);
});
