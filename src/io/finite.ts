/**
 * The finite check every loader runs on the tensors it reads (model weights today; activation
 * stores and SAE folders reuse it): NaN or +-Inf anywhere is an error naming the tensor, the first
 * bad index (flat, and per dim when the shape is given) and the value, unless the caller allows
 * non-finite values for forensics (`allowNonFinite: true`, the CLI's --allow-nonfinite).
 *
 * The scan is Backend.firstNonFinite (the native addon's vectorized, multi-threaded bit test on
 * float32; the ref backend's loop otherwise). Without a backend, or for a Float64Array on the
 * native backend, the TypeScript loop below runs. Raw half-precision bits (F16 / BF16 as stored)
 * are tested directly by firstNonFiniteHalf (exponent bits all ones).
 *
 * Usage:
 *   checkFinite(file, name, data, { backend, shape });      // throws NonFiniteError
 *   const bad = findNonFinite(data, backend);               // -1 or the first bad index
 */
import type { Backend, FloatArray } from "../core/backend.ts";

/** The one-line error of a tensor holding NaN or Inf. */
export class NonFiniteError extends Error {
  override name = "NonFiniteError";
  readonly tensor: string;
  readonly index: number;
  constructor(message: string, tensor: string, index: number) {
    super(message);
    this.tensor = tensor;
    this.index = index;
  }
}

/** What callers say when they name the escape hatch (library and CLI spellings). */
export const ALLOW_NONFINITE_HINT =
  "--allow-nonfinite (allowNonFinite: true in the API) loads it anyway, for forensics";

/** The first index of a NaN / +-Inf entry of x, or -1 (TypeScript loop). */
export function firstNonFiniteTs(x: ArrayLike<number>): number {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return i;
  return -1;
}

/** The first index of a NaN / +-Inf entry of raw F16 or BF16 bits, or -1. */
export function firstNonFiniteHalf(bits: Uint16Array, dtype: "F16" | "BF16"): number {
  const mask = dtype === "F16" ? 0x7c00 : 0x7f80;
  for (let i = 0; i < bits.length; i++) if ((bits[i] & mask) === mask) return i;
  return -1;
}

/** The first non-finite index of x, through the backend's kernel when it can take x. */
export function findNonFinite(x: FloatArray, backend?: Pick<Backend, "name" | "firstNonFinite">): number {
  if (backend && (backend.name === "ref" || x instanceof Float32Array)) return backend.firstNonFinite(x);
  return firstNonFiniteTs(x);
}

/** Row-major multi-index of flat index i in shape, e.g. [3, 17]. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  let r = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d];
    out[d] = n > 0 ? r % n : 0;
    r = n > 0 ? Math.floor(r / n) : 0;
  }
  return out;
}

export interface CheckFiniteOptions {
  backend?: Pick<Backend, "name" | "firstNonFinite">;
  /** The tensor's shape, to name the bad entry per dim. */
  shape?: readonly number[];
  /** Text after "expected finite values" (default: the --allow-nonfinite hint). */
  hint?: string;
}

/** Throws NonFiniteError when `data` holds NaN or +-Inf: "<where>: tensor "<name>" has NaN at ...". */
export function checkFinite(where: string, name: string, data: FloatArray, options: CheckFiniteOptions = {}): void {
  const i = findNonFinite(data, options.backend);
  if (i < 0) return;
  const v = data[i];
  const what = Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
  const at =
    options.shape && options.shape.length > 1 ? `index ${i} ([${unravel(i, options.shape).join(", ")}])` : `index ${i}`;
  throw new NonFiniteError(
    `${where}: tensor ${JSON.stringify(name)} has ${what} at ${at} of ${data.length} values; ` +
      `expected finite values (${options.hint ?? ALLOW_NONFINITE_HINT})`,
    name,
    i,
  );
}
