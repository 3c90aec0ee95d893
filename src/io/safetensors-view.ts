/**
 * Typed views of safetensors bytes, shared by the file reader (safetensors.ts) and the in-memory
 * reader of the browser explorer (safetensors-buffer.ts); nothing here touches node:fs.
 *
 * viewAs(dtype, bytes) views an aligned byte range as its stored typed array; toF32 widens it
 * (F16 / BF16 exact, F8 exact, F64 and integers rounded to the nearest float32); expectTensor /
 * checkDtype check a tensor's dtype and shape before it is read.
 */
import * as conv from "./dtype.ts";
import type { ReadF32Options, TensorInfo, TensorReader } from "./safetensors.ts";
import { DTYPE_SIZE, type Dtype, SafetensorsError, type TensorEntry } from "./safetensors-header.ts";
import type { StoredArray } from "./safetensors-types.ts";

/** Views `bytes` (a fresh, aligned buffer) as the typed array of `dtype`. */
export function viewAs(dtype: Dtype, bytes: Uint8Array): StoredArray {
  const b = bytes.buffer;
  const o = bytes.byteOffset;
  const n = bytes.byteLength / DTYPE_SIZE[dtype];
  switch (dtype) {
    case "F64":
      return new Float64Array(b, o, n);
    case "F32":
      return new Float32Array(b, o, n);
    case "F16":
    case "BF16":
    case "U16":
      return new Uint16Array(b, o, n);
    case "I64":
      return new BigInt64Array(b, o, n);
    case "U64":
      return new BigUint64Array(b, o, n);
    case "I32":
      return new Int32Array(b, o, n);
    case "U32":
      return new Uint32Array(b, o, n);
    case "I16":
      return new Int16Array(b, o, n);
    case "I8":
      return new Int8Array(b, o, n);
    default:
      return bytes; // U8, BOOL, F8_*
  }
}

/** Widens a stored array of `dtype` to float32 (see the file header for the rounding). */
export function toF32(dtype: Dtype, data: StoredArray, backend?: ReadF32Options["backend"]): Float32Array {
  if (dtype === "F32") return data as Float32Array;
  const out = new Float32Array(data.length);
  switch (dtype) {
    case "F16":
      if (out.length) (backend ?? conv.tsHalf).f16ToF32(data as Uint16Array, out);
      break;
    case "BF16":
      if (out.length) (backend ?? conv.tsHalf).bf16ToF32(data as Uint16Array, out);
      break;
    case "F8_E5M2":
      conv.f8e5m2ToF32(data as Uint8Array, out);
      break;
    case "F8_E4M3":
      conv.f8e4m3ToF32(data as Uint8Array, out);
      break;
    case "I64":
    case "U64": {
      const big = data as BigInt64Array | BigUint64Array;
      for (let i = 0; i < big.length; i++) out[i] = Number(big[i]);
      break;
    }
    default:
      out.set(data as Exclude<StoredArray, BigInt64Array | BigUint64Array>);
  }
  return out;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The float dtypes a model weight may be stored in (integers, bools and F8 are refused). */
export const FLOAT_WEIGHT_DTYPES: readonly Dtype[] = ["F32", "BF16", "F16", "F64"];

/**
 * What a caller requires of one stored tensor before reading it (a store's or an SAE's loader):
 * it exists, its dtype is one of `dtypes`, its shape equals `shape` (a -1 entry matches any
 * size). Returns its info; every failure is one SafetensorsError line naming tensor and expectation.
 */
export function expectTensor(
  reader: Pick<TensorReader, "path" | "has" | "info">,
  name: string,
  want: { dtypes?: readonly Dtype[]; shape?: readonly number[]; purpose?: string },
): TensorInfo {
  if (!reader.has(name))
    throw new SafetensorsError(reader.path, name, `is missing; expected it${want.purpose ? ` (${want.purpose})` : ""}`);
  const info = reader.info(name);
  if (want.dtypes) checkDtype(reader.path, name, info.dtype, want.dtypes, want.purpose);
  const s = want.shape;
  if (s && (s.length !== info.shape.length || s.some((d, i) => d !== -1 && d !== info.shape[i])))
    throw new SafetensorsError(
      reader.path,
      name,
      `has shape [${info.shape.join(", ")}]; expected [${s.map((d) => (d === -1 ? "*" : d)).join(", ")}]`,
    );
  return info;
}

/** Throws unless `dtype` is one of `accepted`: "<file>: tensor "<name>": has dtype I32; expected ...". */
export function checkDtype(
  file: string,
  name: string,
  dtype: Dtype,
  accepted: readonly Dtype[],
  purpose?: string,
): void {
  if (accepted.includes(dtype)) return;
  const list = accepted.length === 1 ? accepted[0] : `one of ${accepted.join(", ")}`;
  throw new SafetensorsError(file, name, `has dtype ${dtype}; expected ${list}${purpose ? ` (${purpose})` : ""}`);
}

/**
 * The validated header of a safetensors file, shared by the file reader (safetensors.ts) and the
 * in-memory one (safetensors-buffer.ts): names, lookup with a one-line error, dtype and shape.
 */
export abstract class TensorTable {
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>>;
  protected readonly entries: Map<string, TensorEntry>;

  protected constructor(path: string, entries: Map<string, TensorEntry>, metadata: Record<string, string>) {
    this.path = path;
    this.entries = entries;
    this.metadata = Object.freeze({ ...metadata });
  }

  /** Tensor names, sorted. */
  names(): string[] {
    return [...this.entries.keys()].sort();
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  protected entry(name: string): TensorEntry {
    const e = this.entries.get(name);
    if (!e) {
      const n = this.entries.size;
      throw new SafetensorsError(
        this.path,
        name,
        `not found; expected one of the file's ${n} tensor${n === 1 ? "" : "s"}`,
      );
    }
    return e;
  }

  info(name: string): TensorInfo {
    const e = this.entry(name);
    return { dtype: e.dtype, shape: e.shape, byteLength: e.end - e.begin };
  }
}
