/**
 * Golden files from a separate implementation: test/golden/safetensors/python_dtypes.* were made by
 * tools/golden/make_safetensors_golden.py (its own Python writer, torch for every conversion).
 * Our reader must read every tensor bit for bit, and our float16 / bfloat16 narrowing must agree
 * with torch's round-to-nearest-even on its table of float32 patterns.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { f32ToBf16, f32ToF16 } from "../../src/io/dtype.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { writeSafetensorsSync } from "../../src/io/safetensors-write.ts";

const goldenDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "golden", "safetensors");
const expected = JSON.parse(fs.readFileSync(path.join(goldenDir, "python_dtypes.expected.json"), "utf8")) as {
  metadata: Record<string, string>;
  tensors: Record<string, { dtype: string; shape: number[]; raw: (number | string)[]; f32_bits: number[] }>;
  narrowing: { f32_bits: number[]; f16_bits: number[]; bf16_bits: number[] };
};

function f64Hex(x: number): string {
  // Python's float.hex() form, e.g. 0x1.921fb54442d18p+1, for an exact comparison
  if (x === 0) return Object.is(x, -0) ? "-0x0.0p+0" : "0x0.0p+0";
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  const hi = dv.getUint32(0);
  const lo = dv.getUint32(4);
  const sign = hi >>> 31 ? "-" : "";
  const exp = (hi >>> 20) & 0x7ff;
  const mant = ((BigInt(hi & 0xfffff) << 32n) | BigInt(lo)).toString(16).padStart(13, "0");
  if (exp === 0) return `${sign}0x0.${mant}p-1022`;
  return `${sign}0x1.${mant}p${exp - 1023 >= 0 ? "+" : ""}${exp - 1023}`;
}

test("reads the Python-written golden file bit for bit", () => {
  const f = SafetensorsFile.open(path.join(goldenDir, "python_dtypes.safetensors"));
  assert.deepEqual(f.metadata, expected.metadata);
  assert.deepEqual(f.names(), Object.keys(expected.tensors).sort());
  for (const [name, want] of Object.entries(expected.tensors)) {
    const info = f.info(name);
    assert.equal(info.dtype, want.dtype, name);
    assert.deepEqual(info.shape, want.shape, name);
    const data = f.read(name);
    let raw: (number | string)[];
    if (want.dtype === "F32") raw = [...new Uint32Array(data.buffer, data.byteOffset, data.length)];
    else if (want.dtype === "F64") raw = [...(data as Float64Array)].map(f64Hex);
    else if (want.dtype === "I64") raw = [...(data as BigInt64Array)].map(String);
    else if (want.dtype === "F16" || want.dtype === "BF16" || want.dtype === "BOOL") raw = [...(data as Uint16Array)];
    else raw = [...(data as Int32Array)].map(String);
    assert.deepEqual(raw, want.raw, `${name} raw values`);
    const f32 = f.readF32(name);
    const bits = [...new Uint32Array(f32.buffer, f32.byteOffset, f32.length)];
    // (I64: torch rounds once, we round through float64; the golden values have no double-rounding case)
    assert.deepEqual(bits, want.f32_bits, `${name} as float32`);
  }
  f.close();
});

test("float32 -> float16 / bfloat16 narrowing agrees with torch on every pattern of the golden table", () => {
  const { f32_bits, f16_bits, bf16_bits } = expected.narrowing;
  assert.ok(f32_bits.length > 1000);
  const x = new Float32Array(new Uint32Array(f32_bits).buffer);
  const h = new Uint16Array(x.length);
  const b = new Uint16Array(x.length);
  f32ToF16(x, h);
  f32ToBf16(x, b);
  assert.deepEqual([...h], f16_bits);
  assert.deepEqual([...b], bf16_bits);

  // and through the writer (F32 data stored as F16 / BF16 on request)
  const p = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "msae-golden-")), "n.safetensors");
  writeSafetensorsSync(p, {
    h: { dtype: "F16", shape: [x.length], data: x },
    b: { dtype: "BF16", shape: [x.length], data: x },
  });
  const f = SafetensorsFile.open(p);
  assert.deepEqual([...(f.read("h") as Uint16Array)], f16_bits);
  assert.deepEqual([...(f.read("b") as Uint16Array)], bf16_bits);
  f.close();
  fs.rmSync(path.dirname(p), { recursive: true });
});
