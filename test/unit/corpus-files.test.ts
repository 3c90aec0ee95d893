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
import { gzipSync } from "node:zlib";
import { openCorpora, openCorpus } from "../../src/data/spec.ts";

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

/** Thrift compact protocol writer: just what Parquet's footer and page headers need. */
class Compact {
  bytes: number[] = [];
  private lastId: number[] = [0];
  varint(v: bigint): void {
    let x = v;
    while (x >= 0x80n) {
      this.bytes.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.bytes.push(Number(x));
  }
  zigzag(v: number | bigint): void {
    const x = BigInt(v);
    this.varint(x >= 0n ? x << 1n : (-x << 1n) - 1n);
  }
  field(id: number, type: number): void {
    const delta = id - this.lastId[this.lastId.length - 1];
    if (delta > 0 && delta <= 15) this.bytes.push((delta << 4) | type);
    else {
      this.bytes.push(type);
      this.zigzag(id);
    }
    this.lastId[this.lastId.length - 1] = id;
  }
  i32(id: number, v: number): void {
    this.field(id, 5);
    this.zigzag(v);
  }
  i64(id: number, v: number): void {
    this.field(id, 6);
    this.zigzag(v);
  }
  binary(bytes: Uint8Array): void {
    this.varint(BigInt(bytes.length));
    for (const b of bytes) this.bytes.push(b);
  }
  string(id: number, s: string): void {
    this.field(id, 8);
    this.binary(new TextEncoder().encode(s));
  }
  listHeader(id: number, elemType: number, size: number): void {
    this.field(id, 9);
    if (size < 15) this.bytes.push((size << 4) | elemType);
    else {
      this.bytes.push(0xf0 | elemType);
      this.varint(BigInt(size));
    }
  }
  beginStruct(id: number | null): void {
    if (id !== null) this.field(id, 12);
    this.lastId.push(0);
  }
  endStruct(): void {
    this.bytes.push(0);
    this.lastId.pop();
  }
}

/** A Parquet file with one required UTF8 column `name`, one row group (and data page) per group. */
function writeParquet(path: string, name: string, groups: string[][], codec: 0 | 2): void {
  const out: number[] = [...Buffer.from("PAR1")];
  const chunks: { offset: number; rows: number; raw: number; compressed: number }[] = [];
  for (const rows of groups) {
    const values: number[] = [];
    for (const r of rows) {
      const b = new TextEncoder().encode(r);
      values.push(b.length & 0xff, (b.length >> 8) & 0xff, (b.length >> 16) & 0xff, b.length >>> 24, ...b);
    }
    const raw = Uint8Array.from(values);
    const body = codec === 2 ? gzipSync(raw) : raw;
    const h = new Compact();
    h.beginStruct(null);
    h.i32(1, 0); // type DATA_PAGE
    h.i32(2, raw.length);
    h.i32(3, body.length);
    h.beginStruct(5); // DataPageHeader
    h.i32(1, rows.length);
    h.i32(2, 0); // PLAIN
    h.i32(3, 3); // RLE definition levels (none for a required column)
    h.i32(4, 3);
    h.endStruct();
    h.endStruct();
    chunks.push({
      offset: out.length,
      rows: rows.length,
      raw: h.bytes.length + raw.length,
      compressed: h.bytes.length + body.length,
    });
    out.push(...h.bytes, ...body);
  }
  const m = new Compact();
  m.beginStruct(null);
  m.i32(1, 1); // version
  m.listHeader(2, 12, 2); // schema: root + one column
  m.beginStruct(null);
  m.string(4, "schema");
  m.i32(5, 1);
  m.endStruct();
  m.beginStruct(null);
  m.i32(1, 6); // BYTE_ARRAY
  m.i32(3, 0); // REQUIRED
  m.string(4, name);
  m.i32(6, 0); // UTF8
  m.endStruct();
  m.i64(
    3,
    groups.reduce((s, g) => s + g.length, 0),
  );
  m.listHeader(4, 12, chunks.length);
  for (const c of chunks) {
    m.beginStruct(null); // RowGroup
    m.listHeader(1, 12, 1);
    m.beginStruct(null); // ColumnChunk
    m.i64(2, c.offset);
    m.beginStruct(3); // ColumnMetaData
    m.i32(1, 6);
    m.listHeader(2, 5, 1);
    m.zigzag(0); // PLAIN
    m.listHeader(3, 8, 1);
    m.binary(new TextEncoder().encode(name));
    m.i32(4, codec);
    m.i64(5, c.rows);
    m.i64(6, c.raw);
    m.i64(7, c.compressed);
    m.i64(9, c.offset);
    m.endStruct();
    m.endStruct();
    m.i64(2, c.compressed);
    m.i64(3, c.rows);
    m.endStruct();
  }
  m.endStruct();
  const len = m.bytes.length;
  out.push(...m.bytes, len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, len >>> 24, ...Buffer.from("PAR1"));
  writeFileSync(path, Uint8Array.from(out));
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
