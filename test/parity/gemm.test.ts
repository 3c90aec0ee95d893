/**
 * Parity of the addon's sgemm (C = alpha * op(A) op(B) + beta * C, row-major) against a naive
 * float64 triple loop written here, for BOTH implementations (cblas "blas" and the project's own
 * packed GEMM "own"), all four transpose layouts, edge shapes, several k blocks, alpha != 1,
 * beta in {0, 1, 0.5} (beta = 0 over a NaN-filled C), and leading dims larger than the row length.
 * Tolerance: max|C - ref| / max(max|ref|, 1e-30) <= 1e-5; entries outside the [m, n] window of C
 * (row padding and the tail) must be untouched. Bad arguments must throw, never crash.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, describe, test } from "node:test";
import { loadAddon, type NativeAddon } from "../../src/core/backends/addon.ts";
import type { GemmImpl } from "../../src/core/native-gemm.ts";
import * as wrappers from "../../src/core/native-gemm.ts";

// MSAE_PARITY_ADDON=/path/to/msae_native.node runs this suite against another build of the addon
// (used to check that it catches bugs planted in a scratch copy of the kernels).
const override = process.env.MSAE_PARITY_ADDON;
const addon = override ? (createRequire(import.meta.url)(override) as NativeAddon) : loadAddon();
const { sgemm, setGemmImpl, gemmInfo } = override
  ? {
      sgemm: addon!.sgemm as typeof wrappers.sgemm,
      setGemmImpl: addon!.setGemmImpl as typeof wrappers.setGemmImpl,
      gemmInfo: addon!.gemmInfo as typeof wrappers.gemmInfo,
    }
  : wrappers;
const noAddon: string | false = addon ? false : "the native addon is not built (npm run build:native)";
const info = addon ? gemmInfo() : null;
const defaultImpl: GemmImpl | null = info?.impl ?? null;
after(() => {
  if (defaultImpl) setGemmImpl(defaultImpl);
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

interface Case {
  ta: boolean;
  tb: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  pad: number; // extra elements per stored row of A, B and C
}

/** Runs one case; returns the normwise error (throws on a touched out-of-window entry). */
function runCase(cs: Case, seed: number): number {
  const { ta, tb, m, n, k, alpha, beta, pad } = cs;
  const aRows = ta ? k : m;
  const aCols = ta ? m : k;
  const bRows = tb ? n : k;
  const bCols = tb ? k : n;
  const lda = aCols + pad;
  const ldb = bCols + pad;
  const ldc = n + pad;
  const a = filled(aRows * lda, seed); // [aRows, lda]
  const b = filled(bRows * ldb, seed + 1); // [bRows, ldb]
  const tail = 5;
  const c = filled(m * ldc + tail, seed + 2); // [m, ldc] + tail
  const c0 = Float64Array.from(c);
  if (beta === 0) {
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) c[i * ldc + j] = Number.NaN;
  }
  const before = Float32Array.from(c);
  sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = ta ? a[p * lda + i] : a[i * lda + p];
        const bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        s += av * bv;
      }
      const ref = alpha * s + (beta === 0 ? 0 : beta * c0[i * ldc + j]);
      const got = c[i * ldc + j];
      const d = Number.isNaN(got) ? Number.POSITIVE_INFINITY : Math.abs(got - ref);
      if (d > maxDiff) maxDiff = d;
      if (Math.abs(ref) > maxRef) maxRef = Math.abs(ref);
    }
  }
  for (let idx = 0; idx < c.length; idx++) {
    const i = Math.floor(idx / ldc);
    const j = idx % ldc;
    if (i < m && j < n) continue;
    assert.ok(Object.is(c[idx], before[idx]), `C entry ${idx} outside the [${m}, ${n}] window changed`);
  }
  return maxDiff / Math.max(maxRef, 1e-30);
}

// [m, n, k]: edge tiles, a single column, k = 0, several k blocks (k > 384), several column blocks
// (n > 480), more rows than one row block (m > 1024), and shapes big enough to run on 2 threads.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 7, 7],
  [129, 129, 129],
  [17, 1, 33],
  [64, 64, 64],
  [130, 257, 67],
  [5, 6, 0],
  [33, 97, 800],
  [40, 500, 30],
  [1100, 20, 20],
  [8, 1500, 200],
  [150, 130, 300],
];
const LAYOUTS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];
const BETAS = [0, 1, 0.5];
const name = (ta: boolean, tb: boolean) => `${ta ? "T" : "N"}${tb ? "T" : "N"}`;

for (const impl of ["blas", "own"] as const) {
  const noBlas = impl === "blas" && info?.blas === "none" ? "the addon was built without a CBLAS (blas: none)" : false;
  describe(`sgemm parity, impl "${impl}"`, { skip: noAddon || noBlas }, () => {
    for (const [ta, tb] of LAYOUTS) {
      test(`${name(ta, tb)}: all shapes, beta in {0, 1, 0.5}, alpha != 1, padded leading dims`, () => {
        setGemmImpl(impl);
        assert.equal(gemmInfo().impl, impl);
        let seed = 1;
        for (const [m, n, k] of SHAPES) {
          for (const beta of BETAS) {
            for (const pad of [0, 3]) {
              const alpha = pad === 0 ? 1 : -1.75;
              const cs: Case = { ta, tb, m, n, k, alpha, beta, pad };
              const err = runCase(cs, (seed += 7));
              assert.ok(err <= 1e-5, `${impl} ${JSON.stringify(cs)}: normwise error ${err}`);
            }
          }
        }
      });
    }

    test("A and B may be one array (W W^T, W^T W)", () => {
      setGemmImpl(impl);
      const [r, d] = [37, 53];
      const w = filled(r * d, 5); // [r, d]
      for (const [ta, tb, m, k] of [
        [false, true, r, d],
        [true, false, d, r],
      ] as const) {
        const c = new Float32Array(m * m);
        sgemm(ta, tb, m, m, k, 1, w, d, w, d, 0, c, m);
        let maxDiff = 0;
        let maxRef = 0;
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < m; j++) {
            let s = 0;
            for (let p = 0; p < k; p++) s += ta ? w[p * d + i] * w[p * d + j] : w[i * d + p] * w[j * d + p];
            maxDiff = Math.max(maxDiff, Math.abs(c[i * m + j] - s));
            maxRef = Math.max(maxRef, Math.abs(s));
          }
        }
        assert.ok(maxDiff / maxRef <= 1e-5, `${name(ta, tb)}: normwise error ${maxDiff / maxRef}`);
      }
    });

    test("alpha = 0 only scales C, and m = 0 / n = 0 touch nothing", () => {
      setGemmImpl(impl);
      const err = runCase({ ta: false, tb: true, m: 9, n: 11, k: 13, alpha: 0, beta: 0.5, pad: 1 }, 99);
      assert.ok(err <= 1e-5, `alpha = 0: normwise error ${err}`);
      const c = new Float32Array([7, 8, 9]);
      sgemm(false, false, 0, 3, 4, 1, new Float32Array(0), 4, new Float32Array(12), 3, 0, c, 3);
      sgemm(false, false, 1, 0, 4, 1, new Float32Array(4), 4, new Float32Array(0), 0, 0, c, 0);
      assert.deepEqual(Array.from(c), [7, 8, 9]);
    });
  });
}

describe("sgemm argument checking", { skip: noAddon }, () => {
  const f = (n: number) => new Float32Array(n);
  // A valid call: m = 2, n = 3, k = 4, NN, tight leading dims.
  type Args = [
    boolean,
    boolean,
    number,
    number,
    number,
    number,
    unknown,
    number,
    unknown,
    number,
    number,
    unknown,
    number,
  ];
  const good = (): Args => [false, false, 2, 3, 4, 1, f(8), 4, f(12), 3, 0, f(6), 3];
  const call = (args: Args) => (addon as NonNullable<typeof addon>).sgemm(...args);

  test("the valid reference call works", () => {
    call(good());
  });

  const bad: [string, (a: Args) => void, RegExp][] = [
    ["a too short", (a) => (a[6] = f(7)), /a .*has 7 elements/],
    ["b too short", (a) => (a[8] = f(11)), /b .*has 11 elements/],
    ["c too short", (a) => (a[11] = f(5)), /c .*has 5 elements/],
    ["lda too small", (a) => (a[7] = 3), /lda = 3 is smaller/],
    [
      "ldb too small (transB)",
      (a) => {
        a[1] = true;
        a[9] = 3;
      },
      /ldb = 3 is smaller/,
    ],
    ["ldc too small", (a) => (a[12] = 2), /ldc = 2 is smaller/],
    [
      "lda too small (transA)",
      (a) => {
        a[0] = true;
        a[7] = 1;
      },
      /lda = 1 is smaller/,
    ],
    ["non-integer m", (a) => (a[2] = 2.5), /'m' must be a non-negative integer/],
    ["negative k", (a) => (a[4] = -1), /'k' must be a non-negative integer/],
    ["NaN n", (a) => (a[3] = Number.NaN), /'n' must be a non-negative integer/],
    ["Float64Array a", (a) => (a[6] = new Float64Array(8)), /'a' must be a Float32Array/],
    ["Float64Array c", (a) => (a[11] = new Float64Array(6)), /'c' must be a Float32Array/],
    ["string alpha", (a) => (a[5] = "1" as unknown as number), /'alpha' must be a number/],
    ["number transA", (a) => (a[0] = 0 as unknown as boolean), /'transA' must be a boolean/],
    ["huge m", (a) => (a[2] = 2 ** 31), /below 2\^31|elements/],
  ];
  for (const [what, mutate, msg] of bad) {
    test(`throws on ${what}`, () => {
      const args = good();
      mutate(args);
      assert.throws(
        () => call(args),
        (e: Error) => {
          assert.ok(e instanceof RangeError || e instanceof TypeError, `${what}: got ${e.constructor.name}`);
          assert.match(e.message, msg);
          assert.ok(!e.message.includes("\n"), "the message is one line");
          return true;
        },
      );
    });
  }

  test("throws on a wrong argument count and when C overlaps A", () => {
    assert.throws(() => (addon as NonNullable<typeof addon>).sgemm(false, false, 1, 1, 1), /expected 13 arguments/);
    const buf = new Float32Array(16);
    const a = buf.subarray(0, 4); // [2, 2]
    const c = buf.subarray(2, 6); // overlaps a
    assert.throws(() => sgemm(false, false, 2, 2, 2, 1, a, 2, f(4), 2, 0, c, 2), /overlaps/);
    // Disjoint views of one buffer are fine.
    sgemm(false, false, 2, 2, 2, 1, buf.subarray(0, 4), 2, buf.subarray(4, 8), 2, 0, buf.subarray(8, 12), 2);
  });

  test("setGemmImpl rejects unknown names; gemmInfo describes the build", () => {
    assert.throws(() => setGemmImpl("mkl" as GemmImpl), /impl must be "blas" or "own"/);
    const gi = gemmInfo();
    assert.ok(gi.impl === "blas" || gi.impl === "own");
    assert.ok(["openblas", "accelerate", "none"].includes(gi.blas));
    assert.match(gi.ownKernel, /^(avx512|avx2|scalar) \d+x\d+$/);
    if (gi.blas === "none") assert.throws(() => setGemmImpl("blas"), /not available/);
    if (gi.blas === "openblas") assert.equal(typeof gi.corename, "string");
  });
});
