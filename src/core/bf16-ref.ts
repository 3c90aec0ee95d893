/**
 * TypeScript twin of the native bf16 weight GEMM (native/src/kernels/gemm_bf16.cc), the oracle of
 * its parity tests and the ref backend's `--precision bf16`:
 *
 *   out[i, j] = fl32( sum_k bf16(x[i, k]) * w[j, k] )     x [m, k] fp32, w [n, k] bf16 bits
 *
 * bf16(v) rounds to nearest, ties to even (ref-half.ts, bit-exact); each product of two bf16
 * values is exact in fp32 and the running sum is rounded to fp32 after every term (Math.fround),
 * in k order. The native kernels sum in another order (pairs, tiles, chunks), so the two agree to
 * fp32 rounding of the sum, not bit for bit.
 */
import type { Bf16Matrix } from "./backend.ts";
import { bf16ToF32, f32ToBf16 } from "./backends/ref-half.ts";

/** w [n, k] (or [k, n] with transW) -> bf16(W) as plain [n, k] bits (the ref backend's layout). */
export function bf16WeightRef(w: Float32Array, n: number, k: number, transW: boolean): Bf16Matrix {
  if (w.length !== n * k) throw new RangeError(`bf16Weight: 'w' has ${w.length} entries, expected n * k = ${n * k}`);
  let src = w;
  if (transW) {
    src = new Float32Array(n * k); // [n, k] = w^T
    for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) src[j * k + i] = w[i * n + j];
  }
  const data = new Uint16Array(n * k);
  f32ToBf16(src, data);
  return { n, k, layout: "plain", data };
}

/** x [len] -> bf16(x) as fp32 values (round to nearest even). */
export function roundToBf16(x: Float32Array): Float32Array {
  const bits = new Uint16Array(x.length);
  f32ToBf16(x, bits);
  const out = new Float32Array(x.length);
  bf16ToF32(bits, out);
  return out;
}

/** out [m, n] = bf16(x [m, k]) . W^T, W [n, k] given as bf16 bits. */
export function gemmBf16Ref(
  x: Float32Array, // [m, k]
  m: number,
  k: number,
  w: Uint16Array, // [n, k] bf16 bits
  n: number,
  out: Float32Array, // [m, n]
): void {
  if (x.length !== m * k) throw new RangeError(`gemmBf16: 'x' has ${x.length} entries, expected m * k = ${m * k}`);
  if (w.length !== n * k) throw new RangeError(`gemmBf16: 'w' has ${w.length} entries, expected n * k = ${n * k}`);
  if (out.length !== m * n)
    throw new RangeError(`gemmBf16: 'out' has ${out.length} entries, expected m * n = ${m * n}`);
  const xr = roundToBf16(x);
  const wf = new Float32Array(n * k);
  bf16ToF32(w, wf);
  for (let i = 0; i < m; i++) {
    const xo = i * k;
    for (let j = 0; j < n; j++) {
      const wo = j * k;
      let acc = 0;
      for (let t = 0; t < k; t++) acc = Math.fround(acc + xr[xo + t] * wf[wo + t]);
      out[i * n + j] = acc;
    }
  }
}
