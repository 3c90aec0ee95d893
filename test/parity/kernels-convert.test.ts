/**
 * Native vs ref parity, part 3: half-precision conversions, bit-exact. Every one of the 65536
 * binary16 / bfloat16 bit patterns is widened; float32 -> half is checked on hand-picked edge
 * cases (rounding ties, the overflow threshold 65520, subnormal boundaries, float32 subnormals,
 * NaN payloads, infinities) plus random bit patterns over the whole float32 range.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertExact, native, Rng, ref, skip } from "./parity-util.ts";

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

function fromBits(u: number[]): Float32Array {
  return new Float32Array(Uint32Array.from(u).buffer);
}

/** Edge cases for float32 -> binary16 / bfloat16, as float32 bit patterns. */
function edgeCases(): Float32Array {
  const f = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0];
  const u = [
    0x00000000,
    0x80000000, // +-0
    0x00000001,
    0x807fffff,
    0x00400000, // float32 subnormals -> signed zero in half
    0x7f800000,
    0xff800000, // +-inf
    0x7fc00000,
    0xffc00000,
    0x7f800001,
    0x7fbfffff,
    0x7fe01234,
    0xff812345, // NaNs (quiet, signalling, payloads)
    0x7f7fffff,
    0xff7fffff, // +-max float (inf in half; RNE into inf in bf16)
    f(65504),
    f(65519),
    f(65519.996),
    f(65520),
    f(-65520),
    f(65536),
    f(1e10), // half overflow threshold
    f(2 ** -14),
    f(2 ** -14 - 2 ** -25),
    f(2 ** -24),
    f(2 ** -25),
    f(2 ** -25 * 1.0000001),
    f(-(2 ** -25)),
    f(3 * 2 ** -26), // subnormal edges
    f(2 ** -26),
    f(1.5 * 2 ** -24),
    f(2.5 * 2 ** -24),
    f(1023.5 * 2 ** -24), // ties in the subnormal range
    f(1 + 2 ** -11),
    f(1 + 3 * 2 ** -11),
    f(1 + 2 ** -11 + 2 ** -23),
    f(2048 + 1),
    f(2048 + 3), // ties in the normal range
    f(1 + 2 ** -8),
    f(1 + 3 * 2 ** -8),
    f(1 + 2 ** -8 + 2 ** -23),
    f(-1 - 2 ** -8), // bf16 ties
    f(1),
    f(-1),
    f(0.1),
    f(Math.PI),
    f(-12345.678),
    f(1e-5),
    f(6.1e-5),
    0x3f80ffff,
    0x3f817fff,
    0x3f818000,
    0x3f808000,
    0x3f828000,
    0x477fefff,
    0x477ff000,
    0x387fffff,
    0x38800000,
  ];
  return fromBits(u);
}

describe("parity: dtype conversions (bit-exact)", { skip }, () => {
  test("f16ToF32 and bf16ToF32 on all 65536 bit patterns", () => {
    const src = Uint16Array.from({ length: 65536 }, (_, i) => i);
    for (const op of ["f16ToF32", "bf16ToF32"] as const) {
      const a = new Float32Array(65536);
      const b = new Float32Array(65536);
      native[op](src, a);
      ref[op](src, b);
      assertExact(`${op} bits`, bits(a), bits(b));
    }
    // Independent spot checks (values worked out by hand).
    const out = new Float32Array(6);
    native.f16ToF32(Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x7c00]), out);
    assert.deepEqual(Array.from(out), [1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, Number.POSITIVE_INFINITY]);
    native.bf16ToF32(Uint16Array.from([0x3f80, 0xc040, 0x7f80, 0x0001, 0x4049, 0x8000]), out);
    assert.deepEqual(Array.from(out), [1, -3, Number.POSITIVE_INFINITY, 2 ** -133, 3.140625, -0]);
  });

  test("f32ToF16 and f32ToBf16 on edge cases and 300000 random bit patterns", () => {
    const rng = new Rng(31);
    const edges = edgeCases();
    const random = new Uint32Array(300000);
    for (let i = 0; i < random.length; i++) random[i] = Math.floor(rng.next() * 4294967296);
    // Also many values inside binary16's range, where the rounding work happens.
    for (let i = 0; i < 100000; i++)
      random[i] = (Math.floor(rng.next() * 0x1f000000) + 0x33000000) | (i & 1 ? 0x80000000 : 0);
    for (const src of [edges, new Float32Array(random.buffer)]) {
      for (const op of ["f32ToF16", "f32ToBf16"] as const) {
        const a = new Uint16Array(src.length);
        const b = new Uint16Array(src.length);
        native[op](src, a);
        ref[op](src, b);
        assertExact(`${op} (${src.length} values)`, a, b);
      }
    }
    // Independent spot checks (hand-worked bits): 1 + 2^-11 ties to 1 (even), 1 + 3 * 2^-11 ties up,
    // 65520 overflows, 2^-25 ties to 0, 3 * 2^-26 rounds up to 2^-24, NaN keeps its top payload bits.
    const h = new Uint16Array(7);
    native.f32ToF16(Float32Array.from([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, 65519, 2 ** -25, 3 * 2 ** -26, 0]), h);
    assert.deepEqual(Array.from(h), [0x3c00, 0x3c02, 0x7c00, 0x7bff, 0x0000, 0x0001, 0x0000]);
    const nan = new Uint16Array(2);
    native.f32ToF16(fromBits([0x7fa02000, 0xff800001]), nan);
    assert.deepEqual(Array.from(nan), [0x7e00 | (0x202000 >> 13), 0xfe00]);
    const bf = new Uint16Array(4);
    native.f32ToBf16(fromBits([0x3f808000, 0x3f818000, 0x7f7fffff, 0x7f800001]), bf);
    assert.deepEqual(Array.from(bf), [0x3f80, 0x3f82, 0x7f80, 0x7fc0]);
  });
});
