/**
 * Parity of the native bf16 weight GEMM (native/src/kernels/gemm_bf16.cc) against its TypeScript
 * twin (src/core/bf16-ref.ts), for EVERY kernel this CPU runs (amx, avx512bf16, f32; one it lacks is
 * skipped with a printed note):
 *
 *   out[i, j] = sum_k bf16(x[i, k]) * bf16(W[j, k])   (round to nearest even, fp32 accumulation)
 *
 * Both sides use identical bf16 operands, so they differ only by the order of the fp32 sums:
 * |native - twin| <= 2 k u S_ij with u = 2^-24 and S_ij = sum_k |bf16(x_ik) bf16(w_jk)| (the
 * recursive-summation bound, for each side). The twin itself is checked against a float64 sum of
 * the same operands, and the rounding against closed forms (ties to even on the activation side).
 * Shapes cover tails (m, n, k not multiples of 32), several k chunks (k > 512), several tasks
 * (m, n > 256) and both weight layouts ([n, k] nn.Linear, [k, n] Conv1D).
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { loadAddon } from "../../src/core/backends/addon.ts";
import { bf16ToF32, f32ToBf16 } from "../../src/core/backends/ref-half.ts";
import {
  BF16_KERNELS,
  type Bf16KernelName,
  bf16Kernels,
  gemmBf16,
  setBf16Kernel,
  toBf16Matrix,
} from "../../src/core/bf16-gemm.ts";
import { gemmBf16Ref, roundToBf16 } from "../../src/core/bf16-ref.ts";
import { native, ref, skip } from "./parity-util.ts";

const addon = loadAddon();
const available: Bf16KernelName[] = skip ? [] : bf16Kernels().available;
after(() => {
  if (!skip) setBf16Kernel("auto");
});

/** Deterministic uniform values in [-1, 1) (mulberry32). */
function filled(len: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 2147483648 - 1;
  }
  return out;
}

function bits(w: Float32Array): Uint16Array {
  const b = new Uint16Array(w.length);
  f32ToBf16(w, b);
  return b;
}

/** S_ij = sum_k |bf16(x_ik) bf16(w_jk)| in float64 (x [m, k], w [n, k]). */
function absSums(x: Float32Array, w: Float32Array, m: number, n: number, k: number): Float64Array {
  const xr = roundToBf16(x);
  const wr = roundToBf16(w);
  const s = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let a = 0;
      for (let t = 0; t < k; t++) a += Math.abs(xr[i * k + t] * wr[j * k + t]);
      s[i * n + j] = a;
    }
  return s;
}

function assertClose(what: string, got: Float32Array, want: Float32Array, sums: Float64Array, k: number): void {
  const u = 2 ** -24;
  for (let i = 0; i < want.length; i++) {
    const tol = 2 * k * u * sums[i] + 1e-30;
    if (!(Math.abs(got[i] - want[i]) <= tol))
      assert.fail(`${what}: entry ${i} is ${got[i]}, the twin says ${want[i]} (tolerance ${tol.toExponential(2)})`);
  }
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [5, 7, 3],
  [37, 45, 70],
  [32, 32, 32],
  [64, 96, 544], // two k chunks
  [300, 40, 64], // two row tasks, a row tail
  [33, 290, 100], // two column tasks, a column tail
  [70, 64, 1100], // three k chunks, k tail
];

describe("bf16 GEMM twin", () => {
  test("the TS twin equals a float64 sum of the bf16 operands to fp32 rounding", () => {
    const [m, n, k] = [9, 11, 300];
    const x = filled(m * k, 1);
    const w = filled(n * k, 2);
    const out = new Float32Array(m * n);
    gemmBf16Ref(x, m, k, bits(w), n, out);
    const xr = roundToBf16(x);
    const wr = roundToBf16(w);
    const sums = absSums(x, w, m, n, k);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let exact = 0;
        for (let t = 0; t < k; t++) exact += xr[i * k + t] * wr[j * k + t];
        assert.ok(Math.abs(out[i * n + j] - exact) <= k * 2 ** -24 * sums[i * n + j] + 1e-30);
      }
  });

  test("the activation operand is rounded to bf16, ties to even (closed form)", () => {
    // x = 1 + 2^-10 -> 1; 1 + 2^-8 (a tie) -> 1 (even); 1 + 3 * 2^-8 (a tie) -> 1 + 2^-6 (even)
    const k = 64;
    const cases: [number, number][] = [
      [1 + 2 ** -10, k],
      [1 + 2 ** -8, k],
      [1 + 3 * 2 ** -8, k * (1 + 2 ** -6)],
    ];
    const w = toBf16Matrix(ref, new Float32Array(k).fill(1), 1, k, false);
    for (const [v, want] of cases) {
      const out = new Float32Array(1);
      gemmBf16(new Float32Array(k).fill(v), 1, w, out);
      assert.equal(out[0], want, `twin, x = ${v}`);
      if (skip) continue;
      const wn = toBf16Matrix(native, new Float32Array(k).fill(1), 1, k, false);
      for (const kern of available) {
        setBf16Kernel(kern);
        gemmBf16(new Float32Array(k).fill(v), 1, wn, out);
        assert.equal(out[0], want, `${kern}, x = ${v}`);
      }
    }
  });
});

describe("bf16 GEMM: native kernels against the twin", { skip }, () => {
  for (const kern of BF16_KERNELS) {
    const lacks = !available.includes(kern);
    if (lacks) console.log(`# gemm-bf16: this CPU cannot run the ${kern} kernel; its parity test is skipped`);
    test(`${kern}: every shape, both weight layouts`, { skip: lacks ? `this CPU has no ${kern}` : false }, () => {
      setBf16Kernel(kern);
      assert.equal(bf16Kernels().kernel, kern);
      let seed = 10;
      for (const [m, n, k] of SHAPES) {
        const x = filled(m * k, seed++);
        const w = filled(n * k, seed++); // [n, k]
        const want = new Float32Array(m * n);
        gemmBf16Ref(x, m, k, bits(w), n, want);
        const sums = absSums(x, w, m, n, k);
        const got = new Float32Array(m * n).fill(Number.NaN);
        gemmBf16(x, m, toBf16Matrix(native, w, n, k, false), got);
        assertClose(`${kern} [${m}, ${n}, ${k}]`, got, want, sums, k);
        const wt = new Float32Array(n * k); // [k, n]
        for (let j = 0; j < n; j++) for (let t = 0; t < k; t++) wt[t * n + j] = w[j * k + t];
        got.fill(Number.NaN);
        gemmBf16(x, m, toBf16Matrix(native, wt, n, k, true), got);
        assertClose(`${kern} [${m}, ${n}, ${k}] transW`, got, want, sums, k);
      }
    });
  }

  test("the packed layout holds the round-to-nearest-even bits of W (NaN and inf included)", () => {
    const [n, k] = [40, 70];
    const w = filled(n * k, 3);
    w[5] = Number.NaN;
    w[6] = Number.POSITIVE_INFINITY;
    w[7] = 3.4028234663852886e38; // rounds up to inf in bf16
    const b = bits(w);
    const packed = toBf16Matrix(native, w, n, k, false).data;
    const kp = Math.ceil(k / 32) * 32;
    assert.equal(packed.length, Math.ceil(n / 32) * 32 * kp);
    for (let j = 0; j < Math.ceil(n / 32) * 32; j++)
      for (let t = 0; t < kp; t++) {
        const at = Math.floor(j / 16) * kp * 16 + Math.floor(t / 2) * 32 + (j % 16) * 2 + (t % 2);
        const want = j < n && t < k ? b[j * k + t] : 0;
        assert.equal(packed[at], want, `W[${j}, ${t}]`);
      }
    const back = new Float32Array(1);
    bf16ToF32(new Uint16Array([b[7]]), back);
    assert.equal(back[0], Number.POSITIVE_INFINITY);
  });

  test("bad arguments throw one-line errors", () => {
    assert.throws(
      () => setBf16Kernel("fp8" as Bf16KernelName),
      /expected|must be "amx", "avx512bf16", "f32" or "auto"/,
    );
    const w = toBf16Matrix(native, filled(64, 1), 8, 8, false);
    assert.throws(() => gemmBf16(new Float32Array(15), 2, w, new Float32Array(16)), /'x' has 15 entries/);
    assert.throws(() => gemmBf16(new Float32Array(16), 2, w, new Float32Array(3)), /'out' has 3 entries/);
    assert.throws(
      () => addon!.gemmBf16(new Float32Array(16), 2, 8, new Uint16Array(10), 8, new Float32Array(16)),
      /'packed' has 10 entries/,
    );
    assert.throws(() => toBf16Matrix(native, new Float32Array(5), 2, 3, false), /expected n \* k = 6/);
  });
});
