/**
 * Writes a sample .safetensors file with msae's writer, for make_safetensors_golden.py to check
 * with its independent Python reader (run: node --import tsx tools/golden/write-sample.ts OUT).
 *
 * Values use only exactly-rounded arithmetic so Python can recompute them bit for bit:
 *   v_i = fround((((37 i) mod 101) - 50) / 7 * 2^((i mod 9) - 4))   for float tensors,
 *   F16 / BF16 tensors are these float32 values narrowed by msae (round to nearest even).
 */
import { writeSafetensorsSync } from "../../src/io/safetensors-write.ts";

function sampleValue(i: number): number {
  return Math.fround(((((37 * i) % 101) - 50) / 7) * 2 ** ((i % 9) - 4));
}

function floats(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => sampleValue(i));
}

const out = process.argv[2];
if (!out) {
  console.error("usage: write-sample.ts OUT.safetensors");
  process.exit(2);
}
const extremes = new Float32Array([65504, 65519.99, 65520, 1e-8, 2 ** -24, 3 * 2 ** -26, -0, 1e30, -1e30, 1 / 3]);
writeSafetensorsSync(
  out,
  {
    f32: { dtype: "F32", shape: [3, 5, 7], data: floats(105) },
    f16: { dtype: "F16", shape: [5, 21], data: floats(105) },
    f16_extremes: { dtype: "F16", shape: [10], data: extremes },
    bf16: { dtype: "BF16", shape: [105], data: floats(105) },
    bf16_extremes: { dtype: "BF16", shape: [10], data: extremes },
    f64: { dtype: "F64", shape: [2, 3], data: Float64Array.from({ length: 6 }, (_, i) => (i - 2.5) / 3) },
    i64: { dtype: "I64", shape: [4], data: BigInt64Array.from([-(2n ** 62n), -1n, 0n, 2n ** 53n + 1n]) },
    i32: { dtype: "I32", shape: [3], data: Int32Array.from([-(2 ** 31), 7, 2 ** 31 - 1]) },
    u8: { dtype: "U8", shape: [1], data: Uint8Array.from([255]) },
    bool: { dtype: "BOOL", shape: [2, 2], data: Uint8Array.from([1, 0, 0, 1]) },
    scalar: { dtype: "F32", shape: [], data: Float32Array.from([2.5]) },
    empty: { dtype: "F32", shape: [0], data: new Float32Array(0) },
    "name with ünïcode": { dtype: "I16", shape: [2], data: Int16Array.from([-32768, 32767]) },
  },
  { format: "pt", writer: "msae tools/golden/write-sample.ts" },
);
