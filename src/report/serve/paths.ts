/**
 * Request paths -> files under one root folder, refusing anything that could leave it.
 *
 * A path is split on "/" and each segment percent-decoded on its own, so an encoded slash
 * ("%2F") cannot join segments. Refused before the file system is touched (400): a path not
 * starting with "/", malformed percent-encoding, NUL (raw or encoded), backslashes, "." and ".."
 * segments (raw or encoded), segments that decode to contain "/", and over-long paths. Hidden
 * names (a segment starting with ".") are not served (404). Then the candidate is resolved with
 * realpath and must still lie under the root's realpath (403 otherwise: a symlink out of the root).
 * Only regular files are served; a folder is served through its index.html when it has one.
 */
import { promises as fsp } from "node:fs";
import { join, sep } from "node:path";

/** Longest decoded path and segment accepted. */
export const MAX_PATH_CHARS = 1024;
export const MAX_SEGMENT_CHARS = 255;

export type Resolved =
  | { ok: true; file: string; size: number }
  | { ok: false; status: 301; location: string }
  | { ok: false; status: 400 | 403 | 404; reason: string };

/** Decoded segments of a request path, or the reason it is refused. */
export function splitPath(rawPath: string): string[] | { status: 400 | 404; reason: string } {
  if (!rawPath.startsWith("/")) return { status: 400, reason: "the path must start with /" };
  if (rawPath.length > MAX_PATH_CHARS * 3) return { status: 400, reason: "the path is too long" };
  const out: string[] = [];
  const parts = rawPath.slice(1).split("/");
  for (let i = 0; i < parts.length; i++) {
    const raw = parts[i];
    if (raw === "" && i === parts.length - 1) break; // trailing slash
    if (raw === "") return { status: 400, reason: "empty path segment" };
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return { status: 400, reason: "malformed percent-encoding in the path" };
    }
    if (seg.includes("\0")) return { status: 400, reason: "NUL byte in the path" };
    if (seg.includes("/") || seg.includes("\\")) return { status: 400, reason: "slash or backslash inside a segment" };
    if (seg === "." || seg === "..") return { status: 400, reason: "dot segments are not allowed" };
    if (seg.length > MAX_SEGMENT_CHARS) return { status: 400, reason: "a path segment is too long" };
    if (seg.startsWith(".")) return { status: 404, reason: "hidden files are not served" };
    out.push(seg);
  }
  if (out.join("/").length > MAX_PATH_CHARS) return { status: 400, reason: "the path is too long" };
  return out;
}

/** True when `p` is `root` or inside it (both real paths). */
export function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The regular file `segments` names under `realRoot` (already a realpath). `trailingSlash`: whether
 * the request path ended in "/" (a folder without it is redirected to it, so relative links work).
 */
export async function resolveUnder(
  realRoot: string,
  segments: readonly string[],
  trailingSlash: boolean,
  urlPath: string,
): Promise<Resolved> {
  const candidate = join(realRoot, ...segments);
  let real: string;
  try {
    real = await fsp.realpath(candidate);
  } catch {
    return { ok: false, status: 404, reason: "not found" };
  }
  if (!isInside(realRoot, real)) return { ok: false, status: 403, reason: "the path leaves the served folder" };
  let st = await fsp.stat(real).catch(() => null);
  if (!st) return { ok: false, status: 404, reason: "not found" };
  if (st.isDirectory()) {
    if (!trailingSlash) return { ok: false, status: 301, location: `${urlPath}/` };
    const index = join(real, "index.html");
    let realIndex: string;
    try {
      realIndex = await fsp.realpath(index);
    } catch {
      return { ok: false, status: 404, reason: "a folder without index.html" };
    }
    if (!isInside(realRoot, realIndex)) return { ok: false, status: 403, reason: "the path leaves the served folder" };
    st = await fsp.stat(realIndex).catch(() => null);
    if (!st?.isFile()) return { ok: false, status: 404, reason: "a folder without index.html" };
    return { ok: true, file: realIndex, size: st.size };
  }
  if (!st.isFile()) return { ok: false, status: 404, reason: "not a regular file" };
  return { ok: true, file: real, size: st.size };
}
