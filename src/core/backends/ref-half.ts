/**
 * Exact half-precision conversions for the ref backend, on raw bits.
 *
 * binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Normal: (-1)^s 2^(e-15) (1 + m/1024);
 *   subnormal (e = 0): (-1)^s 2^-24 m; e = 31: inf (m = 0) or NaN.
 * bfloat16: the top 16 bits of a float32 (1 sign, 8 exponent, 7 mantissa bits).
 * float32 -> half rounds to nearest, ties to even; too large -> inf (65520 is the first value
 * that rounds to inf in binary16); NaN stays NaN with its top payload bits and the quiet bit set.
 *
 * Float32 values are read and written through Uint32 views of the same memory, so NaN payloads
 * never pass through a JS number (which may canonicalize them).
 */

function u32View(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** binary16 bits -> float32 bits (exact). */
export function halfBitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const e = (h >> 10) & 0x1f;
  let m = h & 0x3ff;
  if (e === 31) return (sign | 0x7f800000 | (m << 13)) >>> 0; // inf or NaN (payload kept)
  if (e !== 0) return (sign | ((e - 15 + 127) << 23) | (m << 13)) >>> 0;
  if (m === 0) return sign >>> 0; // signed zero
  // Subnormal: value m * 2^-24; normalize so the leading 1 sits at bit 10.
  let exp = -14; // exponent of bit 10 when m has its leading 1 there
  while ((m & 0x400) === 0) {
    m <<= 1;
    exp--;
  }
  return (sign | ((exp + 127) << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** Integer q / 2^s rounded to nearest, ties to even (0 <= q < 2^31, 0 <= s <= 31). */
function roundShift(q: number, s: number): number {
  if (s === 0) return q;
  const kept = q >>> s;
  const rem = q - kept * 2 ** s;
  const half = 2 ** (s - 1);
  if (rem > half || (rem === half && (kept & 1) === 1)) return kept + 1;
  return kept;
}

/** float32 bits -> binary16 bits, round to nearest even. */
export function f32BitsToHalfBits(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  const m = b & 0x7fffff;
  if (e === 255) {
    if (m === 0) return sign | 0x7c00; // inf
    return sign | 0x7c00 | 0x200 | (m >>> 13); // NaN: quiet bit set, top payload bits kept
  }
  if (e === 0) return sign; // float32 zero or subnormal (< 2^-126): rounds to signed zero
  const E = e - 127; // value = M * 2^(E - 23), M = 1.m as a 24-bit integer
  const M = m | 0x800000;
  if (E > 15) return sign | 0x7c00;
  if (E >= -14) {
    // Normal half: keep 11 significant bits. A carry out of the mantissa bumps the exponent
    // (and E = 15 overflowing gives exactly 0x7c00, inf).
    const q = roundShift(M, 13); // in [0x400, 0x800]
    return sign | (((E + 15) << 10) + q - 0x400);
  }
  // Subnormal half: value in units of 2^-24 is M * 2^(E + 1), i.e. M shifted right by -(E + 1) >= 14.
  const s = -(E + 1);
  if (s > 24) return sign; // below 2^-25: rounds to zero
  return sign | roundShift(M, s); // may round up to 0x400, the smallest normal (correct encoding)
}

/** float32 bits -> bfloat16 bits, round to nearest even. */
export function f32BitsToBf16Bits(b: number): number {
  const e = (b >>> 23) & 0xff;
  const m = b & 0x7fffff;
  if (e === 255 && m !== 0) return ((b >>> 16) | 0x40) & 0xffff; // NaN: keep top payload, set quiet bit
  const lsb = (b >>> 16) & 1;
  return ((b + 0x7fff + lsb) >>> 16) & 0xffff; // finite max rounds up into inf, as RNE says
}

export function f16ToF32(src: Uint16Array, out: Float32Array): void {
  const o = u32View(out);
  for (let i = 0; i < src.length; i++) o[i] = halfBitsToF32Bits(src[i]);
}

export function f32ToF16(src: Float32Array, out: Uint16Array): void {
  const s = u32View(src);
  for (let i = 0; i < s.length; i++) out[i] = f32BitsToHalfBits(s[i]);
}

export function bf16ToF32(src: Uint16Array, out: Float32Array): void {
  const o = u32View(out);
  for (let i = 0; i < src.length; i++) o[i] = (src[i] << 16) >>> 0;
}

export function f32ToBf16(src: Float32Array, out: Uint16Array): void {
  const s = u32View(src);
  for (let i = 0; i < s.length; i++) out[i] = f32BitsToBf16Bits(s[i]);
}
