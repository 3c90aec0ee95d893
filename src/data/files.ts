/**
 * The user's own text files as documents (async iterables, so big corpora stream):
 *   .txt     one document per file: the whole file, UTF-8 (a leading byte-order mark is dropped);
 *            an empty file yields nothing; invalid UTF-8 is an error naming the byte offset (never
 *            silently replaced by U+FFFD);
 *   .jsonl   one document per line: a JSON object with a string `text` field (other fields ignored);
 *            blank lines are skipped; a bad line (invalid JSON or UTF-8, no string `text`) is an
 *            error naming file and line; read line by line;
 *   .parquet one document per row of the `text` column (string; null rows skipped), read one row
 *            group at a time with hyparquet (+ hyparquet-compressors: snappy, gzip, zstd, brotli, lz4);
 *   folder   every .txt / .jsonl / .parquet file below it (recursively; names starting with "." are
 *            skipped), in sorted order of their relative paths (code-unit order, "/" separated).
 * Empty documents ("") are skipped everywhere.
 */
import { createReadStream, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import { compressors } from "hyparquet-compressors";

export const TEXT_EXTENSIONS = [".txt", ".jsonl", ".parquet"] as const;

export function isCorpusFile(path: string): boolean {
  return (TEXT_EXTENSIONS as readonly string[]).includes(extname(path).toLowerCase());
}

/** Byte offset and message of the first invalid UTF-8 sequence in `bytes` (null when valid). */
function utf8Error(bytes: Uint8Array): number | null {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return null;
  } catch {
    // locate it: the longest valid prefix, by halving
    let lo = 0;
    let hi = bytes.length;
    const ok = (n: number) => {
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, n), { stream: true });
        return true;
      } catch {
        return false;
      }
    };
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ok(mid)) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/** Decodes UTF-8 strictly: invalid bytes are an error naming the file and offset, never U+FFFD. */
function decodeUtf8(bytes: Uint8Array, where: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new Error(`${where}: invalid UTF-8 at byte ${utf8Error(bytes) ?? 0}; expected UTF-8 text`);
  }
}

/** A .txt file as one document. */
export async function* txtDocuments(path: string): AsyncGenerator<string> {
  let text = decodeUtf8(readFileSync(path), path);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length > 0) yield text;
}

/** The lines of a file as raw bytes ("\n" separated; a trailing "\r" is left to the caller). */
async function* byteLines(path: string): AsyncGenerator<Uint8Array> {
  let carry: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(path)) {
    let buf: Buffer = carry.length ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    let nl = buf.indexOf(0x0a);
    while (nl >= 0) {
      yield buf.subarray(0, nl);
      buf = buf.subarray(nl + 1);
      nl = buf.indexOf(0x0a);
    }
    carry = Buffer.from(buf);
  }
  if (carry.length) yield carry;
}

/** The `text` field of each line of a .jsonl file (strict UTF-8, one line at a time). */
export async function* jsonlDocuments(path: string): AsyncGenerator<string> {
  let lineNo = 0;
  for await (const bytes of byteLines(path)) {
    lineNo++;
    let line = decodeUtf8(bytes, `${path}:${lineNo}`);
    if (lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    if (line.trim().length === 0) continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      const why = (e as Error).message.replace(/[\r\n\u2028\u2029]+/g, " ").slice(0, 200);
      throw new Error(`${path}:${lineNo}: not valid JSON (${why})`);
    }
    const text = (row as { text?: unknown } | null)?.text;
    if (typeof text !== "string") {
      throw new Error(`${path}:${lineNo}: expected a JSON object with a string "text" field`);
    }
    if (text.length > 0) yield text;
  }
}

/** The `text` column of a .parquet file, one row group at a time. */
export async function* parquetDocuments(path: string): AsyncGenerator<string> {
  const file = await asyncBufferFromFile(path);
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  let columns: string[];
  try {
    metadata = await parquetMetadataAsync(file);
    columns = parquetSchema(metadata).children.map((c) => c.element.name);
  } catch (e) {
    throw new Error(`parquet file "${path}" could not be read: ${String((e as Error)?.message ?? e).split("\n")[0]}`);
  }
  if (!columns.includes("text")) {
    throw new Error(`parquet file "${path}" has no "text" column (columns: ${columns.join(", ") || "none"})`);
  }
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, metadata, columns: ["text"], rowStart, rowEnd, compressors });
    } catch (e) {
      throw new Error(
        `parquet file "${path}" rows ${rowStart}..${rowEnd - 1} could not be read: ${String((e as Error)?.message ?? e).split("\n")[0]}`,
      );
    }
    for (let i = 0; i < rows.length; i++) {
      const text: unknown = rows[i].text;
      if (text === null || text === undefined) continue;
      if (typeof text !== "string") {
        throw new Error(`parquet file "${path}" row ${rowStart + i}: "text" is ${typeof text}, expected a string`);
      }
      if (text.length > 0) yield text;
    }
    rowStart = rowEnd;
  }
}

/** Documents of one file, by extension. */
export function fileDocuments(path: string): AsyncGenerator<string> {
  switch (extname(path).toLowerCase()) {
    case ".txt":
      return txtDocuments(path);
    case ".jsonl":
      return jsonlDocuments(path);
    case ".parquet":
      return parquetDocuments(path);
    default:
      throw new Error(`file "${path}" is not a corpus file: expected .txt, .jsonl or .parquet`);
  }
}

/** Corpus files below a folder, sorted by relative path. */
export function listCorpusFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.name.startsWith(".")) continue;
      const full = join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && isCorpusFile(entry.name)) found.push(full);
    }
  };
  walk(dir);
  const key = (p: string): string => relative(dir, p).split(sep).join("/");
  return found.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** Documents of a file or of every corpus file in a folder. */
export async function* pathDocuments(path: string): AsyncGenerator<string> {
  if (statSync(path).isDirectory()) {
    const files = listCorpusFiles(path);
    if (files.length === 0) throw new Error(`folder "${path}" has no .txt, .jsonl or .parquet files`);
    for (const f of files) yield* fileDocuments(f);
  } else {
    yield* fileDocuments(path);
  }
}
