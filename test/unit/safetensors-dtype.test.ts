/**
 * Half-precision conversions against naive float64 computations written here: widening checked
 * exhaustively (all 65536 patterns), narrowing against a round-half-even of the scaled value computed
 * in float64, on random float32 patterns of every exponent and on every kind of tie.
 * Run over the three implementations the safetensors code can use: src/io/dtype.ts (tsHalf), the ref
 * backend, and getBackend() (the native addon when built: what readF32 / the writer use by default).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { getBackend, refBackend } from "../../src/core/backends/index.ts";
import { f8e4m3ToF32, f8e5m2ToF32, tsHalf } from "../../src/io/dtype.ts";

const IMPLS = [
  ["io/dtype.ts", tsHalf],
  ["ref backend", refBackend],
  [`getBackend() (${getBackend().name})`, getBackend()],
] as const;

/** Value of a float with `mbits` mantissa bits, exponent bias `bias`, fields (s, e, m), e < all-ones. */
function naiveDecode(s: number, e: number, m: number, mbits: number, bias: number): number {
  const sign = s ? -1 : 1;
  if (e === 0) return sign * m * 2 ** (1 - bias - mbits); // subnormal
  return sign * (1 + m / 2 ** mbits) * 2 ** (e - bias);
}

const f32Bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);

for (const [impl, b] of IMPLS)
  test(`f16ToF32 is exact for all 65536 binary16 patterns (NaN payload kept): ${impl}`, () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const out = new Float32Array(65536);
    b.f16ToF32(all, out);
    const bits = f32Bits(out);
    for (let h = 0; h < 65536; h++) {
      const s = h >> 15;
      const e = (h >> 10) & 31;
      const m = h & 1023;
      if (e === 31) {
        if (m === 0) assert.equal(out[h], s ? -Infinity : Infinity);
        else assert.equal(bits[h], ((s << 31) | 0x7f800000 | (m << 13)) >>> 0, `NaN ${h.toString(16)}`);
      } else {
        const want = naiveDecode(s, e, m, 10, 15);
        assert.ok(Object.is(out[h], want), `0x${h.toString(16)}: ${out[h]} != ${want}`);
      }
    }
  });

for (const [impl, b] of IMPLS)
  test(`bf16ToF32 is exact for all 65536 bfloat16 patterns: ${impl}`, () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const out = new Float32Array(65536);
    b.bf16ToF32(all, out);
    for (let h = 0; h < 65536; h++) {
      const s = h >> 15;
      const e = (h >> 7) & 255;
      const m = h & 127;
      if (e === 255) {
        if (m === 0) assert.equal(out[h], s ? -Infinity : Infinity);
        else assert.ok(Number.isNaN(out[h]));
      } else assert.ok(Object.is(out[h], naiveDecode(s, e, m, 7, 127)), `0x${h.toString(16)}`);
    }
  });

test("F8 widening matches the format definitions for all 256 patterns", () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const e5 = new Float32Array(256);
  const e4 = new Float32Array(256);
  f8e5m2ToF32(all, e5);
  f8e4m3ToF32(all, e4);
  for (let b = 0; b < 256; b++) {
    const s = b >> 7;
    const e5e = (b >> 2) & 31;
    const e5m = b & 3;
    if (e5e === 31) assert.ok(e5m === 0 ? e5[b] === (s ? -Infinity : Infinity) : Number.isNaN(e5[b]));
    else assert.ok(Object.is(e5[b], naiveDecode(s, e5e, e5m, 2, 15)), `e5m2 0x${b.toString(16)}`);
    const e4e = (b >> 3) & 15;
    const e4m = b & 7;
    if (e4e === 15 && e4m === 7) assert.ok(Number.isNaN(e4[b]));
    else assert.ok(Object.is(e4[b], naiveDecode(s, e4e, e4m, 3, 7)), `e4m3 0x${b.toString(16)}`);
  }
});

/**
 * Naive narrowing in float64: the nearest value on the grid of a format with `p` significant bits,
 * minimum normal exponent `emin`, largest finite `max`; ties to even; beyond max + half an ulp -> inf.
 */
function naiveRound(x: number, p: number, emin: number, max: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  const quantum = 2 ** (Math.max(e, emin) - (p - 1));
  const q = a / quantum; // exact: a power-of-two scaling
  const fl = Math.floor(q);
  const r = q - fl > 0.5 || (q - fl === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  const v = r * quantum;
  const halfUlpAboveMax = max + 2 ** (Math.floor(Math.log2(max)) - p); // max + quantum/2 at max's exponent
  if (a >= halfUlpAboveMax) return Math.sign(x) * Infinity;
  return Math.sign(x) * v;
}

/** float32 test inputs: random bits over every exponent plus edge cases. */
function inputs(): Float32Array {
  const bits: number[] = [];
  let state = 12345;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
  for (let e = 0; e < 255; e++)
    for (let k = 0; k < 300; k++) bits.push(((next() & 1) << 31) | (e << 23) | (next() & 0x7fffff));
  for (const b of [
    0x477fe000, 0x477fefff, 0x477ff000, 0x477ff001, 0x7f7fffff, 0x7f7f7fff, 0x7f7f8000, 0x33000000, 0x33000001,
    0x387fe000, 0x38800000, 1,
  ])
    bits.push(b, (b | 0x80000000) >>> 0);
  const out = new Float32Array(bits.length);
  f32Bits(out).set(bits.map((b) => b >>> 0));
  // exact midpoints between neighbouring binary16 and bfloat16 values (the ties), +-1 ulp of float32
  const ties: number[] = [];
  for (let e = 0; e < 31; e++)
    for (let m = 0; m < 1024; m += 7) {
      const lo = naiveDecode(0, e, m, 10, 15);
      const hi = m === 1023 ? naiveDecode(0, e + 1, 0, 10, 15) : naiveDecode(0, e, m + 1, 10, 15);
      ties.push((lo + hi) / 2, -(lo + hi) / 2);
    }
  for (let e = 0; e < 255; e++)
    for (let m = 0; m < 128; m += 5) {
      const lo = naiveDecode(0, e, m, 7, 127);
      const hi =
        m === 127
          ? e === 254
            ? lo + 2 ** (e - 127 - 7)
            : naiveDecode(0, e + 1, 0, 7, 127)
          : naiveDecode(0, e, m + 1, 7, 127);
      ties.push((lo + hi) / 2);
    }
  const tieF32 = Float32Array.from(ties); // every midpoint is exact in float32
  const tieBits = f32Bits(tieF32);
  const around = new Float32Array(tieF32.length * 3);
  const aroundBits = f32Bits(around);
  for (let i = 0; i < tieBits.length; i++) {
    aroundBits[3 * i] = tieBits[i];
    aroundBits[3 * i + 1] = tieBits[i] + 1;
    aroundBits[3 * i + 2] = tieBits[i] - 1;
  }
  const all = new Float32Array(out.length + around.length);
  all.set(out);
  all.set(around, out.length);
  return all;
}

for (const [impl, b] of IMPLS)
  test(`f32ToF16 rounds to nearest even, overflows to inf, matches a float64 rounding: ${impl}`, () => {
    const x = inputs();
    const h = new Uint16Array(x.length);
    b.f32ToF16(x, h);
    const back = new Float32Array(x.length);
    b.f16ToF32(h, back); // widening is exhaustively checked above
    for (let i = 0; i < x.length; i++) {
      const want = naiveRound(x[i], 11, -14, 65504);
      assert.ok(Object.is(back[i], want), `${x[i]} -> ${back[i]}, expected ${want}`);
    }
  });

for (const [impl, b] of IMPLS)
  test(`f32ToBf16 rounds to nearest even, overflows to inf, matches a float64 rounding: ${impl}`, () => {
    const x = inputs();
    const h = new Uint16Array(x.length);
    b.f32ToBf16(x, h);
    const back = new Float32Array(x.length);
    b.bf16ToF32(h, back);
    const bfMax = (2 - 2 ** -7) * 2 ** 127;
    for (let i = 0; i < x.length; i++) {
      const want = naiveRound(x[i], 8, -126, bfMax);
      assert.ok(Object.is(back[i], want), `${x[i]} -> ${back[i]}, expected ${want}`);
    }
  });

for (const [impl, b] of IMPLS)
  test(`narrowing keeps NaN (quiet) and the sign of zero and infinity: ${impl}`, () => {
    const x = Float32Array.from([Number.NaN, -0, Infinity, -Infinity]);
    f32Bits(x)[0] = 0x7f800001; // a signalling NaN with the lowest payload bit only
    const h = new Uint16Array(4);
    const bb = new Uint16Array(4);
    b.f32ToF16(x, h);
    b.f32ToBf16(x, bb);
    assert.equal(h[0] & 0x7c00, 0x7c00);
    assert.notEqual(h[0] & 0x03ff, 0, "f16 NaN stays NaN");
    assert.equal(bb[0] & 0x7f80, 0x7f80);
    assert.notEqual(bb[0] & 0x7f, 0, "bf16 NaN stays NaN");
    assert.deepEqual([...h.subarray(1)], [0x8000, 0x7c00, 0xfc00]);
    assert.deepEqual([...bb.subarray(1)], [0x8000, 0x7f80, 0xff80]);
    assert.throws(() => b.f32ToF16(new Float32Array(2), new Uint16Array(3)), /\b2\b.*\b3\b|\b3\b.*\b2\b/);
  });
