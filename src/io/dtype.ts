/**
 * Exact conversions between float32 and the 16- and 8-bit float formats stored in safetensors.
 * Half-precision values are raw bit patterns in a Uint16Array (8-bit ones in a Uint8Array).
 *
 *   binary16 (F16):  s eeeee mmmmmmmmmm, bias 15:  e=0: (-1)^s m 2^-24;  e=31: inf (m=0) / NaN;
 *                    else (-1)^s (1 + m/2^10) 2^(e-15)
 *   bfloat16 (BF16): the top 16 bits of a float32 (8-bit exponent, 7-bit mantissa)
 *   F8_E5M2:         the top 8 bits of a binary16 (bias 15, inf and NaN as in binary16)
 *   F8_E4M3 (FN):    s eeee mmm, bias 7, no infinities, NaN = s.1111.111;
 *                    e=0: (-1)^s m 2^-9; else (-1)^s (1 + m/8) 2^(e-7)
 *
 * Widening to float32 is exact (every value above is a float32) and keeps NaN payloads where
 * float32 can hold them. Narrowing rounds to nearest, ties to even, overflows to +-inf, keeps NaN
 * (quiet). The F16 / BF16 functions are TS twins of the Backend's f16ToF32 / f32ToF16 / bf16ToF32 /
 * f32ToBf16 (the safetensors reader and writer use the backend's; `tsHalf` can be passed as their
 * `backend` option to avoid loading the addon); the F8 ones are used by readF32.
 */

let f16Table: Uint32Array | null = null;

/** float32 bit patterns of all 65536 binary16 values (built once, 256 KB). */
function halfTable(): Uint32Array {
  if (f16Table) return f16Table;
  const t = new Uint32Array(65536);
  const f = new Float32Array(1);
  const fbits = new Uint32Array(f.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      f[0] = mant * 2 ** -24; // subnormal (or zero): exact in float32
      t[h] = (sign | fbits[0]) >>> 0;
    } else if (exp === 31) {
      t[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf or NaN (payload kept)
    } else {
      t[h] = (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
    }
  }
  f16Table = t;
  return t;
}

function bitsOf(out: Float32Array): Uint32Array {
  return new Uint32Array(out.buffer, out.byteOffset, out.length);
}

function checkLengths(fn: string, a: number, b: number): void {
  if (a !== b) throw new RangeError(`${fn}: source has ${a} entries but output has ${b}; expected equal lengths`);
}

/** binary16 bits -> float32 (exact). */
export function f16ToF32(src: Uint16Array, out: Float32Array): void {
  checkLengths("f16ToF32", src.length, out.length);
  const t = halfTable();
  const o = bitsOf(out);
  for (let i = 0; i < src.length; i++) o[i] = t[src[i]];
}

/** bfloat16 bits -> float32 (exact). */
export function bf16ToF32(src: Uint16Array, out: Float32Array): void {
  checkLengths("bf16ToF32", src.length, out.length);
  const o = bitsOf(out);
  for (let i = 0; i < src.length; i++) o[i] = src[i] << 16;
}

const scratchF32 = new Float32Array(1);
const scratchBits = new Uint32Array(scratchF32.buffer);

/** One float32 bit pattern -> binary16 bits, round to nearest even. */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs >= 0x7f800000) {
    if (abs === 0x7f800000) return sign | 0x7c00; // inf
    return sign | 0x7e00 | ((abs >>> 13) & 0x3ff); // NaN: quiet bit set, top payload bits kept
  }
  if (abs >= 0x477ff000) return sign | 0x7c00; // >= 65520 = halfway above the max 65504: inf
  if (abs < 0x38800000) {
    // below the smallest normal 2^-14: a subnormal count of 2^-24 units (1024 rounds up to the min normal)
    scratchBits[0] = abs;
    const q = scratchF32[0] * 2 ** 24; // exact in float64
    const fl = Math.floor(q);
    const d = q - fl;
    const r = d > 0.5 || (d === 0.5 && (fl & 1) === 1) ? fl + 1 : fl;
    return sign | r;
  }
  let h = (((abs >>> 23) - 112) << 10) | ((abs >>> 13) & 0x3ff);
  const rest = abs & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is correct
  return sign | h;
}

/** float32 -> binary16 bits, round to nearest even, overflow to inf, NaN kept (quiet). */
export function f32ToF16(src: Float32Array, out: Uint16Array): void {
  checkLengths("f32ToF16", src.length, out.length);
  const s = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < s.length; i++) out[i] = f32BitsToF16(s[i]);
}

/** float32 -> bfloat16 bits, round to nearest even, NaN kept quiet. */
export function f32ToBf16(src: Float32Array, out: Uint16Array): void {
  checkLengths("f32ToBf16", src.length, out.length);
  const s = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < s.length; i++) {
    const x = s[i];
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = (x >>> 16) | 0x0040;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
}

/** F8_E5M2 bytes -> float32 (exact): the byte is the top half of a binary16. */
export function f8e5m2ToF32(src: Uint8Array, out: Float32Array): void {
  checkLengths("f8e5m2ToF32", src.length, out.length);
  const t = halfTable();
  const o = bitsOf(out);
  for (let i = 0; i < src.length; i++) o[i] = t[src[i] << 8];
}

/** F8_E4M3 (the "FN" variant: no inf, NaN = 0x7f/0xff) bytes -> float32 (exact). */
export function f8e4m3ToF32(src: Uint8Array, out: Float32Array): void {
  checkLengths("f8e4m3ToF32", src.length, out.length);
  for (let i = 0; i < src.length; i++) {
    const b = src[i];
    const e = (b >>> 3) & 0xf;
    const m = b & 7;
    const sign = b & 0x80 ? -1 : 1;
    if (e === 15 && m === 7) out[i] = Number.NaN;
    else if (e === 0) out[i] = sign * m * 2 ** -9;
    else out[i] = sign * (1 + m / 8) * 2 ** (e - 7);
  }
}

/** The half-precision conversions above, shaped like the Backend's (for a `backend` option). */
export const tsHalf = { f16ToF32, bf16ToF32, f32ToF16, f32ToBf16 } as const;
