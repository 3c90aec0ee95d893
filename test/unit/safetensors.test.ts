/**
 * safetensors reader and writer: bytes laid out by hand per the spec, round trips of every dtype
 * and odd shape, F16 / BF16 narrowing on request, row reads, and one-line errors.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import {
  type Dtype,
  expectTensor,
  SafetensorsError,
  SafetensorsFile,
  type StoredArray,
} from "../../src/io/safetensors.ts";
import { writeSafetensors, writeSafetensorsSync } from "../../src/io/safetensors-write.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "msae-st-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const tmp = (name = "t") => path.join(dir, `${name}-${counter++}.safetensors`);

/** A file from raw parts: 8-byte LE length, header bytes as given, then data. */
function rawFile(header: string, data: number[] = [], lengthOverride?: bigint): string {
  const h = Buffer.from(header, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(h.length));
  const p = tmp("raw");
  fs.writeFileSync(p, Buffer.concat([len, h, Buffer.from(data)]));
  return p;
}

test("the writer emits exactly the bytes laid out by hand from the spec", () => {
  const p = tmp();
  writeSafetensorsSync(
    p,
    {
      b: { dtype: "F16", shape: [2], data: Uint16Array.from([0x3c00, 0xc000]) }, // 1.0, -2.0
      a: { dtype: "F32", shape: [], data: Float32Array.from([1.5]) },
    },
    { k: "v" },
  );
  // header JSON: __metadata__ first, names sorted, 131 bytes padded with 5 spaces to 136 = 0x88
  const json =
    '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}     ';
  const expected = Buffer.concat([
    Buffer.from([0x88, 0, 0, 0, 0, 0, 0, 0]),
    Buffer.from(json, "ascii"),
    Buffer.from([0x00, 0x00, 0xc0, 0x3f]), // 1.5f = 0x3FC00000, little-endian
    Buffer.from([0x00, 0x3c, 0x00, 0xc0]), // 0x3C00, 0xC000
  ]);
  assert.equal(json.length, 136);
  assert.deepEqual(fs.readFileSync(p), expected);
  assert.deepEqual(
    fs.readdirSync(dir).filter((n) => n.includes(".tmp-")),
    [],
  );
});

test("the reader follows the spec on a hand-laid file: unaligned offsets, trailing whitespace, extra fields, any key order", () => {
  // u8 [3] at [0,3); f32 [2] at [3,11) (unaligned); i64 [1] at [11,19); empty f16 [0,2] at [19,19)
  const header =
    '{"x":{"data_offsets":[3,11],"shape":[2],"dtype":"F32","extra":"ignored"},' +
    '"__metadata__":{"note":"hand made"},"b":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},' +
    '"z":{"dtype":"F16","shape":[0,2],"data_offsets":[19,19]},"i":{"dtype":"I64","shape":[1],"data_offsets":[11,19]}}   ';
  const data = [
    7,
    8,
    255, // b
    0x00,
    0x00,
    0x80,
    0x3f, // 1.0f
    0x00,
    0x00,
    0x20,
    0xc1, // -10.0f = 0xC1200000
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff, // -1n
  ];
  const f = SafetensorsFile.open(rawFile(header, data));
  assert.deepEqual(f.names(), ["b", "i", "x", "z"]);
  assert.deepEqual(f.metadata, { note: "hand made" });
  assert.deepEqual(f.info("x"), { dtype: "F32", shape: [2], byteLength: 8 });
  assert.deepEqual([...(f.read("b") as Uint8Array)], [7, 8, 255]);
  assert.deepEqual([...(f.read("x") as Float32Array)], [1, -10]);
  assert.deepEqual([...(f.read("i") as BigInt64Array)], [-1n]);
  assert.ok(f.read("z") instanceof Uint16Array);
  assert.equal(f.read("z").length, 0);
  assert.deepEqual([...f.readF32("b")], [7, 8, 255]);
  assert.deepEqual([...f.readF32("i")], [-1]);
  f.close();
});

/** Deterministic values for each dtype (independent of the code under test). */
function sample(dtype: Dtype, n: number): StoredArray {
  const ints = Array.from({ length: n }, (_, i) => ((i * 7919) % 251) - 125);
  switch (dtype) {
    case "F64":
      return Float64Array.from(ints, (v, i) => v / 3 + i * 1e-9);
    case "F32":
      return Float32Array.from(ints, (v) => v / 7);
    case "F16":
    case "BF16":
    case "U16":
      return Uint16Array.from(ints, (v, i) => (v * 263 + i) & 0xffff);
    case "I64":
      return BigInt64Array.from(ints, (v) => BigInt(v) * 2n ** 40n);
    case "U64":
      return BigUint64Array.from(ints, (v) => BigInt(v + 125) * 2n ** 56n);
    case "I32":
      return Int32Array.from(ints, (v) => v * 16777259);
    case "U32":
      return Uint32Array.from(ints, (v) => (v + 125) * 17000000);
    case "I16":
      return Int16Array.from(ints, (v) => v * 200);
    case "I8":
      return Int8Array.from(ints);
    case "BOOL":
      return Uint8Array.from(ints, (v) => v & 1);
    default:
      return Uint8Array.from(ints, (v) => v + 125);
  }
}

const ALL: Dtype[] = [
  "F64",
  "F32",
  "F16",
  "BF16",
  "I64",
  "I32",
  "I16",
  "I8",
  "U64",
  "U32",
  "U16",
  "U8",
  "BOOL",
  "F8_E5M2",
  "F8_E4M3",
];
const SHAPES: number[][] = [[], [0], [1], [3, 5, 7], [2, 0, 3]];

for (const write of ["sync", "async"] as const) {
  test(`round trip of every dtype and odd shape with metadata (${write} writer)`, async () => {
    const tensors: Record<string, { dtype: Dtype; shape: number[]; data: StoredArray }> = {};
    for (const dtype of ALL)
      for (const shape of SHAPES) {
        const n = shape.reduce((a, d) => a * d, 1);
        tensors[`${dtype}/${shape.join("x") || "scalar"}`] = { dtype, shape, data: sample(dtype, n) };
      }
    const meta = { format: "pt", ключ: "значение ✓", empty: "" };
    const p = tmp();
    if (write === "sync") writeSafetensorsSync(p, tensors, meta);
    else await writeSafetensors(p, tensors, meta);
    const size = fs.statSync(p).size;
    const n = Number(fs.readFileSync(p).readBigUInt64LE(0));
    assert.equal(n % 8, 0, "buffer start is 8-byte aligned");
    const f = SafetensorsFile.open(p);
    assert.deepEqual(f.metadata, meta);
    assert.deepEqual(f.names(), Object.keys(tensors).sort());
    let total = 0;
    for (const [name, t] of Object.entries(tensors)) {
      const info = f.info(name);
      assert.equal(info.dtype, t.dtype);
      assert.deepEqual(info.shape, t.shape);
      assert.equal(info.byteLength, t.data.byteLength);
      total += info.byteLength;
      const got = f.read(name);
      assert.equal(got.constructor, t.data.constructor, name);
      assert.deepEqual([...got], [...t.data], name);
      const loc = f.location(name);
      assert.equal(loc.offset % Math.max(1, t.data.BYTES_PER_ELEMENT), 0, `${name} aligned to its element size`);
    }
    assert.equal(size, 8 + n + total, "no bytes besides header and tensors");
    f.close();
    assert.throws(() => f.read("F32/1"), /file is closed/);
  });
}

test("readF32 widens every numeric dtype (checked against values computed here)", () => {
  const p = tmp();
  writeSafetensorsSync(p, {
    f64: { dtype: "F64", shape: [3], data: Float64Array.from([0.1, -1e300, 2 ** -149]) },
    i64: { dtype: "I64", shape: [3], data: BigInt64Array.from([-(2n ** 24n), 16777217n, 2n ** 62n]) },
    u64: { dtype: "U64", shape: [1], data: BigUint64Array.from([2n ** 64n - 1n]) },
    i32: { dtype: "I32", shape: [2], data: Int32Array.from([-(2 ** 31), 5]) },
    i8: { dtype: "I8", shape: [2], data: Int8Array.from([-128, 127]) },
    u16: { dtype: "U16", shape: [1], data: Uint16Array.from([65535]) },
    f16: { dtype: "F16", shape: [5], data: Uint16Array.from([0x3c00, 0x0001, 0x7bff, 0xfc00, 0x3555]) },
    bf16: { dtype: "BF16", shape: [3], data: Uint16Array.from([0x3f80, 0x4049, 0x0001]) },
    e5m2: { dtype: "F8_E5M2", shape: [4], data: Uint8Array.from([0x3c, 0x7b, 0x01, 0x7c]) },
    e4m3: { dtype: "F8_E4M3", shape: [5], data: Uint8Array.from([0x38, 0x7e, 0x01, 0xc0, 0x7f]) },
  });
  const f = SafetensorsFile.open(p);
  const f32 = (x: number) => Math.fround(x);
  assert.deepEqual([...f.readF32("f64")], [f32(0.1), -Infinity, 2 ** -149]);
  assert.deepEqual([...f.readF32("i64")], [-(2 ** 24), 16777216, 2 ** 62]);
  assert.deepEqual([...f.readF32("u64")], [2 ** 64]);
  assert.deepEqual([...f.readF32("i32")], [-(2 ** 31), 5]);
  assert.deepEqual([...f.readF32("i8")], [-128, 127]);
  assert.deepEqual([...f.readF32("u16")], [65535]);
  // binary16: 1, 2^-24, 65504, -inf, 0x3555 = 2^-2 * (1 + 0x155/1024)
  assert.deepEqual([...f.readF32("f16")], [1, 2 ** -24, 65504, -Infinity, 0.25 * (1 + 0x155 / 1024)]);
  // bfloat16: 1, 0x4049 = 2^1 * (1 + 0x49/128), 0x0001 = 2^-133
  assert.deepEqual([...f.readF32("bf16")], [1, 2 * (1 + 0x49 / 128), 2 ** -133]);
  // E5M2 = top byte of binary16: 0x3c00 = 1, 0x7b00 = 57344, 0x0100 = 2^-16, 0x7c00 = inf
  assert.deepEqual([...f.readF32("e5m2")], [1, 57344, 2 ** -16, Infinity]);
  // E4M3FN: 0x38 = 1, 0x7e = 448 (max), 0x01 = 2^-9, 0xc0 = -2, 0x7f = NaN
  const e4 = f.readF32("e4m3");
  assert.deepEqual([...e4.subarray(0, 4)], [1, 448, 2 ** -9, -2]);
  assert.ok(Number.isNaN(e4[4]));
  assert.throws(() => f.readF32("i8", { shape: [3] }), /tensor "i8": has shape \[2\]; expected \[3\]/);
  assert.equal(f.readF32("i8", { shape: [2] }).length, 2);
  f.close();
});

test("F32 data stored as F16 / BF16 on request is rounded to nearest even", () => {
  const p = tmp();
  // 1 + 2^-11: halfway between 0x3C00 and 0x3C01 -> even 0x3C00; 1 + 3*2^-11 -> 0x3C02;
  // 65520 -> inf; 2^-25 (half the smallest subnormal) -> 0; 3*2^-26 -> 0x0001
  const x = Float32Array.from([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, 2 ** -25, 3 * 2 ** -26, -0, 1e-3]);
  writeSafetensorsSync(p, {
    h: { dtype: "F16", shape: [7], data: x },
    // bf16: 1 + 2^-8 is halfway between 0x3F80 and 0x3F81 -> 0x3F80; 1 + 3*2^-8 -> 0x3F82
    b: { dtype: "BF16", shape: [2], data: Float32Array.from([1 + 2 ** -8, 1 + 3 * 2 ** -8]) },
  });
  const f = SafetensorsFile.open(p);
  assert.equal(f.info("h").dtype, "F16");
  assert.deepEqual([...(f.read("h") as Uint16Array)], [0x3c00, 0x3c02, 0x7c00, 0x0000, 0x0001, 0x8000, 0x1419]);
  assert.deepEqual([...(f.read("b") as Uint16Array)], [0x3f80, 0x3f82]);
  f.close();
});

test("large F32 -> F16 narrowing streams in chunks and round-trips exactly for representable values", async () => {
  const n = 200_003; // several 64K chunks plus a remainder
  const x = Float32Array.from({ length: n }, (_, i) => ((i % 2048) - 1024) / 16); // all exact in binary16
  const p = tmp();
  await writeSafetensors(p, { big: { dtype: "F16", shape: [n], data: x } });
  const f = SafetensorsFile.open(p);
  assert.deepEqual(f.readF32("big"), x);
  f.close();
});

test("read with rows returns a slice of the leading dim", () => {
  const p = tmp();
  const data = Float32Array.from({ length: 24 }, (_, i) => i);
  writeSafetensorsSync(p, {
    m: { dtype: "F32", shape: [4, 2, 3], data },
    s: { dtype: "F32", shape: [], data: Float32Array.from([1]) },
  });
  const f = SafetensorsFile.open(p);
  assert.deepEqual([...(f.read("m", [1, 3]) as Float32Array)], [...data.subarray(6, 18)]);
  assert.equal(f.read("m", [4, 4]).length, 0);
  assert.throws(() => f.read("m", [3, 5]), /tensor "m": rows \[3, 5\) are outside shape \[4, 2, 3\]/);
  assert.throws(() => f.read("s", [0, 1]), /rows \[0, 1\) are outside shape \[\]/);
  f.close();
});

test("open reads only the header: a 3 GB sparse file opens and reads a small tensor", () => {
  const big = 3_000_000_000;
  const header = JSON.stringify({
    small: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
    huge: { dtype: "U8", shape: [big], data_offsets: [8, 8 + big] },
  });
  const p = rawFile(header, [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
  fs.truncateSync(p, 8 + Buffer.byteLength(header) + 8 + big); // sparse: no disk used
  const t0 = performance.now();
  const f = SafetensorsFile.open(p);
  assert.deepEqual([...(f.read("small") as Float32Array)], [1, 2]);
  assert.deepEqual(f.info("huge"), { dtype: "U8", shape: [big], byteLength: big });
  assert.ok(performance.now() - t0 < 2000);
  f.close();
  fs.rmSync(p);
});

test("writer input errors are one-line SafetensorsErrors naming the tensor", () => {
  const p = tmp();
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { a: { dtype: "F32", shape: [2], data: new Float64Array(2) } },
      /tensor "a": data is a Float64Array; expected a Float32Array for F32/,
    ],
    [
      { a: { dtype: "F32", shape: [2, 2], data: new Float32Array(3) } },
      /tensor "a": data has 3 values; expected 4 for shape \[2, 2\]/,
    ],
    [{ a: { dtype: "BOOL", shape: [2], data: Uint8Array.from([0, 2]) } }, /BOOL data holds a value other than 0 or 1/],
    [{ a: { dtype: "Q8", shape: [1], data: new Uint8Array(1) } }, /dtype "Q8" is unknown/],
    [{ a: { dtype: "F32", shape: [-1], data: new Float32Array(0) } }, /shape \[-1\] is invalid/],
    [{ __metadata__: { dtype: "F32", shape: [], data: new Float32Array(1) } }, /"__metadata__" is reserved/],
  ];
  for (const [tensors, re] of cases) {
    assert.throws(
      () => writeSafetensorsSync(p, tensors as never),
      (e: unknown) => e instanceof SafetensorsError && re.test(e.message) && !e.message.includes("\n"),
    );
  }
  assert.throws(() => writeSafetensorsSync(p, {}, { n: 1 } as never), /metadata\["n"\] is a number; expected a string/);
  assert.throws(
    () => writeSafetensorsSync(path.join(dir, "no-such-dir", "x.safetensors"), {}),
    /x\.safetensors: cannot write \(ENOENT\)/,
  );
  assert.equal(fs.existsSync(p), false, "nothing written on bad input");
});

test("an empty file (no tensors) is valid and round-trips", () => {
  const p = tmp();
  writeSafetensorsSync(p, {});
  assert.deepEqual(fs.readFileSync(p), Buffer.concat([Buffer.from([8, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{}      ")]));
  const f = SafetensorsFile.open(p);
  assert.deepEqual(f.names(), []);
  assert.deepEqual(f.metadata, {});
  assert.throws(() => f.info("x"), /tensor "x": not found; expected one of the file's 0 tensors/);
  f.close();
});

/** [header, expected message] pairs for files that must be rejected. */
const BAD: [string, string, number[]?, bigint?][] = [
  ["{}", "header length is 0; expected a JSON header", [], 0n],
  ["{}", "header length 9223372036854775808 exceeds the 100000000-byte limit", [], 2n ** 63n],
  ["{}", "header length 100000001 exceeds", [], 100_000_001n],
  ["{}", "header length 10 runs past the end of the 10-byte file; expected at most 2 (truncated file?)", [], 10n],
  ["[1,2]", "header starts with \"[\"; expected '{'"],
  ['{"a":1', "header is not valid JSON: ',' or '}' expected in object (found end of text)"],
  [
    '{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}',
    'duplicate key "a"',
  ],
  ['{"a":{"dtype":"F33","shape":[],"data_offsets":[0,4]}}', 'tensor "a": unknown dtype "F33"; expected one of F64 F32'],
  ['{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}', 'tensor "a": dtype F4 is not supported by msae'],
  ['{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', "span 4 bytes; expected 8 (shape [2] x 4 bytes of F32)"],
  [
    '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
    "run past the 2-byte data buffer; expected end <= 2",
    [1, 2],
  ],
  ['{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', "shape [-1] has dim -1; expected integers >= 0"],
  ['{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}', "non-integer number 1.5"],
  ['{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', "has begin > end"],
  ['{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', "data_offsets is [0]; expected [begin, end]"],
  ['{"a":{"dtype":"F32","shape":[99999999999999999],"data_offsets":[0,4]}}', "integer 99999999999999999 is too large"],
  [
    '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}',
    'tensor "b": data_offsets [1, 3] leave an overlap of 1 bytes: the previous tensor "a" ends at 2; expected the tensors to tile',
    [1, 2, 3],
  ],
  // the tiling rule of the Rust crate: begin at 0, no gaps, no trailing bytes
  [
    '{"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}',
    'tensor "a": data_offsets [1, 3] leave a gap of 1 bytes: the data buffer starts at 0',
    [1, 2, 3],
  ],
  [
    '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}',
    'tensor "b": data_offsets [2, 3] leave a gap of 1 bytes: the previous tensor "a" ends at 1',
    [1, 2, 3],
  ],
  [
    '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}',
    "the tensors end at byte 2 of the 3-byte data buffer (1 trailing bytes); expected them to fill it exactly",
    [1, 2, 3],
  ],
  ["{}", "the tensors end at byte 0 of the 4-byte data buffer (4 trailing bytes)", [1, 2, 3, 4]],
  [
    '{"a":{"dtype":"U8","shape":[0],"data_offsets":[2,2]},"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"c":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}',
    'tensor "a": data_offsets [2, 2] leave an overlap of 1 bytes: the previous tensor "c" ends at 3',
    [1, 2, 3],
  ],
  [' {"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', "header starts with \" \"; expected '{'", [1]],
  ["  ", "header starts with \" \"; expected '{'"],
  ['{"__metadata__":{"a":1}}', '__metadata__["a"] is a number; expected a string'],
  ['{"__metadata__":"x"}', "__metadata__ is a string; expected an object of strings"],
  ['{"a":{"shape":[],"data_offsets":[0,4]}}', 'tensor "a": has no dtype'],
  ['{"a":[1]}', 'tensor "a": entry is an array; expected an object'],
  ['\uFEFF{"a":1}', "expected '{' (a JSON object, no leading whitespace or BOM)"],
];

test("malformed files give one-line SafetensorsErrors naming the file, the tensor and what was expected", () => {
  for (const [header, message, data, len] of BAD) {
    const p = rawFile(header, data ?? [], len);
    assert.throws(
      () => SafetensorsFile.open(p),
      (e: unknown) => {
        assert.ok(e instanceof SafetensorsError, `not a SafetensorsError for ${header}: ${e}`);
        assert.ok(e.message.startsWith(`${p}: `), e.message);
        assert.ok(e.message.includes(message), `${JSON.stringify(e.message)} lacks ${JSON.stringify(message)}`);
        assert.ok(!/[\r\n]/.test(e.message));
        return true;
      },
    );
  }
  const nonUtf8 = tmp("raw");
  fs.writeFileSync(nonUtf8, Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0xc3, 0x28]));
  assert.throws(() => SafetensorsFile.open(nonUtf8), /header is not valid UTF-8; expected UTF-8 JSON/);
  const tiny = tmp("raw");
  fs.writeFileSync(tiny, Buffer.from([1, 0, 0]));
  assert.throws(() => SafetensorsFile.open(tiny), /file is 3 bytes; expected at least 8/);
  assert.throws(() => SafetensorsFile.open(path.join(dir, "missing.safetensors")), /cannot open \(no such file\)/);
  assert.throws(() => SafetensorsFile.open(dir), /is not a regular file|is a directory/);
});

test("a header length off by a few bytes is refused, never read shifted (it used to parse: the JSON ends in padding)", () => {
  const p = tmp();
  // 15 bytes of JSON pad to 16: cutting up to 8 bytes of padding still leaves valid JSON
  writeSafetensorsSync(p, { w: { dtype: "F32", shape: [4], data: Float32Array.of(1, 2, 3, 4) } });
  const good = fs.readFileSync(p);
  const n = Number(good.readBigUInt64LE(0));
  const json = good.subarray(8, 8 + n).toString("utf8");
  const pad = json.length - json.trimEnd().length;
  assert.ok(pad >= 1, `the writer pads (${pad} spaces)`);
  for (const delta of [-pad, -1, 1, 2, 4]) {
    const b = Buffer.from(good);
    b.writeBigUInt64LE(BigInt(n + delta));
    const q = tmp();
    fs.writeFileSync(q, b);
    assert.throws(
      () => SafetensorsFile.open(q),
      (e: unknown) =>
        e instanceof SafetensorsError && /tile|fill it exactly|not valid JSON|not valid UTF-8/.test(e.message),
      `header length ${n + delta} (true ${n})`,
    );
  }
});

test("readF32 with dtypes: a dtype the caller does not accept names tensor, dtype and the accepted ones", () => {
  const p = tmp();
  writeSafetensorsSync(p, {
    norm: { dtype: "I32", shape: [2], data: Int32Array.of(1, 2) },
    w: { dtype: "BF16", shape: [1], data: Uint16Array.of(0x3f80) },
  });
  const f = SafetensorsFile.open(p);
  assert.throws(
    () => f.readF32("norm", { dtypes: ["F32", "BF16"], purpose: "a float weight" }),
    (e: unknown) =>
      e instanceof SafetensorsError &&
      e.message === `${p}: tensor "norm": has dtype I32; expected one of F32, BF16 (a float weight)`,
  );
  assert.deepEqual([...f.readF32("w", { dtypes: ["F32", "BF16"] })], [1]);
  assert.deepEqual([...f.readF32("norm")], [1, 2], "no dtypes: converted as before");
  f.close();
});

test("a file truncated after open is reported, not misread", () => {
  const p = tmp();
  writeSafetensorsSync(p, { a: { dtype: "F32", shape: [4], data: new Float32Array(4) } });
  const f = SafetensorsFile.open(p);
  fs.truncateSync(p, fs.statSync(p).size - 3);
  assert.throws(() => f.read("a"), /tensor "a": file ended after 13 of 16 data bytes/);
  f.close();
});

test("expectTensor: presence, dtype and shape (with * dims) checked before reading, one line each", () => {
  const p = tmp();
  writeSafetensorsSync(p, { acts: { dtype: "F16", shape: [10, 4], data: new Uint16Array(40) } });
  const f = SafetensorsFile.open(p);
  assert.deepEqual(expectTensor(f, "acts", { dtypes: ["F16", "F32"], shape: [-1, 4] }).shape, [10, 4]);
  assert.throws(() => expectTensor(f, "acts", { dtypes: ["F32"] }), /tensor "acts": has dtype F16; expected F32$/);
  assert.throws(
    () => expectTensor(f, "acts", { shape: [-1, 8] }),
    /tensor "acts": has shape \[10, 4\]; expected \[\*, 8\]$/,
  );
  assert.throws(
    () => expectTensor(f, "codes", { purpose: "an activation store's codes" }),
    /tensor "codes": is missing; expected it \(an activation store's codes\)$/,
  );
  f.close();
});
