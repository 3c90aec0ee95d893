// The ref backend's half-precision conversions: hand-picked encodings and ties, every f16 bit
// pattern against the textbook formula, and random float32 values against a nearest-value search.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RefBackend } from "../../src/core/backends/ref.ts";
import { Rng } from "../../src/core/tensor.ts";

const ref = new RefBackend();

/** Bits of a float32 / a float32 from bits, without passing through a JS number (NaN payloads). */
const bitsOf = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0];
const f32Bits = (bits: number[]) => new Float32Array(Uint32Array.from(bits).buffer);

function toF16(values: Float32Array): number[] {
  const out = new Uint16Array(values.length);
  ref.f32ToF16(values, out);
  return [...out];
}

function toBf16(values: Float32Array): number[] {
  const out = new Uint16Array(values.length);
  ref.f32ToBf16(values, out);
  return [...out];
}

/** Value of binary16 bits by the textbook formula (independent of the code under test). */
function halfValue(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 31) return m === 0 ? s * Number.POSITIVE_INFINITY : Number.NaN;
  return e === 0 ? s * m * 2 ** -24 : s * 2 ** (e - 15) * (1 + m / 1024);
}

describe("ref f16 / bf16 conversions", () => {
  test("f16 encodings of 1, 65504, 2^-24, 65520 -> inf, and rounding ties", () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [65504, 0x7bff],
      [65519, 0x7bff],
      [65520 - 2 ** -8, 0x7bff], // the float32 just below the tie
      [65520, 0x7c00],
      [2 ** -24, 0x0001],
      [2 ** -14, 0x0400],
      [2 ** -25, 0x0000], // tie between 0 and 2^-24: to even (0)
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // 1.5 units: tie to even (2)
      [1 + 2 ** -11, 0x3c00], // tie between 1 and 1 + 2^-10: to even
      [1 + 3 * 2 ** -11, 0x3c02], // tie: to even (upwards)
      [1 + 2 ** -11 + 2 ** -20, 0x3c01],
      [-2, 0xc000],
      [-0, 0x8000],
      [2 ** -130, 0x0000], // float32 subnormal
      [Number.POSITIVE_INFINITY, 0x7c00],
      [Number.NEGATIVE_INFINITY, 0xfc00],
      [(2 ** -14 * 2047) / 2048, 0x0400], // largest subnormal + half a unit rounds to the smallest normal
    ];
    assert.deepEqual(
      toF16(Float32Array.from(cases.map((c) => c[0]))),
      cases.map((c) => c[1]),
    );
    // NaNs: quiet NaN payload kept, signalling NaN made quiet.
    assert.deepEqual(toF16(f32Bits([0x7fc00000, 0xffc02000, 0x7f802000])), [0x7e00, 0xfe01, 0x7e01]);
  });

  test("every f16 bit pattern decodes to its textbook value and round-trips (sNaN -> quiet)", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = new Float32Array(65536);
    ref.f16ToF32(all, f);
    const bits = new Uint32Array(f.buffer);
    const back = new Uint16Array(65536);
    ref.f32ToF16(f, back);
    for (let h = 0; h < 65536; h++) {
      const v = halfValue(h);
      if (Number.isNaN(v)) {
        assert.equal(bits[h], (((h & 0x8000) << 16) | 0x7f800000 | ((h & 1023) << 13)) >>> 0, `NaN ${h}`);
        assert.equal(back[h], h | 0x200, `NaN round trip ${h}`);
      } else {
        assert.ok(Object.is(f[h], v), `decode ${h.toString(16)}: ${f[h]} vs ${v}`);
        assert.equal(back[h], h, `round trip ${h.toString(16)}`);
      }
    }
  });

  test("random float32 values round to the nearest f16 (ties to even), found by search", () => {
    const finite: number[] = []; // non-negative finite f16 values, ascending
    for (let h = 0; h < 0x7c00; h++) finite.push(halfValue(h));
    const nearest = (x: number): number => {
      const a = Math.abs(x);
      if (a >= 65520) return 0x7c00;
      let lo = 0;
      let hi = finite.length - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (finite[mid] <= a) lo = mid;
        else hi = mid;
      }
      const dl = a - finite[lo];
      const dh = finite[hi] - a;
      return dl < dh || (dl === dh && lo % 2 === 0) ? lo : hi;
    };
    const xs = new Float32Array(20000);
    const rng = new Rng(12345);
    for (let i = 0; i < xs.length; i++) {
      const e = -27 + rng.int(45); // exponents 2^-27 .. 2^17
      xs[i] = (rng.next() < 0.5 ? -1 : 1) * 2 ** e * (1 + rng.next());
    }
    const got = toF16(xs);
    for (let i = 0; i < xs.length; i++) {
      const want = nearest(xs[i]) | (xs[i] < 0 ? 0x8000 : 0);
      assert.equal(got[i], want, `f16(${xs[i]})`);
    }
  });

  test("bf16: truncation point, ties to even, overflow to inf, NaN quiet, decode", () => {
    const got = toBf16(
      f32Bits([0x3f800000, 0x3f808000, 0x3f818000, 0x3f808001, 0x7f7fffff, 0xff800000, 0x7fc00001, 0x7f800001, 1]),
    );
    assert.deepEqual(got, [0x3f80, 0x3f80, 0x3f82, 0x3f81, 0x7f80, 0xff80, 0x7fc0, 0x7fc0, 0x0000]);
    const out = new Float32Array(3);
    ref.bf16ToF32(Uint16Array.from([0x3f80, 0xc040, 0x7fc1]), out);
    assert.equal(out[0], 1);
    assert.equal(out[1], -3);
    assert.equal(new Uint32Array(out.buffer)[2], 0x7fc10000);
    assert.equal(bitsOf(out[1]), 0xc0400000);
    assert.throws(() => ref.f32ToBf16(Float32Array.of(1), new Uint16Array(2)), RangeError);
    assert.throws(() => ref.f16ToF32(Uint16Array.of(1), new Float64Array(1) as unknown as Float32Array), TypeError);
  });
});
