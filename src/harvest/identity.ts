/**
 * Content identity of a model folder: sha256 over (name, bytes) of config.json, tokenizer.json and
 * every weight file (model.safetensors, or the shards a model.safetensors.index.json names, sorted),
 * streamed in 8 MB reads so a 5 GB checkpoint never sits in memory. Two folders with the same files
 * hash the same wherever they live; a changed weight or tokenizer changes it.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";

const CHUNK = 8 << 20;

function hashFile(h: ReturnType<typeof createHash>, file: string, buf: Uint8Array): void {
  const fd = openSync(file, "r");
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
}

/** The files that make up a model's identity, in hashing order. */
export function modelIdentityFiles(dir: string): string[] {
  const names = readdirSync(dir)
    .filter((f) => f.endsWith(".safetensors") || f === "model.safetensors.index.json")
    .sort();
  return ["config.json", "tokenizer.json", ...names].filter((f) => existsSync(join(dir, f)));
}

export function modelContentHash(dir: string): string {
  const h = createHash("sha256");
  const buf = new Uint8Array(CHUNK);
  for (const f of modelIdentityFiles(dir)) {
    h.update(`${f}\0`);
    hashFile(h, join(dir, f), buf);
    h.update("\0");
  }
  return h.digest("hex");
}
