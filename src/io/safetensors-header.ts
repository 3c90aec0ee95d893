/**
 * The safetensors header: dtypes, the error type, validation of an untrusted header, and the
 * deterministic header a writer emits.
 *
 * File layout (little-endian):
 *   [0, 8)          N = u64 header length
 *   [8, 8 + N)      UTF-8 JSON object, may be padded with trailing spaces:
 *                   { "__metadata__"?: {string: string},
 *                     <name>: {"dtype": D, "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ... }
 *   [8 + N, size)   the byte buffer; tensor bytes are buffer[begin, end), row-major, little-endian
 * Invariants checked here, those of the Rust `safetensors` crate (the reference implementation,
 * `Metadata::validate` and `SafeTensors::read_metadata`):
 * - the header text starts with '{' (no BOM, no leading whitespace); trailing spaces are padding;
 * - end - begin = prod(shape) * sizeof(D) for every tensor;
 * - sorted by (begin, end), the tensors TILE the byte buffer: the first begins at 0, each begins
 *   where the previous one ends (no gap, no overlap), and the last ends exactly at size - 8 - N
 *   (no trailing bytes). A header length off by a few bytes therefore never parses as a shifted
 *   file: the buffer no longer matches the offsets. Empty tensors sit at a tiling position too.
 * Stricter than the reference: duplicate JSON keys and non-integer numbers are rejected
 * (safetensors-json.ts), and so is a header with tensors but no data (trivially covered).
 *
 * Dtypes: F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL F8_E5M2 F8_E4M3 are read (raw, and
 * converted by readF32). Dtypes the reference knows but msae does not read (sub-byte F4 / F6 /
 * packed int4, F8_E8M0, complex) are rejected by name as unsupported; anything else as unknown.
 * Unknown fields inside a tensor entry are ignored, as the reference implementation does.
 */
import {
  aJsonType,
  type JsonObject,
  JsonParseError,
  type JsonValue,
  jsonTypeName,
  parseJsonStrict,
} from "./safetensors-json.ts";

/** Bytes per element of every dtype msae reads. */
export const DTYPE_SIZE = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
} as const;

export type Dtype = keyof typeof DTYPE_SIZE;

/** Dtypes of the format that msae recognizes but does not read. */
const UNSUPPORTED_DTYPES = new Set([
  "F4",
  "F6_E2M3",
  "F6_E3M2",
  "F8_E8M0",
  "F8_E4M3FNUZ",
  "F8_E5M2FNUZ",
  "C64",
  "C128",
  "PackedI4",
  "PackedU4",
  "I4",
  "U4",
]);

export function isDtype(s: unknown): s is Dtype {
  return typeof s === "string" && Object.hasOwn(DTYPE_SIZE, s);
}

/** Largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** One-line error about a safetensors file: "<file>: [tensor "<name>": ]<what>; expected <what>". */
export class SafetensorsError extends Error {
  readonly file: string;
  readonly tensor: string | undefined;
  constructor(file: string, tensor: string | undefined, problem: string) {
    const where = tensor === undefined ? "" : `tensor ${quoteName(tensor)}: `;
    super(oneLine(`${file}: ${where}${problem}`));
    this.name = "SafetensorsError";
    this.file = file;
    this.tensor = tensor;
  }
}

/** A name as it appears in messages: JSON-quoted (escapes newlines), cut at 80 characters. */
export function quoteName(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}...` : name);
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\u2028\u2029]+/g, " ");
}

/** What the header says about one tensor. begin/end are offsets in the byte buffer. */
export interface TensorEntry {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

export interface ParsedHeader {
  readonly tensors: Map<string, TensorEntry>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** prod(shape) as a bigint (exact for any dims). */
function numelBig(shape: readonly number[]): bigint {
  let n = 1n;
  for (const d of shape) n *= BigInt(d);
  return n;
}

function isNonNegInt(v: JsonValue): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function describe(v: JsonValue): string {
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 60)}...` : s;
}

/**
 * Validates the header text of `file` whose byte buffer is `bufferSize` bytes long.
 * Throws SafetensorsError naming the first problem found.
 */
export function parseHeader(file: string, text: string, bufferSize: number): ParsedHeader {
  if (!text.startsWith("{"))
    throw new SafetensorsError(
      file,
      undefined,
      `header starts with ${text.length ? JSON.stringify(text.slice(0, 1)) : "nothing"}; expected '{' (a JSON object, no leading whitespace or BOM)`,
    );
  let root: JsonValue;
  try {
    root = parseJsonStrict(text, { maxDepth: 8, integersOnly: true });
  } catch (err) {
    if (err instanceof JsonParseError)
      throw new SafetensorsError(file, undefined, `header is not valid JSON: ${err.message}`);
    throw err;
  }
  if (root === null || typeof root !== "object" || Array.isArray(root))
    throw new SafetensorsError(file, undefined, `header is a JSON ${jsonTypeName(root)}; expected a JSON object`);

  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorEntry>();
  for (const [name, value] of Object.entries(root as JsonObject)) {
    if (name === "__metadata__") {
      if (value === null || typeof value !== "object" || Array.isArray(value))
        throw new SafetensorsError(
          file,
          undefined,
          `__metadata__ is ${aJsonType(value)}; expected an object of strings`,
        );
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== "string")
          throw new SafetensorsError(
            file,
            undefined,
            `__metadata__[${quoteName(k)}] is ${aJsonType(v)}; expected a string`,
          );
        metadata[k] = v;
      }
      continue;
    }
    tensors.set(name, parseEntry(file, name, value, bufferSize));
  }
  checkTiling(file, tensors, bufferSize);
  return { tensors, metadata };
}

function parseEntry(file: string, name: string, value: JsonValue, bufferSize: number): TensorEntry {
  const bad = (problem: string): never => {
    throw new SafetensorsError(file, name, problem);
  };
  if (value === null || typeof value !== "object" || Array.isArray(value))
    return bad(`entry is ${aJsonType(value)}; expected an object {dtype, shape, data_offsets}`);
  const entry = value as JsonObject;
  const dtype = entry.dtype;
  if (!Object.hasOwn(entry, "dtype")) bad("has no dtype; expected one of the safetensors dtypes");
  if (typeof dtype !== "string") return bad(`dtype is ${aJsonType(dtype)}; expected a string like "F32"`);
  if (!isDtype(dtype)) {
    if (UNSUPPORTED_DTYPES.has(dtype))
      bad(`dtype ${dtype} is not supported by msae; expected one of ${Object.keys(DTYPE_SIZE).join(" ")}`);
    bad(`unknown dtype ${describe(dtype)}; expected one of ${Object.keys(DTYPE_SIZE).join(" ")}`);
  }
  const dt = dtype as Dtype;

  const shape = entry.shape;
  if (!Object.hasOwn(entry, "shape")) bad("has no shape; expected an array of dims");
  if (!Array.isArray(shape)) return bad(`shape is ${aJsonType(shape)}; expected an array of integers >= 0`);
  for (const d of shape)
    if (!isNonNegInt(d)) bad(`shape ${describe(shape)} has dim ${describe(d)}; expected integers >= 0`);

  const offsets = entry.data_offsets;
  if (!Object.hasOwn(entry, "data_offsets")) bad("has no data_offsets; expected [begin, end]");
  if (!Array.isArray(offsets) || offsets.length !== 2)
    return bad(`data_offsets is ${describe(offsets)}; expected [begin, end] (two integers)`);
  const [begin, end] = offsets;
  if (!isNonNegInt(begin) || !isNonNegInt(end))
    return bad(`data_offsets ${describe(offsets)} are not integers >= 0; expected [begin, end] with 0 <= begin <= end`);
  if (begin > end) bad(`data_offsets [${begin}, ${end}] has begin > end; expected begin <= end`);

  const dims = shape as number[];
  const expectedBytes = numelBig(dims) * BigInt(DTYPE_SIZE[dt]);
  if (BigInt(end - begin) !== expectedBytes)
    bad(
      `data_offsets [${begin}, ${end}] span ${end - begin} bytes; expected ${expectedBytes} ` +
        `(shape [${dims.join(", ")}] x ${DTYPE_SIZE[dt]} bytes of ${dt})`,
    );
  if (end > bufferSize)
    bad(
      `data_offsets [${begin}, ${end}] run past the ${bufferSize}-byte data buffer; expected end <= ${bufferSize} (truncated file?)`,
    );
  return { dtype: dt, shape: dims, begin, end };
}

/**
 * The tensors, sorted by (begin, end), must tile [0, bufferSize): each begins where the previous
 * ended (the Rust crate's InvalidOffset), and the last ends at bufferSize (its
 * MetadataIncompleteBuffer).
 */
function checkTiling(file: string, tensors: Map<string, TensorEntry>, bufferSize: number): void {
  const sorted = [...tensors.entries()].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let pos = 0;
  let prevName: string | null = null;
  for (const [name, e] of sorted) {
    if (e.begin !== pos) {
      const after =
        prevName === null ? "the data buffer starts at 0" : `the previous tensor ${quoteName(prevName)} ends at ${pos}`;
      const kind = e.begin > pos ? `a gap of ${e.begin - pos} bytes` : `an overlap of ${pos - e.begin} bytes`;
      throw new SafetensorsError(
        file,
        name,
        `data_offsets [${e.begin}, ${e.end}] leave ${kind}: ${after}; expected the tensors to tile the data buffer exactly (begin ${pos})`,
      );
    }
    pos = e.end;
    if (e.end > e.begin) prevName = name;
  }
  if (pos !== bufferSize)
    throw new SafetensorsError(
      file,
      undefined,
      `the tensors end at byte ${pos} of the ${bufferSize}-byte data buffer (${bufferSize - pos} trailing bytes); ` +
        "expected them to fill it exactly (wrong header length or a corrupt file?)",
    );
}

/** A tensor as the writer lays it out. */
export interface HeaderEntryOut {
  name: string;
  dtype: Dtype;
  shape: readonly number[];
  byteLength: number;
}

/**
 * The header bytes a writer emits (8-byte length prefix included) and each tensor's buffer offset.
 * Keys: "__metadata__" first (if given), then tensor names sorted. Data order: larger element size
 * first, then name (so each tensor starts aligned to its element size); the JSON is padded with
 * spaces so the buffer starts at a multiple of 8, as the reference implementation does.
 */
export function buildHeader(
  entries: readonly HeaderEntryOut[],
  metadata: Readonly<Record<string, string>> | undefined,
): { bytes: Uint8Array; order: HeaderEntryOut[]; offsets: Map<string, [number, number]>; bufferSize: number } {
  const order = [...entries].sort(
    (a, b) => DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const offsets = new Map<string, [number, number]>();
  let pos = 0;
  for (const e of order) {
    offsets.set(e.name, [pos, pos + e.byteLength]);
    pos += e.byteLength;
  }
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort();
    parts.push(`"__metadata__":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(",")}}`);
  }
  const names = entries.map((e) => e.name).sort();
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const name of names) {
    const e = byName.get(name)!;
    const [b, en] = offsets.get(name)!;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${e.dtype}","shape":[${e.shape.join(",")}],"data_offsets":[${b},${en}]}`,
    );
  }
  const json = Buffer.from(`{${parts.join(",")}}`, "utf8");
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const bytes = new Uint8Array(8 + padded).fill(0x20);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(json, 8);
  return { bytes, order, offsets, bufferSize: pos };
}
