/**
 * safetensors writer: a deterministic header (see buildHeader: sorted names, buffer start aligned
 * to 8 with space padding) followed by each tensor's bytes, streamed tensor by tensor through an
 * AtomicWriter (temp file + fsync + rename): no giant concatenated buffer, never a half-written file.
 *
 * Data per dtype: the typed array read() returns for it (F16 / BF16 as raw Uint16Array bits,
 * BOOL as a Uint8Array of 0/1). F16 and BF16 also accept a Float32Array, narrowed with round to
 * nearest even (overflow to inf, NaN kept) in chunks of 64K values by the backend's f32ToF16 /
 * f32ToBf16 (options.backend; default the TypeScript twins of src/io/dtype.ts, so the
 * addon is never loaded by the writer itself).
 */

import { crc32 as zlibCrc32 } from "node:zlib";
import type { Backend } from "../core/backend.ts";
import { AtomicWriter } from "./atomic.ts";
import { tsHalf } from "./dtype.ts";
import {
  buildHeader,
  DTYPE_SIZE,
  type Dtype,
  type HeaderEntryOut,
  isDtype,
  SafetensorsError,
} from "./safetensors-header.ts";
import type { StoredArray } from "./safetensors-types.ts";

/** One tensor to write. data: StoredArrayOf[dtype], or a Float32Array for F16 / BF16. */
export interface TensorToWrite {
  dtype: Dtype;
  shape: readonly number[];
  data: StoredArray;
}

export type TensorsToWrite =
  | Readonly<Record<string, TensorToWrite>>
  | ReadonlyMap<string, TensorToWrite>
  | Iterable<readonly [string, TensorToWrite]>;

export interface WriteOptions {
  /** Backend whose f32ToF16 / f32ToBf16 narrow Float32Array data (default: tsHalf, the TypeScript twins). */
  backend?: Pick<Backend, "f32ToF16" | "f32ToBf16">;
}

const EXPECTED_ARRAY: Record<Dtype, string> = {
  F64: "Float64Array",
  F32: "Float32Array",
  F16: "Uint16Array (raw bits) or Float32Array",
  BF16: "Uint16Array (raw bits) or Float32Array",
  I64: "BigInt64Array",
  I32: "Int32Array",
  I16: "Int16Array",
  I8: "Int8Array",
  U64: "BigUint64Array",
  U32: "Uint32Array",
  U16: "Uint16Array",
  U8: "Uint8Array",
  BOOL: "Uint8Array of 0/1",
  F8_E5M2: "Uint8Array (raw bits)",
  F8_E4M3: "Uint8Array (raw bits)",
};

function arrayMatches(dtype: Dtype, data: unknown): boolean {
  switch (dtype) {
    case "F64":
      return data instanceof Float64Array;
    case "F32":
      return data instanceof Float32Array;
    case "F16":
    case "BF16":
      return data instanceof Uint16Array || data instanceof Float32Array;
    case "I64":
      return data instanceof BigInt64Array;
    case "U64":
      return data instanceof BigUint64Array;
    case "I32":
      return data instanceof Int32Array;
    case "U32":
      return data instanceof Uint32Array;
    case "I16":
      return data instanceof Int16Array;
    case "I8":
      return data instanceof Int8Array;
    case "U16":
      return data instanceof Uint16Array;
    default:
      return data instanceof Uint8Array;
  }
}

/** The (name, tensor) pairs of any accepted input form. */
export function entriesOf(tensors: TensorsToWrite): [string, TensorToWrite][] {
  if (tensors instanceof Map) return [...(tensors as ReadonlyMap<string, TensorToWrite>).entries()];
  if (Symbol.iterator in (tensors as object))
    return [...(tensors as Iterable<readonly [string, TensorToWrite]>)].map(([k, v]) => [k, v]);
  return Object.entries(tensors as Record<string, TensorToWrite>);
}

/** Validates the input; returns the header layout. */
function prepare(
  path: string,
  tensors: TensorsToWrite,
  metadata: Readonly<Record<string, string>> | undefined,
): { list: Map<string, TensorToWrite>; header: ReturnType<typeof buildHeader> } {
  const list = new Map<string, TensorToWrite>();
  const out: HeaderEntryOut[] = [];
  for (const [name, t] of entriesOf(tensors)) {
    const bad = (problem: string): never => {
      throw new SafetensorsError(path, name, problem);
    };
    if (typeof name !== "string") bad("name is not a string; expected a string");
    if (name === "__metadata__") bad('"__metadata__" is reserved; expected another tensor name');
    if (list.has(name)) bad("given twice; expected unique tensor names");
    if (!t || !isDtype(t.dtype))
      bad(`dtype ${JSON.stringify(t?.dtype)} is unknown; expected one of ${Object.keys(DTYPE_SIZE).join(" ")}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      bad(`shape ${JSON.stringify(t.shape)} is invalid; expected an array of integers >= 0`);
    if (!arrayMatches(t.dtype, t.data))
      bad(
        `data is a ${t.data?.constructor?.name ?? typeof t.data}; expected a ${EXPECTED_ARRAY[t.dtype]} for ${t.dtype}`,
      );
    const numel = t.shape.reduce((a, d) => a * d, 1);
    if (t.data.length !== numel)
      bad(`data has ${t.data.length} values; expected ${numel} for shape [${t.shape.join(", ")}]`);
    if (t.dtype === "BOOL" && (t.data as Uint8Array).some((v) => v > 1))
      bad("BOOL data holds a value other than 0 or 1; expected 0/1");
    list.set(name, t);
    out.push({ name, dtype: t.dtype, shape: [...t.shape], byteLength: numel * DTYPE_SIZE[t.dtype] });
  }
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== "object")
      throw new SafetensorsError(path, undefined, "metadata is not an object; expected {string: string}");
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== "string")
        throw new SafetensorsError(
          path,
          undefined,
          `metadata[${JSON.stringify(k)}] is a ${typeof v}; expected a string`,
        );
  }
  return { list, header: buildHeader(out, metadata) };
}

const CHUNK = 1 << 16; // values narrowed per chunk

/** The bytes of one tensor as a sequence of chunks (a narrowing scratch buffer is reused). */
function* tensorChunks(t: TensorToWrite, backend: WriteOptions["backend"]): Generator<Uint8Array> {
  const d = t.data;
  if ((t.dtype === "F16" || t.dtype === "BF16") && d instanceof Float32Array) {
    const b = backend ?? tsHalf;
    const scratch = new Uint16Array(Math.min(CHUNK, d.length));
    for (let i = 0; i < d.length; i += CHUNK) {
      const src = d.subarray(i, Math.min(d.length, i + CHUNK));
      const dst = scratch.subarray(0, src.length);
      if (t.dtype === "F16") b.f32ToF16(src, dst);
      else b.f32ToBf16(src, dst);
      yield new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
    }
    return;
  }
  if (d.byteLength > 0) yield new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** Writes a .safetensors file atomically (async: the event loop keeps running between chunks). */
export async function writeSafetensors(
  path: string,
  tensors: TensorsToWrite,
  metadata?: Readonly<Record<string, string>>,
  options: WriteOptions = {},
): Promise<void> {
  const { list, header } = prepare(path, tensors, metadata);
  const w = openWriter(path);
  try {
    await w.write(header.bytes);
    for (const e of header.order)
      for (const chunk of tensorChunks(list.get(e.name)!, options.backend)) await w.write(chunk);
    checkSize(path, w.bytesWritten, header.bytes.byteLength + header.bufferSize);
    await w.commit();
  } catch (err) {
    w.abort();
    throw asWriteError(path, err);
  }
}

/** Synchronous twin of writeSafetensors. */
export function writeSafetensorsSync(
  path: string,
  tensors: TensorsToWrite,
  metadata?: Readonly<Record<string, string>>,
  options: WriteOptions = {},
): void {
  const { list, header } = prepare(path, tensors, metadata);
  const w = openWriter(path);
  try {
    w.writeSync(header.bytes);
    for (const e of header.order)
      for (const chunk of tensorChunks(list.get(e.name)!, options.backend)) w.writeSync(chunk);
    checkSize(path, w.bytesWritten, header.bytes.byteLength + header.bufferSize);
    w.commitSync();
  } catch (err) {
    w.abort();
    throw asWriteError(path, err);
  }
}

function asWriteError(path: string, err: unknown): Error {
  if (err instanceof SafetensorsError) return err;
  const e = err as NodeJS.ErrnoException;
  const out = new SafetensorsError(
    path,
    undefined,
    `cannot write (${e.code ?? e.message}); expected a writable location with free space`,
  );
  out.cause = err;
  return out;
}

function openWriter(path: string): AtomicWriter {
  try {
    return AtomicWriter.open(path);
  } catch (err) {
    throw asWriteError(path, err);
  }
}

function checkSize(path: string, got: number, expected: number): void {
  if (got !== expected)
    throw new SafetensorsError(
      path,
      undefined,
      `wrote ${got} bytes; expected ${expected} (was a tensor's data changed while writing?)`,
    );
}

/** A file written but not yet committed (see writeSafetensorsUncommitted). */
export interface UncommittedSafetensors {
  /** The open temp file: commitSync() fsyncs and renames it into place, abort() discards it. */
  writer: AtomicWriter;
  /** Size of the file in bytes. */
  bytes: number;
  /** zlib crc32 of the whole file. */
  crc32: number;
}

/**
 * Writes every byte of a .safetensors file to its temp name now (synchronously, into the page cache)
 * and leaves the fsync + rename to the caller, who commits it later: a producer that commits file k
 * after computing file k + 1 lets the kernel write the bytes back meanwhile, so the fsync is cheap.
 * Until committed the target is untouched.
 */
export function writeSafetensorsUncommitted(
  path: string,
  tensors: TensorsToWrite,
  metadata?: Readonly<Record<string, string>>,
  options: WriteOptions = {},
): UncommittedSafetensors {
  const { list, header } = prepare(path, tensors, metadata);
  const w = openWriter(path);
  try {
    let crc = zlibCrc32(header.bytes);
    w.writeSync(header.bytes);
    for (const e of header.order)
      for (const chunk of tensorChunks(list.get(e.name)!, options.backend)) {
        crc = zlibCrc32(chunk, crc);
        w.writeSync(chunk);
      }
    checkSize(path, w.bytesWritten, header.bytes.byteLength + header.bufferSize);
    return { writer: w, bytes: w.bytesWritten, crc32: crc };
  } catch (err) {
    w.abort();
    throw asWriteError(path, err);
  }
}

/** A file whose bytes are being written in the thread pool (see startSafetensorsWrite). */
export interface PendingSafetensors {
  writer: AtomicWriter;
  bytes: number;
  /** zlib crc32 of the whole file. */
  crc32: number;
  /** Settles when every byte is in the temp file; then commit() publishes it. */
  written: Promise<void>;
}

/**
 * Like writeSafetensorsUncommitted, but the bytes go to the temp file through positioned writes
 * submitted to libuv's thread pool at once, so the main thread goes on computing meanwhile. The
 * tensors' arrays must stay untouched until `written` settles (F16 / BF16 narrowing is done here,
 * into fresh arrays, before it returns). The crc32 is computed here, on the main thread.
 */
export function startSafetensorsWrite(
  path: string,
  tensors: TensorsToWrite,
  metadata?: Readonly<Record<string, string>>,
  options: WriteOptions = {},
): PendingSafetensors {
  const { list, header } = prepare(path, tensors, metadata);
  const w = openWriter(path);
  try {
    const parts: { bytes: Uint8Array; position: number }[] = [{ bytes: header.bytes, position: 0 }];
    let crc = zlibCrc32(header.bytes);
    let position = header.bytes.byteLength;
    for (const e of header.order) {
      const t = list.get(e.name)!;
      let bytes: Uint8Array;
      if ((t.dtype === "F16" || t.dtype === "BF16") && t.data instanceof Float32Array) {
        const bits = new Uint16Array(t.data.length);
        const b = options.backend ?? tsHalf;
        if (t.dtype === "F16") b.f32ToF16(t.data, bits);
        else b.f32ToBf16(t.data, bits);
        bytes = new Uint8Array(bits.buffer);
      } else bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      crc = zlibCrc32(bytes, crc);
      parts.push({ bytes, position });
      position += bytes.byteLength;
    }
    if (position !== header.bytes.byteLength + header.bufferSize)
      checkSize(path, position, header.bytes.byteLength + header.bufferSize);
    const written = w.writeAtMany(parts).catch((err) => {
      throw asWriteError(path, err);
    });
    written.catch(() => {}); // the caller awaits it; never an unhandled rejection meanwhile
    return { writer: w, bytes: position, crc32: crc, written };
  } catch (err) {
    w.abort();
    throw asWriteError(path, err);
  }
}
