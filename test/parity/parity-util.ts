/**
 * Harness of the native-vs-ref parity suite (test/parity/kernels*.test.ts): both backends run the
 * same op on identical copies of the same float32 inputs and every output is compared.
 *
 * Tolerance (normwise relative): max_i |native_i - ref_i| / max(max_i |ref_i|, 1e-30) <= 1e-5.
 * The ref computes in float64 and rounds once into float32; native computes in float32 (row
 * statistics in double), so a correct native result differs by a few float32 ulps *of the output's
 * scale*. Elementwise relative error is meaningless where an output crosses zero (softmax and norm
 * backwards, GELU near 0, AdamW updates that cancel): an entry of 1e-9 next to entries of 1 carries
 * an absolute error of ~1e-8 from the float32 inputs alone. Measuring against the largest |ref|
 * (which is 1e-5 = ~170 ulps of it) still fails any real bug (a wrong index, a missing term,
 * a wrong scale), which moves entries by O(scale). NaN/inf must match position by position.
 *
 * Absolute floor: where an output is a difference of terms of size S that cancel (a norm backward
 * over one column, where dx is exactly 0 in exact arithmetic), any float32 implementation leaves
 * an absolute error of about ulp(S), so such a test passes `floor` = S and the scale becomes
 * max(max|ref|, floor).
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import type { Backend } from "../../src/core/backend.ts";
import type { NativeAddon } from "../../src/core/backends/addon.ts";
import { nativeBackend } from "../../src/core/backends/index.ts";
import { NativeBackend } from "../../src/core/backends/native.ts";
import { RefBackend } from "../../src/core/backends/ref.ts";
import { Rng } from "../../src/core/tensor.ts";

export const ref: Backend = new RefBackend();
// MSAE_PARITY_ADDON=/path/to/msae_native.node runs the suite against another build of the addon
// (used to check that the suite catches bugs planted in a scratch copy of the kernels).
const addonOverride = process.env.MSAE_PARITY_ADDON;
const maybeNative = addonOverride
  ? new NativeBackend(createRequire(import.meta.url)(addonOverride) as NativeAddon)
  : nativeBackend();
/** The native backend (tests are skipped through `skip` when the addon is not built). */
export const native: Backend = maybeNative ?? ref;
/** `skip` option for node:test: a reason string when the native addon is unavailable. */
export const skip: string | false = maybeNative ? false : "the native addon is not built (npm run build:native)";

export const TOL = 1e-5;

// MSAE_PARITY_STATS=1 prints the worst normwise error seen per op at exit (to see the margin).
const stats = process.env.MSAE_PARITY_STATS ? new Map<string, number>() : null;
if (stats) {
  process.on("exit", () => {
    for (const [op, e] of [...stats].sort()) process.stderr.write(`${op.padEnd(24)} ${e.toExponential(2)}\n`);
  });
}

/** The rows x cols shapes every [rows, cols] op runs over (1000-ish, 129, 7, 1, and a > 32768-element case that takes the OpenMP path). */
export const SHAPES: [number, number][] = [
  [1, 1],
  [1, 7],
  [7, 129],
  [129, 7],
  [33, 1000],
  [1100, 33],
];
/** Lengths for 1-D ops (70001 > the addon's parallel threshold). */
export const LENGTHS = [0, 1, 7, 129, 1000, 70001];

export function normal(rng: Rng, n: number, std = 1): Float32Array {
  return rng.fillNormal(new Float32Array(n), std);
}

export function uniform(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  return rng.fillUniform(new Float32Array(n), lo, hi);
}

export type Arr = Float32Array | Int32Array | Uint16Array;
export type IO = Record<string, Arr>;

/** tol: normwise tolerance (default TOL); floor: absolute scale floor per ref output key (see header). */
export interface Opts {
  tol?: number;
  floor?: Record<string, number>;
}

function cloneIO(io: IO): IO {
  const c: IO = {};
  for (const [k, v] of Object.entries(io)) c[k] = v.slice();
  return c;
}

/** Normwise relative error of got against want (see header); NaN/inf positions must agree. */
export function assertClose(
  label: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol = TOL,
  floor = 0,
): void {
  assert.equal(got.length, want.length, `${label}: length`);
  let scale = floor;
  let err = 0;
  let worst = -1;
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    const g = got[i];
    if (!Number.isFinite(w) || !Number.isFinite(g)) {
      assert.ok(Object.is(w, g) || (Number.isNaN(w) && Number.isNaN(g)), `${label}[${i}]: native ${g} vs ref ${w}`);
      continue;
    }
    scale = Math.max(scale, Math.abs(w));
    const d = Math.abs(g - w);
    if (d > err) {
      err = d;
      worst = i;
    }
  }
  const rel = err / Math.max(scale, 1e-30);
  if (stats) {
    const op = label.split(" ")[0];
    stats.set(op, Math.max(stats.get(op) ?? 0, rel));
  }
  assert.ok(
    rel <= tol,
    `${label}: normwise relative error ${rel.toExponential(2)} > ${tol} (worst at ${worst}: native ${got[worst]} vs ref ${want[worst]}, scale ${scale})`,
  );
}

/** Entries that are exactly 0 in the ref because of structure (masks, ignored rows) must be exactly 0 in native too. */
export function assertZerosMatch(label: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  for (let i = 0; i < want.length; i++) {
    if (want[i] === 0 && got[i] !== 0) assert.fail(`${label}[${i}]: native ${got[i]} where ref is exactly 0`);
  }
}

export function assertExact(label: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  assert.equal(got.length, want.length, `${label}: length`);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) assert.fail(`${label}[${i}]: native ${got[i]} vs ref ${want[i]}`);
  }
}

/**
 * Runs `runRef` on a copy of io with the ref backend and `runNative` on another copy with the
 * native backend, then compares ref's io[refKey] with native's io[nativeKey] for each pair (a
 * different nativeKey tests in-place aliasing: native wrote over its input). Returns both results.
 */
export function parity2(
  label: string,
  io: IO,
  runRef: (b: Backend, io: IO) => unknown,
  runNative: (b: Backend, io: IO) => unknown,
  pairs: [string, string][],
  opts: Opts = {},
): { ref: unknown; native: unknown; refIO: IO; nativeIO: IO } {
  const refIO = cloneIO(io);
  const nativeIO = cloneIO(io);
  const r = runRef(ref, refIO);
  const n = runNative(native, nativeIO);
  for (const [rk, nk] of pairs) {
    const want = refIO[rk];
    const got = nativeIO[nk];
    if (want instanceof Int32Array || want instanceof Uint16Array) assertExact(`${label} ${nk}`, got, want);
    else assertClose(`${label} ${nk}`, got, want, opts.tol ?? TOL, opts.floor?.[rk] ?? 0);
  }
  return { ref: r, native: n, refIO, nativeIO };
}

/** parity2 with the same call on both backends, comparing the listed keys. */
export function parity(
  label: string,
  io: IO,
  run: (b: Backend, io: IO) => unknown,
  keys: string[],
  opts: Opts = {},
): { ref: unknown; native: unknown; refIO: IO; nativeIO: IO } {
  return parity2(
    label,
    io,
    run,
    run,
    keys.map((k) => [k, k]),
    opts,
  );
}

/** Asserts fn throws an instance of type with a one-line message (the process must survive too). */
export function assertThrowsOneLine(
  label: string,
  fn: () => unknown,
  type: typeof TypeError | typeof RangeError,
): void {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== null, `${label}: did not throw`);
  assert.ok(
    caught instanceof type,
    `${label}: threw ${(caught as Error).constructor?.name}, expected ${type.name}: ${(caught as Error).message}`,
  );
  const msg = (caught as Error).message;
  assert.ok(
    msg.length > 0 && !msg.includes("\n"),
    `${label}: message must be one non-empty line, got ${JSON.stringify(msg)}`,
  );
}

export { Rng };
