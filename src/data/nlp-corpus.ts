/**
 * nlp-corpus (npm): ~100k English sentences from very mixed sources (lyrics, TV transcripts, SMS,
 * legal text, reddit, ...), our out-of-distribution text. The package ships builds/doc-0.json ..
 * doc-99.json, each a JSON array of strings, already shuffled; each string is one document here
 * (files in numeric order 0..99, strings in file order). Empty strings are skipped.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** Folder holding doc-N.json. */
export function nlpCorpusDirectory(): string {
  const require = createRequire(import.meta.url);
  // the package exports only "." (src/server/index.js); builds/ is two folders up from it
  return join(dirname(require.resolve("nlp-corpus")), "..", "..", "builds");
}

/** Every non-empty string of the corpus, one document each, in a fixed order. */
export function* nlpCorpusDocuments(dir = nlpCorpusDirectory()): Generator<string> {
  const files = readdirSync(dir)
    .map((f) => /^doc-(\d+)\.json$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((m) => m[0]);
  if (files.length === 0) throw new Error(`nlp-corpus in "${dir}" has no doc-N.json files`);
  for (const file of files) {
    const items: unknown = JSON.parse(readFileSync(join(dir, file), "utf8"));
    if (!Array.isArray(items)) throw new Error(`nlp-corpus file "${file}" is not a JSON array`);
    for (const item of items) if (typeof item === "string" && item.length > 0) yield item;
  }
}
