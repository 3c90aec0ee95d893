/**
 * Outputs are complete or absent: a completion marker for run folders, whole folders published by
 * one rename, and output paths checked before long work starts. Built on src/io/atomic.ts.
 *
 * 1. The run marker `msae-run.json` in a folder msae writes:
 *      {"format": "msae-run-1", "kind": "lm-train", "status": "incomplete" | "complete",
 *       "updated_at": ISO time, "pid": n, "resume"?: "how to finish it", "detail"?: {...}}
 *    A writer that fills a folder in place over a long time (lm train: checkpoints, resumable)
 *    calls markIncomplete(dir, ...) BEFORE it writes any output there and markComplete(dir, ...)
 *    after the last output is committed; both writes are atomic, so a SIGKILL at any moment leaves
 *    either "incomplete" (refused by loaders, resumable) or "complete" (everything written).
 *    Loaders call checkComplete(dir): incomplete -> one line naming the folder, its kind and how to
 *    resume it; a corrupt marker -> one line; no marker -> accepted unless `required` (a folder
 *    from elsewhere, e.g. a Hugging Face model, has none; msae-only formats such as activation
 *    stores and SAE folders pass required: true).
 * 2. writeFolderAtomically(target, kind, fill): for outputs written in one go (an SAE folder, a
 *    harvest store): fill() writes into a temp folder `.<name>.tmp-<pid>-<hex>` beside target, the
 *    marker "complete" is added, and the temp folder is renamed onto target (rename(2): atomic; an
 *    existing target is refused unless replace). A killed writer leaves only the temp folder, which
 *    removeStaleTempFolders(parent) deletes once its process is gone.
 * 3. checkOutputFile(path, option) / checkOutputFolder(path, option): before the work, a UsageError
 *    (one line) when the output cannot be written: missing or non-folder parent, a folder where a
 *    file goes, no write permission (probed by creating and deleting a temp file, as the final
 *    atomic write will).
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { UsageError } from "../core/errors.ts";
import { atomicWriteJson, fsyncDirSync } from "./atomic.ts";

export const RUN_MARKER = "msae-run.json";
export const RUN_MARKER_FORMAT = "msae-run-1";

export interface RunMarker {
  format: typeof RUN_MARKER_FORMAT;
  /** What wrote the folder, e.g. "lm-train", "harvest", "sae-train". */
  kind: string;
  status: "incomplete" | "complete";
  updated_at: string;
  pid: number;
  /** How to finish an incomplete folder, e.g. "msae lm train --resume --out runs/x". */
  resume?: string;
  detail?: Record<string, unknown>;
}

export class IncompleteOutputError extends Error {
  override name = "IncompleteOutputError";
}

function writeMarker(
  dir: string,
  kind: string,
  status: RunMarker["status"],
  extra: { resume?: string; detail?: Record<string, unknown> },
): void {
  const marker: RunMarker = {
    format: RUN_MARKER_FORMAT,
    kind,
    status,
    updated_at: new Date().toISOString(),
    pid: process.pid,
    ...(extra.resume !== undefined ? { resume: extra.resume } : {}),
    ...(extra.detail !== undefined ? { detail: extra.detail } : {}),
  };
  atomicWriteJson(path.join(dir, RUN_MARKER), marker);
}

/** Marks `dir` (which must exist) as being written: loaders refuse it until markComplete. */
export function markIncomplete(
  dir: string,
  kind: string,
  extra: { resume?: string; detail?: Record<string, unknown> } = {},
): void {
  writeMarker(dir, kind, "incomplete", extra);
}

/** Marks `dir` complete; call only after every output file in it is committed. */
export function markComplete(dir: string, kind: string, extra: { detail?: Record<string, unknown> } = {}): void {
  writeMarker(dir, kind, "complete", extra);
}

/** The marker of `dir`, null when it has none; a one-line IncompleteOutputError when it is corrupt. */
export function readRunMarker(dir: string): RunMarker | null {
  const p = path.join(dir, RUN_MARKER);
  let text: string;
  try {
    text = fs.readFileSync(p, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new IncompleteOutputError(`${p}: cannot read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    throw new IncompleteOutputError(`${p} is not valid JSON; expected a ${RUN_MARKER_FORMAT} completion marker`);
  }
  const r = m as Partial<RunMarker> | null;
  if (
    !r ||
    typeof r !== "object" ||
    r.format !== RUN_MARKER_FORMAT ||
    typeof r.kind !== "string" ||
    (r.status !== "complete" && r.status !== "incomplete")
  )
    throw new IncompleteOutputError(
      `${p} is not a ${RUN_MARKER_FORMAT} marker; expected {"format": "${RUN_MARKER_FORMAT}", "kind": ..., "status": "complete" | "incomplete"}`,
    );
  return r as RunMarker;
}

export interface CheckCompleteOptions {
  /** Refuse a folder without a marker (msae-only formats). Default false. */
  required?: boolean;
  /** What the folder is for messages, e.g. "model folder". Default "folder". */
  what?: string;
  /** Marker kinds accepted (default any). */
  kinds?: readonly string[];
}

/**
 * Throws a one-line IncompleteOutputError unless `dir` is complete (see the file header). Returns
 * the marker (null for an unmarked folder when not required).
 */
export function checkComplete(dir: string, options: CheckCompleteOptions = {}): RunMarker | null {
  const what = options.what ?? "folder";
  const m = readRunMarker(dir);
  if (m === null) {
    if (options.required)
      throw new IncompleteOutputError(
        `${what} ${dir} has no ${RUN_MARKER}; expected a folder msae finished writing (was its writer killed before it started?)`,
      );
    return null;
  }
  if (options.kinds && !options.kinds.includes(m.kind))
    throw new IncompleteOutputError(
      `${what} ${dir} was written by ${JSON.stringify(m.kind)}; expected one of ${options.kinds.join(", ")}`,
    );
  if (m.status !== "complete") {
    const how = m.resume ? `finish it with \`${m.resume}\`` : "write it again";
    throw new IncompleteOutputError(
      `${what} ${dir} is incomplete: its ${m.kind} run stopped or was killed before the end (${RUN_MARKER}, ${m.updated_at}); ${how}, or use a finished one`,
    );
  }
  return m;
}

/** Describes a folder's completeness for reports: "complete (lm-train)", "incomplete ...", or null. */
export function describeCompletion(dir: string): { ok: boolean; text: string } | null {
  try {
    const m = checkComplete(dir);
    return m === null ? null : { ok: true, text: `complete (${m.kind}, ${m.updated_at})` };
  } catch (e) {
    return { ok: false, text: (e as Error).message };
  }
}

const TEMP_DIR = /^\..+\.tmp-(\d+)-[0-9a-f]{12}$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Writes a folder as a whole: fill(tempDir) writes everything into a fresh temp folder beside
 * `target`; then the completion marker is added, every file is fsynced, and the temp folder is
 * renamed onto `target`. On error the temp folder is removed and `target` is untouched. An existing
 * target is refused (one line) unless `replace`, which swaps it out after the new one is complete.
 */
export async function writeFolderAtomically<T>(
  target: string,
  kind: string,
  fill: (tempDir: string) => Promise<T> | T,
  options: { replace?: boolean; detail?: Record<string, unknown> } = {},
): Promise<T> {
  const abs = path.resolve(target);
  const parent = path.dirname(abs);
  if (fs.existsSync(abs) && !options.replace)
    throw new UsageError(`${target} already exists; expected a new output path (or remove it first)`);
  const tmp = path.join(parent, `.${path.basename(abs)}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
  fs.mkdirSync(tmp);
  try {
    const result = await fill(tmp);
    for (const name of fs.readdirSync(tmp)) {
      const p = path.join(tmp, name);
      if (!fs.statSync(p).isFile()) continue;
      const fd = fs.openSync(p, "r");
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    markComplete(tmp, kind, { detail: options.detail });
    if (fs.existsSync(abs)) {
      const old = `${tmp}.old`;
      fs.renameSync(abs, old);
      fs.renameSync(tmp, abs);
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(tmp, abs);
    }
    fsyncDirSync(parent);
    return result;
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Deletes temp folders (and files) left in `parent` by writers whose process is gone; returns their names. */
export function removeStaleTempFolders(parent: string): string[] {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync(parent);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return removed;
    throw err;
  }
  for (const name of entries) {
    const m = TEMP_DIR.exec(name.replace(/\.old$/, ""));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    fs.rmSync(path.join(parent, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** fs.statSync, or null when the path does not exist (ENOENT, or a file where a folder should be). */
function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw err;
  }
}

/** Probes that `dir` (an existing folder) accepts new files: creates and deletes a temp file. */
function probeWritable(dir: string, option: string, value: string): void {
  const probe = path.join(dir, `.msae-write-probe-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    fs.writeFileSync(probe, "", { flag: "wx" });
    fs.unlinkSync(probe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new UsageError(
      `${option} ${JSON.stringify(value)}: cannot write into ${dir} (${code}); expected a writable location`,
    );
  }
}

/** Before the work: `file` can be (re)written atomically. Throws a one-line UsageError. */
export function checkOutputFile(file: string, option = "output"): void {
  const abs = path.resolve(file);
  const st = statOrNull(abs);
  if (st?.isDirectory()) throw new UsageError(`${option} ${JSON.stringify(file)} is a folder; expected a file path`);
  const parent = path.dirname(abs);
  const pst = statOrNull(parent);
  if (!pst)
    throw new UsageError(
      `${option} ${JSON.stringify(file)}: folder ${parent} does not exist; expected an existing folder (create it first)`,
    );
  if (!pst.isDirectory())
    throw new UsageError(`${option} ${JSON.stringify(file)}: ${parent} is not a folder; expected a path in a folder`);
  probeWritable(parent, option, file);
}

/** Before the work: `dir` is an existing writable folder, or can be created (its parent is). */
export function checkOutputFolder(dir: string, option = "output"): void {
  const abs = path.resolve(dir);
  const st = statOrNull(abs);
  if (st) {
    if (!st.isDirectory()) throw new UsageError(`${option} ${JSON.stringify(dir)} is a file; expected a folder`);
    probeWritable(abs, option, dir);
    return;
  }
  // the nearest existing ancestor must be a writable folder (mkdir -p creates the rest)
  let up = path.dirname(abs);
  for (;;) {
    const ust = statOrNull(up);
    if (ust) {
      if (!ust.isDirectory())
        throw new UsageError(`${option} ${JSON.stringify(dir)}: ${up} is a file; expected a folder path`);
      probeWritable(up, option, dir);
      return;
    }
    const next = path.dirname(up);
    if (next === up) break;
    up = next;
  }
}
