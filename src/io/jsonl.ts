/**
 * JSON Lines logs (train_log.jsonl, metrics): one JSON value per line, "\n"-terminated.
 *
 * Appends write `JSON.stringify(value) + "\n"` in a single write() on an O_APPEND descriptor
 * (optionally fsynced), so a killed run leaves at worst one partial LAST line. Readers therefore
 * tolerate exactly that: a final line without "\n" that does not parse is dropped and reported as
 * `truncatedTail`; a bad line anywhere else is corruption and throws a one-line JsonlError naming
 * the file and line number. Blank lines are skipped. `repairJsonlTail` cuts a partial last line so
 * the next append starts on a fresh line (JsonlWriter.open does this by default).
 */
import * as fs from "node:fs";

export class JsonlError extends Error {
  readonly file: string;
  readonly line: number | undefined;
  constructor(file: string, line: number | undefined, problem: string) {
    super(`${file}${line === undefined ? "" : `:${line}`}: ${problem}`.replace(/[\r\n]+/g, " "));
    this.name = "JsonlError";
    this.file = file;
    this.line = line;
  }
}

export interface JsonlRecord {
  /** 1-based line number in the file. */
  line: number;
  value: unknown;
}

export interface JsonlReadResult {
  records: unknown[];
  /** True when a partial last line (a killed writer) was dropped. */
  truncatedTail: boolean;
  /** Bytes of the file made of complete, valid lines (where a repair would cut). */
  validBytes: number;
}

const CHUNK = 1 << 20;
const decoder = new TextDecoder("utf-8", { fatal: true });

function encodeLine(file: string, value: unknown): Buffer {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new JsonlError(
      file,
      undefined,
      `value cannot be written as JSON (${(err as Error).message}); expected plain data`,
    );
  }
  if (text === undefined)
    throw new JsonlError(file, undefined, `value of type ${typeof value} is not JSON; expected plain data`);
  return Buffer.from(`${text}\n`, "utf8");
}

function parseLine(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false; why: string } {
  try {
    return { ok: true, value: JSON.parse(decoder.decode(bytes)) };
  } catch (err) {
    return { ok: false, why: err instanceof TypeError ? "not valid UTF-8" : (err as Error).message };
  }
}

function isBlank(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  return true;
}

interface ScanState {
  truncatedTail: boolean;
  validBytes: number;
}

/** Streams the file in 1 MB chunks; yields each record; fills `state` at the end. */
function* scan(file: string, state: ScanState): Generator<JsonlRecord> {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new JsonlError(
      file,
      undefined,
      `cannot open (${code === "ENOENT" ? "no such file" : code}); expected a JSONL file`,
    );
  }
  try {
    let pending: Uint8Array = new Uint8Array(0); // bytes of the current, unfinished line
    let pendingStart = 0; // file offset of `pending`
    let position = 0;
    let lineNo = 0;
    const buf = new Uint8Array(CHUNK);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, position);
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      let start = 0;
      for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
        const piece = chunk.subarray(start, nl);
        const line = pending.byteLength ? Buffer.concat([pending, piece]) : piece;
        lineNo++;
        if (!isBlank(line)) {
          const r = parseLine(line);
          if (!r.ok) throw new JsonlError(file, lineNo, `corrupt line (${r.why}); expected one JSON value per line`);
          yield { line: lineNo, value: r.value };
        }
        pending = new Uint8Array(0);
        start = nl + 1;
        pendingStart = position + start;
        state.validBytes = pendingStart;
      }
      pending = Buffer.concat([pending, chunk.subarray(start)]);
      position += n;
    }
    if (pending.byteLength > 0) {
      lineNo++;
      if (isBlank(pending)) state.validBytes = pendingStart + pending.byteLength;
      else {
        const r = parseLine(pending);
        if (r.ok) {
          state.validBytes = pendingStart + pending.byteLength;
          yield { line: lineNo, value: r.value };
        } else state.truncatedTail = true;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Iterates the records of a JSONL file (streamed, constant memory), tolerating a truncated last line. */
export function* iterJsonl(file: string): Generator<JsonlRecord> {
  yield* scan(file, { truncatedTail: false, validBytes: 0 });
}

/** Reads a whole JSONL file. */
export function readJsonl(file: string): JsonlReadResult {
  const state: ScanState = { truncatedTail: false, validBytes: 0 };
  const records: unknown[] = [];
  for (const r of scan(file, state)) records.push(r.value);
  return { records, truncatedTail: state.truncatedTail, validBytes: state.validBytes };
}

/**
 * Makes the file safe to append to: cuts a truncated last line, or adds the missing "\n" after a
 * complete one. Returns true if the file was changed. A missing file is left missing.
 */
export function repairJsonlTail(file: string): boolean {
  if (!fs.existsSync(file)) return false;
  const { truncatedTail, validBytes } = readJsonl(file);
  const size = fs.statSync(file).size;
  if (truncatedTail) {
    fs.truncateSync(file, validBytes);
    return true;
  }
  if (size > 0) {
    const last = Buffer.alloc(1);
    const fd = fs.openSync(file, "r");
    try {
      fs.readSync(fd, last, 0, 1, size - 1);
    } finally {
      fs.closeSync(fd);
    }
    if (last[0] !== 0x0a) {
      fs.appendFileSync(file, "\n");
      return true;
    }
  }
  return false;
}

/** Appends one value as a line (opens, writes once, optionally fsyncs, closes). */
export function appendJsonl(file: string, value: unknown, options: { fsync?: boolean } = {}): void {
  const bytes = encodeLine(file, value);
  const fd = fs.openSync(file, "a");
  try {
    fs.writeSync(fd, bytes);
    if (options.fsync) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A log kept open for many appends. */
export class JsonlWriter {
  readonly file: string;
  private fd: number | null;
  private readonly sync: boolean;

  private constructor(file: string, fd: number, sync: boolean) {
    this.file = file;
    this.fd = fd;
    this.sync = sync;
  }

  /** Opens for appending (created if missing); by default first repairs a truncated tail. */
  static open(file: string, options: { fsync?: boolean; repairTail?: boolean } = {}): JsonlWriter {
    if (options.repairTail ?? true) repairJsonlTail(file);
    return new JsonlWriter(file, fs.openSync(file, "a"), options.fsync ?? false);
  }

  append(value: unknown): void {
    if (this.fd === null) throw new JsonlError(this.file, undefined, "append after close; expected an open writer");
    const bytes = encodeLine(this.file, value);
    let done = 0;
    while (done < bytes.byteLength) done += fs.writeSync(this.fd, bytes, done);
    if (this.sync) fs.fsyncSync(this.fd);
  }

  /** fsync now (for writers opened without per-line fsync). */
  flush(): void {
    if (this.fd !== null) fs.fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }
}
