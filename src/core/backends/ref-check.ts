/**
 * Argument checks shared by the ref backend's kernels. Each failure is one line naming the kernel,
 * the argument and what was expected: a TypeError for a wrong kind of value, a RangeError for a
 * length or index that does not fit the dims. Mirrors what the native addon checks (common.h).
 */
import type { FloatArray } from "../backend.ts";

/** A dim: a non-negative integer. */
export function dim(kernel: string, name: string, v: number): number {
  if (typeof v !== "number") throw new TypeError(`${kernel}: argument '${name}' must be a number`);
  if (!Number.isInteger(v) || v < 0) {
    throw new RangeError(`${kernel}: argument '${name}' must be a non-negative integer, got ${v}`);
  }
  return v;
}

/** A plain number (scalars such as alpha, eps, lr). */
export function num(kernel: string, name: string, v: number): number {
  if (typeof v !== "number") throw new TypeError(`${kernel}: argument '${name}' must be a number`);
  return v;
}

/** A finite number satisfying ok (e.g. eps >= 0, cap > 0); `rule` says what is expected. */
export function finite(kernel: string, name: string, v: number, ok: (v: number) => boolean, rule: string): number {
  num(kernel, name, v);
  if (!Number.isFinite(v) || !ok(v)) throw new RangeError(`${kernel}: argument '${name}' must be ${rule}, got ${v}`);
  return v;
}

/** An integer of any sign (an attention window, where <= 0 means unlimited). */
export function int(kernel: string, name: string, v: number): number {
  num(kernel, name, v);
  if (!Number.isInteger(v)) throw new RangeError(`${kernel}: argument '${name}' must be an integer, got ${v}`);
  return v;
}

function isFloat(a: unknown): a is FloatArray {
  return a instanceof Float32Array || a instanceof Float64Array;
}

/**
 * A float array of exactly n entries (n = -1 skips the length check). `like`, when given, is an
 * earlier float argument of the same call: both must be the same array type.
 */
export function floats(kernel: string, name: string, a: FloatArray, n: number, like?: FloatArray): FloatArray {
  if (!isFloat(a)) throw new TypeError(`${kernel}: argument '${name}' must be a Float32Array or Float64Array`);
  if (like !== undefined && a.constructor !== like.constructor) {
    throw new TypeError(
      `${kernel}: argument '${name}' is a ${a.constructor.name} but the call's other float arrays are ${like.constructor.name}s (one type per call)`,
    );
  }
  if (n >= 0 && a.length !== n) {
    throw new RangeError(`${kernel}: argument '${name}' has ${a.length} entries, expected ${n}`);
  }
  return a;
}

/** Like floats, but null is allowed (optional operands). */
export function optFloats(
  kernel: string,
  name: string,
  a: FloatArray | null,
  n: number,
  like: FloatArray,
): FloatArray | null {
  if (a === null || a === undefined) return null;
  return floats(kernel, name, a, n, like);
}

export function int32s(kernel: string, name: string, a: Int32Array, n: number): Int32Array {
  if (!(a instanceof Int32Array)) throw new TypeError(`${kernel}: argument '${name}' must be an Int32Array`);
  if (a.length !== n) throw new RangeError(`${kernel}: argument '${name}' has ${a.length} entries, expected ${n}`);
  return a;
}

export function f32s(kernel: string, name: string, a: Float32Array, n: number): Float32Array {
  if (!(a instanceof Float32Array)) throw new TypeError(`${kernel}: argument '${name}' must be a Float32Array`);
  if (n >= 0 && a.length !== n) {
    throw new RangeError(`${kernel}: argument '${name}' has ${a.length} entries, expected ${n}`);
  }
  return a;
}

export function u16s(kernel: string, name: string, a: Uint16Array, n: number): Uint16Array {
  if (!(a instanceof Uint16Array)) throw new TypeError(`${kernel}: argument '${name}' must be a Uint16Array`);
  if (n >= 0 && a.length !== n) {
    throw new RangeError(`${kernel}: argument '${name}' has ${a.length} entries, expected ${n}`);
  }
  return a;
}

/** A Float64Array of exactly n entries (the float64 per-row outputs of the eval and SAE kernels). */
export function f64s(kernel: string, name: string, a: Float64Array, n: number): Float64Array {
  if (!(a instanceof Float64Array)) throw new TypeError(`${kernel}: argument '${name}' must be a Float64Array`);
  if (a.length !== n) throw new RangeError(`${kernel}: argument '${name}' has ${a.length} entries, expected ${n}`);
  return a;
}

/** Every entry of ids in [0, bound); lo = -1 also lets -1 through (ignored targets). */
export function indicesIn(kernel: string, name: string, ids: Int32Array, bound: number, allowMinusOne = false): void {
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i];
    if ((v < 0 || v >= bound) && !(allowMinusOne && v === -1)) {
      throw new RangeError(
        `${kernel}: ${name}[${i}] = ${v} is outside [0, ${bound})${allowMinusOne ? " (and is not -1 = ignored)" : ""}`,
      );
    }
  }
}

/**
 * A strided matrix operand of gemm: stored rows x cols with row stride ld >= cols, so the array
 * needs at least (rows - 1) * ld + cols entries when rows and cols are non-zero.
 */
export function strided(
  kernel: string,
  name: string,
  a: FloatArray,
  rows: number,
  cols: number,
  ld: number,
  like?: FloatArray,
): void {
  floats(kernel, name, a, -1, like);
  dim(kernel, `ld${name}`, ld);
  if (ld < cols) throw new RangeError(`${kernel}: ld${name} = ${ld} is less than ${name}'s stored columns ${cols}`);
  if (rows > 0 && cols > 0) {
    const need = (rows - 1) * ld + cols;
    if (a.length < need) {
      throw new RangeError(
        `${kernel}: argument '${name}' has ${a.length} entries, needs at least ${need} (${rows} x ${cols} stored with row stride ${ld})`,
      );
    }
  }
}

/** The argument checks of gemm (RefBasic.gemm and the explorer's reordered twin share them). */
export function gemmArgs(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: FloatArray, // stored [m, k] (or [k, m] when transA), row stride lda
  lda: number,
  b: FloatArray, // stored [k, n] (or [n, k] when transB), row stride ldb
  ldb: number,
  beta: number,
  c: FloatArray, // [m, n], row stride ldc
  ldc: number,
): void {
  const K = "gemm";
  if (typeof transA !== "boolean" || typeof transB !== "boolean") {
    throw new TypeError(`${K}: arguments 'transA' and 'transB' must be booleans`);
  }
  dim(K, "m", m);
  dim(K, "n", n);
  dim(K, "k", k);
  num(K, "alpha", alpha);
  num(K, "beta", beta);
  strided(K, "a", a, transA ? k : m, transA ? m : k, lda);
  strided(K, "b", b, transB ? n : k, transB ? k : n, ldb, a);
  strided(K, "c", c, m, n, ldc, a);
}
