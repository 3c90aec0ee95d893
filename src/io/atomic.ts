/**
 * Atomic file writes: a reader of `path` sees either the old complete file or the new complete
 * file, never a mix, even if the process is killed or the machine loses power mid-write.
 *
 * Protocol (POSIX): write everything to a temp file in the SAME directory (rename is only atomic
 * within one filesystem) -> fsync(temp) so its bytes are on disk -> rename(temp, path) -> fsync(dir)
 * so the rename itself is durable. On any failure the temp file is removed and `path` is untouched.
 *
 * Temp names are `.<basename>.tmp-<pid>-<random>`; a SIGKILL between open and rename can leave one
 * behind (nothing can prevent that); `removeStaleTempFiles(dir)` cleans those of dead processes.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** Bytes to write: text (UTF-8), one buffer, or a sequence of chunks written in order. */
export type WriteData = string | Uint8Array | Iterable<Uint8Array | string>;

const MAX_WRITE = 1 << 30; // bytes per write() call (Node caps one write at 2 GiB)

function tempPathFor(target: string): string {
  const dir = path.dirname(target);
  const base = path.basename(target);
  return path.join(dir, `.${base}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
}

function toBytes(chunk: Uint8Array | string): Uint8Array {
  return typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
}

/** fsync a directory so a rename inside it is durable; platforms that cannot (Windows) are skipped. */
export function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EISDIR" && code !== "EPERM" && code !== "EINVAL" && code !== "EBADF" && code !== "EACCES") throw err;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function writeAllSync(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.byteLength) {
    const n = fs.writeSync(fd, bytes, done, Math.min(MAX_WRITE, bytes.byteLength - done), position + done);
    if (n <= 0) throw new Error(`write returned ${n}`);
    done += n;
  }
}

function writeChunk(fd: number, bytes: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.write(fd, bytes, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

async function writeAll(fd: number, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const n = await writeChunk(fd, bytes, done, Math.min(MAX_WRITE, bytes.byteLength - done), position + done);
    if (n <= 0) throw new Error(`write returned ${n}`);
    done += n;
  }
}

function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * A streaming atomic writer: append buffers, then `commit()` (publish) or `abort()` (discard).
 * Nothing is visible at `target` until commit succeeds. Sync and async methods may be mixed but
 * never run concurrently on one writer (await each call).
 */
export class AtomicWriter {
  readonly target: string;
  readonly tempPath: string;
  private fd: number | null;
  private position = 0;
  private state: "open" | "committed" | "aborted" = "open";

  private constructor(target: string, mode: number) {
    this.target = path.resolve(target);
    this.tempPath = tempPathFor(this.target);
    // 'wx': fail rather than clobber if the random name ever collides.
    this.fd = fs.openSync(this.tempPath, "wx", mode);
  }

  /** Opens a temp file beside `target` (its directory must exist). mode defaults to 0o644 (before umask). */
  static open(target: string, options: { mode?: number } = {}): AtomicWriter {
    return new AtomicWriter(target, options.mode ?? 0o644);
  }

  /** Bytes appended so far. */
  get bytesWritten(): number {
    return this.position;
  }

  private requireOpen(op: string): number {
    if (this.state !== "open" || this.fd === null)
      throw new Error(`atomic write of ${this.target}: ${op} after ${this.state}; expected an open writer`);
    return this.fd;
  }

  /** Appends bytes (a string is written as UTF-8). On error the writer is aborted, then the error rethrown. */
  async write(chunk: Uint8Array | string): Promise<void> {
    const fd = this.requireOpen("write");
    const bytes = toBytes(chunk);
    try {
      await writeAll(fd, bytes, this.position);
    } catch (err) {
      this.abort();
      throw err;
    }
    this.position += bytes.byteLength;
  }

  /**
   * Writes several byte ranges at explicit positions, all submitted to the thread pool at once (no
   * event-loop turn needed between them, so they proceed while the main thread computes). The
   * buffers must stay untouched until the promise settles. On error the writer is aborted.
   */
  async writeAtMany(parts: readonly { bytes: Uint8Array; position: number }[]): Promise<void> {
    const fd = this.requireOpen("write");
    // allSettled: the fd is closed (abort) only once no write on it is still in flight.
    const rs = await Promise.allSettled(parts.map((p) => writeAll(fd, p.bytes, p.position)));
    const bad = rs.find((r) => r.status === "rejected");
    if (bad) {
      this.abort();
      throw (bad as PromiseRejectedResult).reason;
    }
    for (const p of parts) this.position = Math.max(this.position, p.position + p.bytes.byteLength);
  }

  /** Synchronous twin of write(). */
  writeSync(chunk: Uint8Array | string): void {
    const fd = this.requireOpen("write");
    const bytes = toBytes(chunk);
    try {
      writeAllSync(fd, bytes, this.position);
    } catch (err) {
      this.abort();
      throw err;
    }
    this.position += bytes.byteLength;
  }

  /** fsync, close, rename over the target, fsync the directory. On error the temp file is removed. */
  async commit(): Promise<void> {
    const fd = this.requireOpen("commit");
    try {
      await fsyncAsync(fd);
      this.finish(fd);
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  /** Synchronous twin of commit(). */
  commitSync(): void {
    const fd = this.requireOpen("commit");
    try {
      fs.fsyncSync(fd);
      this.finish(fd);
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  private finish(fd: number): void {
    fs.closeSync(fd);
    this.fd = null;
    fs.renameSync(this.tempPath, this.target);
    this.state = "committed";
    fsyncDirSync(path.dirname(this.target));
  }

  /** Discards everything written: closes and deletes the temp file. Idempotent; a no-op after commit. */
  abort(): void {
    if (this.state !== "open") return;
    this.state = "aborted";
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed or invalid: the unlink below is what matters
      }
      this.fd = null;
    }
    try {
      fs.unlinkSync(this.tempPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
}

/** Runs `fill` on a fresh writer; commits when it resolves, aborts (and rethrows) when it throws. */
export async function withAtomicWriter<T>(
  target: string,
  fill: (writer: AtomicWriter) => Promise<T> | T,
  options: { mode?: number } = {},
): Promise<T> {
  const writer = AtomicWriter.open(target, options);
  try {
    const result = await fill(writer);
    await writer.commit();
    return result;
  } catch (err) {
    writer.abort();
    throw err;
  }
}

/** Synchronous twin of withAtomicWriter. */
export function withAtomicWriterSync<T>(
  target: string,
  fill: (writer: AtomicWriter) => T,
  options: { mode?: number } = {},
): T {
  const writer = AtomicWriter.open(target, options);
  try {
    const result = fill(writer);
    writer.commitSync();
    return result;
  } catch (err) {
    writer.abort();
    throw err;
  }
}

/** Atomically replaces `target` with `data` (synchronous: temp + fsync + rename + fsync dir). */
export function atomicWriteFile(target: string, data: WriteData, options: { mode?: number } = {}): void {
  withAtomicWriterSync(
    target,
    (w) => {
      if (typeof data === "string" || data instanceof Uint8Array) w.writeSync(data);
      else for (const chunk of data) w.writeSync(chunk);
    },
    options,
  );
}

/** Atomically writes `value` as pretty JSON (2-space indent, trailing newline). */
export function atomicWriteJson(target: string, value: unknown, options: { mode?: number } = {}): void {
  const text = JSON.stringify(value, null, 2);
  if (text === undefined) throw new TypeError(`atomicWriteJson(${target}): value is not JSON-serializable`);
  atomicWriteFile(target, `${text}\n`, options);
}

const TEMP_NAME = /^\..+\.tmp-(\d+)-[0-9a-f]{12}$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Deletes temp files left in `dir` by writers of processes that no longer exist (a killed run).
 * Returns the names removed. Temp files of live processes (including this one) are kept.
 */
export function removeStaleTempFiles(dir: string): string[] {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return removed;
    throw err;
  }
  for (const name of entries) {
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    try {
      fs.unlinkSync(path.join(dir, name));
      removed.push(name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  return removed;
}
