/**
 * safetensors reader (the Hugging Face format; layout and checks in safetensors-header.ts).
 *
 * SafetensorsFile.open(path) reads and validates ONLY the header with positioned reads; each
 * read(name) then reads just that tensor's bytes [8 + N + begin, 8 + N + end) into a fresh,
 * aligned buffer. Nothing trusts the header before it is validated against the file size, so a
 * lying header cannot cause a huge allocation. Every failure is a one-line SafetensorsError.
 *
 * readF32 widens to float32: F32 as is; F16 / BF16 exactly through options.backend's f16ToF32 /
 * bf16ToF32 (default: the TypeScript twins in src/io/dtype.ts, so reading never loads the native addon); F8 exactly (dtype.ts);
 * F64 and integers round to the nearest float32 (integers of magnitude <= 2^24 are exact; I64 / U64
 * beyond 2^53 are rounded twice, through float64).
 * Tensor bytes are little-endian; a big-endian host is refused.
 * Callers that know what a tensor must be pass `dtypes` (and `shape`) to readF32, or call
 * expectTensor(reader, name, {dtypes, shape}) / checkDtype before reading: an integer stored where
 * a float weight belongs is an error, never silently converted. After reading, src/io/finite.ts
 * checkFinite(file, name, data) refuses NaN / Inf; run folders use src/io/complete.ts.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import type { Backend } from "../core/backend.ts";
import { type Dtype, MAX_HEADER_BYTES, parseHeader, SafetensorsError, type TensorEntry } from "./safetensors-header.ts";
import type { StoredArray } from "./safetensors-types.ts";
import { checkDtype, sameShape, TensorTable, toF32, viewAs } from "./safetensors-view.ts";

export { DTYPE_SIZE, type Dtype, MAX_HEADER_BYTES, SafetensorsError } from "./safetensors-header.ts";

export type { StoredArray, StoredArrayOf } from "./safetensors-types.ts";
export { checkDtype, expectTensor, FLOAT_WEIGHT_DTYPES, toF32, viewAs } from "./safetensors-view.ts";

export interface TensorInfo {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly byteLength: number;
}

/**
 * Options of readF32: `shape` asserts the stored shape; `dtypes` lists the stored dtypes the caller
 * accepts for this tensor (others are an error naming tensor, dtype and the accepted ones, with
 * `purpose` saying why, e.g. "a float weight"); `backend` does the F16/BF16 widening.
 */
export interface ReadF32Options {
  shape?: readonly number[];
  dtypes?: readonly Dtype[];
  purpose?: string;
  backend?: Pick<Backend, "f16ToF32" | "bf16ToF32">;
}

/** What both a single file and a sharded checkpoint offer. */
export interface TensorReader {
  readonly path: string;
  /** __metadata__ (string -> string); for a sharded checkpoint, that of the first shard. */
  readonly metadata: Readonly<Record<string, string>>;
  names(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  /** Rows [start, end) of the leading dim when `rows` is given, else the whole tensor. */
  read(name: string, rows?: readonly [number, number]): StoredArray;
  readF32(name: string, options?: ReadF32Options): Float32Array;
  close(): void;
}

const MAX_READ = 1 << 30; // bytes per readSync call

if (os.endianness() !== "LE") {
  throw new Error(
    `msae reads safetensors (little-endian) only on little-endian hosts; this host is ${os.endianness()}`,
  );
}

/** Reads exactly `length` bytes at `position` into dst, or throws naming what was short. */
function preadExact(fd: number, dst: Uint8Array, position: number, fail: (got: number) => never): void {
  let done = 0;
  while (done < dst.byteLength) {
    const n = fs.readSync(fd, dst, done, Math.min(MAX_READ, dst.byteLength - done), position + done);
    if (n === 0) fail(done);
    done += n;
  }
}

/** An open safetensors file: header validated, tensors read on demand. */
export class SafetensorsFile extends TensorTable implements TensorReader {
  /** File offset of the byte buffer (8 + N). */
  readonly dataStart: number;
  private fd: number | null;

  private constructor(
    path: string,
    fd: number,
    dataStart: number,
    entries: Map<string, TensorEntry>,
    meta: Record<string, string>,
  ) {
    super(path, entries, meta);
    this.fd = fd;
    this.dataStart = dataStart;
  }

  /** Opens and validates `path` (reads only the 8-byte length and the header). */
  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(path, "r");
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === "ENOENT" ? "no such file" : e.code === "EISDIR" ? "is a directory" : (e.code ?? e.message);
      throw new SafetensorsError(path, undefined, `cannot open (${why}); expected a readable .safetensors file`);
    }
    try {
      return SafetensorsFile.fromFd(path, fd);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  private static fromFd(path: string, fd: number): SafetensorsFile {
    const st = fs.fstatSync(fd);
    if (!st.isFile())
      throw new SafetensorsError(path, undefined, "is not a regular file; expected a .safetensors file");
    const size = st.size;
    if (size < 8)
      throw new SafetensorsError(path, undefined, `file is ${size} bytes; expected at least 8 (the header length)`);
    const lenBytes = new Uint8Array(8);
    const short = (got: number): never => {
      throw new SafetensorsError(
        path,
        undefined,
        `file shrank while reading (read ${got} bytes); expected a stable file`,
      );
    };
    preadExact(fd, lenBytes, 0, short);
    const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
    if (n === 0n)
      throw new SafetensorsError(path, undefined, "header length is 0; expected a JSON header of at least 2 bytes");
    if (n > BigInt(MAX_HEADER_BYTES))
      throw new SafetensorsError(
        path,
        undefined,
        `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit; expected a smaller header (corrupt file?)`,
      );
    if (n > BigInt(size - 8))
      throw new SafetensorsError(
        path,
        undefined,
        `header length ${n} runs past the end of the ${size}-byte file; expected at most ${size - 8} (truncated file?)`,
      );
    const headerLen = Number(n);
    const headerBytes = new Uint8Array(headerLen);
    preadExact(fd, headerBytes, 8, short);
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
    } catch {
      throw new SafetensorsError(path, undefined, "header is not valid UTF-8; expected UTF-8 JSON");
    }
    const dataStart = 8 + headerLen;
    const { tensors, metadata } = parseHeader(path, text, size - dataStart);
    return new SafetensorsFile(path, fd, dataStart, tensors, metadata);
  }

  /** File offset and byte length of a tensor's data (for callers that stream it). */
  location(name: string): { offset: number; byteLength: number } {
    const e = this.entry(name);
    return { offset: this.dataStart + e.begin, byteLength: e.end - e.begin };
  }

  /** Raw little-endian bytes of a tensor (or of rows [start, end) of its leading dim). */
  readBytes(name: string, rows?: readonly [number, number]): Uint8Array {
    const e = this.entry(name);
    if (this.fd === null) throw new SafetensorsError(this.path, name, "file is closed; expected read() before close()");
    let begin = e.begin;
    let end = e.end;
    if (rows !== undefined) {
      const [r0, r1] = rows;
      const lead = e.shape[0];
      if (e.shape.length === 0 || !Number.isInteger(r0) || !Number.isInteger(r1) || r0 < 0 || r1 > lead || r0 > r1)
        throw new SafetensorsError(
          this.path,
          name,
          `rows [${r0}, ${r1}) are outside shape [${e.shape.join(", ")}]; expected 0 <= start <= end <= leading dim`,
        );
      const rowBytes = lead === 0 ? 0 : (e.end - e.begin) / lead;
      begin = e.begin + r0 * rowBytes;
      end = e.begin + r1 * rowBytes;
    }
    const bytes = new Uint8Array(end - begin);
    preadExact(this.fd, bytes, this.dataStart + begin, (got) => {
      throw new SafetensorsError(
        this.path,
        name,
        `file ended after ${got} of ${end - begin} data bytes; expected the file to be unchanged since open`,
      );
    });
    return bytes;
  }

  /** The tensor (or rows [start, end) of it) as the typed array of its stored dtype. */
  read(name: string, rows?: readonly [number, number]): StoredArray {
    return viewAs(this.entry(name).dtype, this.readBytes(name, rows));
  }

  /** The tensor widened to float32; `shape`, if given, must equal the stored shape. */
  readF32(name: string, options: ReadF32Options = {}): Float32Array {
    const e = this.entry(name);
    if (options.shape && !sameShape(options.shape, e.shape))
      throw new SafetensorsError(
        this.path,
        name,
        `has shape [${e.shape.join(", ")}]; expected [${options.shape.join(", ")}]`,
      );
    if (options.dtypes) checkDtype(this.path, name, e.dtype, options.dtypes, options.purpose);
    return toF32(e.dtype, this.read(name), options.backend);
  }

  close(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }
}
