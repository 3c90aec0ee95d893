/**
 * SAELens cfg.json files: read (v5 or v6) and written (v6). The format itself (fields, the v5 -> v6
 * conversion, validation) is saelens-config.ts, which has no file system.
 */
import { readFileSync } from "node:fs";
import { atomicWriteJson } from "./atomic.ts";
import { parseSaelensConfig, type SaelensConfig, saelensConfigJson } from "./saelens-config.ts";

export * from "./saelens-config.ts";

/** Reads and parses `<folder>/cfg.json` (or the given file). */
export function readSaelensConfig(path: string): SaelensConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      `${path}: cannot read (${code === "ENOENT" ? "no such file" : code}); expected an SAELens cfg.json`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    // JSON.parse quotes the bad text: keep one line with no control characters.
    const first = (err as Error).message.split(/[\r\n]/)[0];
    const why = Array.from(first, (ch) => (ch.charCodeAt(0) < 32 || ch.charCodeAt(0) === 127 ? "?" : ch)).join("");
    throw new Error(`${path}: not valid JSON (${why}); expected an SAELens cfg.json`);
  }
  return parseSaelensConfig(raw, path);
}

/** Writes cfg.json atomically in the v6 layout. */
export function writeSaelensConfig(path: string, cfg: Omit<SaelensConfig, "layout">): void {
  atomicWriteJson(path, saelensConfigJson(cfg));
}
