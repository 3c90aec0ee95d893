/**
 * safetensors from bytes already in memory (an ArrayBuffer fetched by the browser explorer, or a
 * Buffer): the same layout and the same header validation as the file reader (safetensors-header.ts),
 * no node:fs. Tensors are copied out into fresh aligned buffers on read, so a header offset that is
 * not a multiple of the element size still reads correctly.
 *
 *   bytes = [u64 N][N bytes of JSON header][byte buffer]   (see safetensors-header.ts)
 */

import type { ReadF32Options, TensorReader } from "./safetensors.ts";
import { MAX_HEADER_BYTES, parseHeader, SafetensorsError, type TensorEntry } from "./safetensors-header.ts";
import type { StoredArray } from "./safetensors-types.ts";
import { checkDtype, sameShape, TensorTable, toF32, viewAs } from "./safetensors-view.ts";

/** Refuses a big-endian host (tensor bytes are little-endian). */
function checkLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
    throw new Error("msae reads safetensors (little-endian) only on little-endian hosts");
}

export class SafetensorsBuffer extends TensorTable implements TensorReader {
  private readonly bytes: Uint8Array;
  private readonly dataStart: number;

  private constructor(
    path: string,
    bytes: Uint8Array,
    dataStart: number,
    entries: Map<string, TensorEntry>,
    metadata: Record<string, string>,
  ) {
    super(path, entries, metadata);
    this.bytes = bytes;
    this.dataStart = dataStart;
  }

  /** Validates the header of `bytes` (named `path` in errors) and returns a reader over them. */
  static from(path: string, data: ArrayBuffer | Uint8Array): SafetensorsBuffer {
    checkLittleEndian();
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    const size = bytes.byteLength;
    if (size < 8)
      throw new SafetensorsError(path, undefined, `file is ${size} bytes; expected at least 8 (the header length)`);
    const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
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
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerLen));
    } catch {
      throw new SafetensorsError(path, undefined, "header is not valid UTF-8; expected UTF-8 JSON");
    }
    const dataStart = 8 + headerLen;
    const { tensors, metadata } = parseHeader(path, text, size - dataStart);
    return new SafetensorsBuffer(path, bytes, dataStart, tensors, metadata);
  }

  read(name: string, rows?: readonly [number, number]): StoredArray {
    const e = this.entry(name);
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
    // slice() copies into a fresh ArrayBuffer at offset 0: aligned for every typed array.
    return viewAs(e.dtype, this.bytes.slice(this.dataStart + begin, this.dataStart + end));
  }

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

  close(): void {}
}
