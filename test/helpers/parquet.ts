/**
 * A minimal Parquet writer for tests (no parquet writer is installed): Thrift compact metadata,
 * one required UTF8 BYTE_ARRAY column, PLAIN pages, one page per row group, uncompressed (codec 0)
 * or gzip (codec 2). Used by the corpus tests and the fuzz suite.
 */
import { writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

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
export function writeParquet(path: string, name: string, groups: string[][], codec: 0 | 2): void {
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
