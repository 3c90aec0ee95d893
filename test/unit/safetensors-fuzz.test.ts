/**
 * Fuzz: thousands of corrupted files made deterministically from a few valid ones. Each must either
 * open and read with consistent sizes (a mutation can leave a valid file) or be rejected with a
 * one-line SafetensorsError; nothing else may be thrown, nothing may crash or allocate hugely.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { DTYPE_SIZE, SafetensorsError, SafetensorsFile } from "../../src/io/safetensors.ts";
import { writeSafetensorsSync } from "../../src/io/safetensors-write.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "msae-fuzz-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const target = path.join(dir, "case.safetensors");

/** Deterministic PRNG (xorshift32). */
let seed = 0x9e3779b9;
function rand(): number {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 2 ** 32;
}
const randInt = (n: number) => Math.floor(rand() * n);

interface Base {
  file: Buffer;
  header: Record<string, unknown>;
  data: Buffer;
}

function split(file: Buffer): Base {
  const n = Number(file.readBigUInt64LE(0));
  return { file, header: JSON.parse(file.subarray(8, 8 + n).toString("utf8")), data: file.subarray(8 + n) };
}

function assemble(headerText: string | Buffer, data: Buffer, length?: bigint): Buffer {
  const h = typeof headerText === "string" ? Buffer.from(headerText, "utf8") : headerText;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(length ?? BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

function makeBases(): Base[] {
  const p = path.join(dir, "base.safetensors");
  const bases: Base[] = [];
  writeSafetensorsSync(
    p,
    {
      w: { dtype: "F32", shape: [3, 5], data: Float32Array.from({ length: 15 }, (_, i) => i / 3) },
      h: { dtype: "F16", shape: [4], data: Uint16Array.from([0x3c00, 0x7c00, 0x0001, 0xfbff]) },
      b: { dtype: "BF16", shape: [2, 1], data: Uint16Array.from([0x3f80, 0xc000]) },
      i: { dtype: "I64", shape: [2], data: BigInt64Array.from([-1n, 2n ** 60n]) },
      m: { dtype: "BOOL", shape: [3], data: Uint8Array.from([1, 0, 1]) },
      s: { dtype: "F64", shape: [], data: Float64Array.from([Math.PI]) },
      e: { dtype: "I32", shape: [0, 4], data: new Int32Array(0) },
    },
    { format: "pt", note: "fuzz base" },
  );
  bases.push(split(fs.readFileSync(p)));
  writeSafetensorsSync(p, {
    cube: { dtype: "F32", shape: [3, 5, 7], data: Float32Array.from({ length: 105 }, (_, i) => i) },
  });
  bases.push(split(fs.readFileSync(p)));
  // hand-laid: unaligned offsets, trailing whitespace, no metadata
  bases.push(
    split(
      assemble(
        '{"u":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"f":{"dtype":"F32","shape":[1,1],"data_offsets":[3,7]}} ',
        Buffer.from([1, 2, 3, 0, 0, 0x80, 0x3f]),
      ),
    ),
  );
  const golden = path.join(
    path.dirname(fileURLToPath(import.meta.url)),
    "..",
    "golden",
    "safetensors",
    "python_dtypes.safetensors",
  );
  bases.push(split(fs.readFileSync(golden)));
  return bases;
}

const stats = { cases: 0, accepted: 0, rejected: 0 };

/** Opens `bytes` as a file; asserts the only outcomes are a consistent read or a one-line SafetensorsError. */
function check(bytes: Buffer, label: string): void {
  stats.cases++;
  fs.writeFileSync(target, bytes);
  let f: SafetensorsFile;
  try {
    f = SafetensorsFile.open(target);
  } catch (e) {
    if (!(e instanceof SafetensorsError)) assert.fail(`${label}: threw ${(e as Error)?.constructor?.name}: ${e}`);
    assert.ok(!/[\r\n]/.test(e.message), `${label}: multi-line message ${JSON.stringify(e.message)}`);
    assert.ok(e.message.startsWith(target), `${label}: message does not name the file: ${e.message}`);
    assert.ok(e.message.length < 600, `${label}: message too long (${e.message.length})`);
    stats.rejected++;
    return;
  }
  try {
    let end = f.dataStart;
    for (const name of f.names()) {
      const info = f.info(name);
      const numel = info.shape.reduce((a, d) => a * d, 1);
      assert.equal(info.byteLength, numel * DTYPE_SIZE[info.dtype], `${label}: ${name} size`);
      const loc = f.location(name);
      end = Math.max(end, loc.offset + loc.byteLength);
      const data = f.read(name);
      assert.equal(data.length, numel, `${label}: ${name} length`);
      assert.equal(data.byteLength, info.byteLength);
      assert.equal(f.readF32(name).length, numel);
    }
    // the tiling rule: an accepted file has no trailing bytes after its last tensor
    assert.equal(end, bytes.length, `${label}: data buffer not tiled exactly`);
    stats.accepted++;
  } finally {
    f.close();
  }
}

function withHeader(base: Base, mutate: (h: Record<string, unknown>) => void): Buffer {
  const h = structuredClone(base.header);
  mutate(h);
  return assemble(JSON.stringify(h), base.data);
}

test("fuzz: corrupted safetensors files are read consistently or rejected with one-line SafetensorsErrors", () => {
  const t0 = performance.now();
  const bases = makeBases();
  for (const [bi, base] of bases.entries()) {
    const size = base.file.length;
    const n = size - 8 - base.data.length;
    check(base.file, `base ${bi}`);

    // truncations: inside the length field, the header, at its end, in the data, at random places
    const cuts = new Set<number>([0, 1, 4, 7, 8, 9, 10, 8 + n - 1, 8 + n, 8 + n + 1, size - 1, size - 2]);
    for (let k = 0; k < 24; k++) cuts.add(randInt(size));
    for (const c of cuts) if (c >= 0 && c < size) check(base.file.subarray(0, c), `base ${bi} cut ${c}`);

    // the length field
    const lengths = [0n, 1n, 2n, 7n, BigInt(n - 1), BigInt(n + 1), BigInt(size - 8), BigInt(size - 7), BigInt(size)];
    lengths.push(100_000_000n, 100_000_001n, 2n ** 32n, 2n ** 40n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n);
    for (let k = 0; k < 6; k++) lengths.push(BigInt(randInt(2 ** 31)) * BigInt(randInt(2 ** 31) + 1));
    for (const len of lengths) {
      const b = Buffer.from(base.file);
      b.writeBigUInt64LE(len);
      check(b, `base ${bi} length ${len}`);
    }

    // random byte flips in the header (length field included) and in the data
    for (let k = 0; k < 120; k++) {
      const b = Buffer.from(base.file);
      const flips = 1 + randInt(3);
      for (let j = 0; j < flips; j++) b[randInt(8 + n)] ^= 1 << randInt(8);
      check(b, `base ${bi} header flip ${k}`);
    }
    for (let k = 0; k < 10; k++) {
      const b = Buffer.from(base.file);
      if (base.data.length) b[8 + n + randInt(base.data.length)] ^= 0xff;
      check(b, `base ${bi} data flip ${k}`);
    }
    // random bytes replaced by random values (often non-UTF-8) in the header
    for (let k = 0; k < 30; k++) {
      const b = Buffer.from(base.file);
      b[8 + randInt(n)] = 0x80 + randInt(128);
      check(b, `base ${bi} high byte ${k}`);
    }

    // wrong JSON types and inconsistent values in each tensor entry
    const names = Object.keys(base.header).filter((k) => k !== "__metadata__");
    const badValues: [string, unknown][] = [
      ["dtype", 5],
      ["dtype", null],
      ["dtype", ["F32"]],
      ["dtype", "f32"],
      ["dtype", "BOGUS"],
      ["dtype", "F4"],
      ["dtype", "I8"],
      ["dtype", "F64"],
      ["shape", "3"],
      ["shape", {}],
      ["shape", [-1]],
      ["shape", [1.5]],
      ["shape", [2 ** 60]],
      ["shape", [2 ** 31, 2 ** 31, 2 ** 31]],
      ["shape", [0, 2 ** 52]],
      ["shape", null],
      ["shape", [true]],
      ["shape", []],
      ["data_offsets", [0]],
      ["data_offsets", [0, 4, 8]],
      ["data_offsets", "0,4"],
      ["data_offsets", [-1, 3]],
      ["data_offsets", [0.5, 4.5]],
      ["data_offsets", null],
      ["data_offsets", [2 ** 53, 2 ** 53 + 4]],
    ];
    for (const name of names) {
      const entry = base.header[name] as { data_offsets: [number, number] };
      const [b0, e0] = entry.data_offsets;
      const mutations: [string, unknown][] = [
        ...badValues,
        ["data_offsets", [e0, b0]],
        ["data_offsets", [b0, e0 + 1]],
        ["data_offsets", [b0 + 1, e0 + 1]],
        ["data_offsets", [b0 + base.data.length, e0 + base.data.length]],
        ["data_offsets", [b0 + 2 ** 40, e0 + 2 ** 40]],
      ];
      for (const [field, value] of mutations)
        check(
          withHeader(base, (h) => {
            (h[name] as Record<string, unknown>)[field] = value;
          }),
          `base ${bi} ${name}.${field}=${JSON.stringify(value)}`,
        );
      for (const field of ["dtype", "shape", "data_offsets"])
        check(
          withHeader(base, (h) => {
            delete (h[name] as Record<string, unknown>)[field];
          }),
          `base ${bi} ${name} without ${field}`,
        );
      for (const value of [null, 5, "x", [], true])
        check(
          withHeader(base, (h) => {
            h[name] = value;
          }),
          `base ${bi} ${name}=${JSON.stringify(value)}`,
        );
      // overlap: another tensor pointed at this one's bytes
      for (const other of names)
        if (other !== name)
          check(
            withHeader(base, (h) => {
              (h[other] as { data_offsets: unknown }).data_offsets = [b0, e0];
            }),
            `base ${bi} ${other} onto ${name}`,
          );
    }
    for (const meta of [[], "x", 5, { k: 1 }, { k: null }, { k: ["v"] }, {}])
      check(
        withHeader(base, (h) => {
          h.__metadata__ = meta;
        }),
        `base ${bi} metadata=${JSON.stringify(meta)}`,
      );
  }

  // garbage and odd headers (with a little data after them)
  const data = Buffer.alloc(16, 0x41);
  const headers: (string | Buffer)[] = [
    "",
    " ",
    "null",
    "[]",
    '"str"',
    "123",
    "true",
    "{",
    "}",
    "{}}",
    '{"a":}',
    '{"a" 1}',
    '{"a":1,}',
    "{'a':1}",
    '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}} x',
    '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}\u0000',
    '{"a\\u0000b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}',
    '{"\\ud800":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}',
    '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]}}',
    '{"__proto__":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}',
    '{"constructor":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}',
    '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,1.6e1]}}',
    '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16e0]}}',
    '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,-0]}}',
    '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,016]}}',
    '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,1e999]}}',
    '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,18446744073709551616]}}',
    `{"a":${"[".repeat(100_000)}${"]".repeat(100_000)}}`,
    `${"[".repeat(200_000)}`,
    `${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}`,
    Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
    Buffer.from([0x7b, 0xc0, 0x80, 0x7d]),
    Buffer.from([0x7b, 0xed, 0xa0, 0x80, 0x7d]),
    Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
  ];
  for (let k = 0; k < 60; k++) headers.push(Buffer.from(Array.from({ length: 1 + randInt(64) }, () => randInt(256))));
  for (let k = 0; k < 30; k++)
    headers.push(String.fromCharCode(...Array.from({ length: 1 + randInt(64) }, () => 32 + randInt(95))));
  for (const [k, h] of headers.entries()) check(assemble(h, data), `garbage header ${k}`);

  // huge headers: valid with 1 MB of padding; many zero-size tensors; a header claiming 99 MB
  check(assemble(`{}${" ".repeat(1 << 20)}`, Buffer.alloc(0)), "1 MB padded header");
  const many: Record<string, unknown> = {};
  for (let k = 0; k < 20_000; k++) many[`t${k}`] = { dtype: "F32", shape: [0, k], data_offsets: [0, 0] };
  check(assemble(JSON.stringify(many), Buffer.alloc(0)), "20000 empty tensors");
  check(assemble("{}", Buffer.alloc(0), 99_000_000n), "header length 99 MB on a tiny file");

  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `fuzz: ${stats.cases} cases (${stats.accepted} valid, ${stats.rejected} rejected) in ${seconds.toFixed(1)} s`,
  );
  assert.ok(stats.cases >= 500, `only ${stats.cases} cases`);
  assert.ok(stats.accepted >= 20 && stats.rejected >= 400);
  assert.ok(process.memoryUsage().rss < 1.5e9, "no huge allocation");
});
