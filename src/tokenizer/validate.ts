/**
 * Structural checks of a tokenizer.json before any library interprets it, so a file that would
 * load "somehow" (and tokenize differently from what it claims) is refused with one line:
 *
 * - model.type, when present, is BPE, Unigram, WordPiece or WordLevel, and the contents match it:
 *     BPE        vocab {token: id}, merges [ "a b" | ["a", "b"] ]; each merge's parts and their
 *                concatenation are tokens of the vocab (as the Rust tokenizers BPE builder
 *                requires; skipped with continuing_subword_prefix / end_of_word_suffix)
 *     Unigram    vocab [[piece, score], ...], no merges
 *     WordPiece / WordLevel  vocab {token: id}, no merges
 *   With no type, the contents decide (Tokenizers.js does the same) and are checked likewise.
 * - vocab ids are integers in [0, 2^31 - 2] (Int32 ids), each used by one token only;
 * - added_tokens are {id: integer >= 0, content: non-empty string}, and an added token whose
 *   content is also a vocab token has the same id there.
 * Each failure: `tokenizer file "<path>": <what>; expected <what>`.
 */
import type { TokenizerJson } from "./tokenizer-json.ts";

const TYPES = ["BPE", "Unigram", "WordPiece", "WordLevel"] as const;

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 60)}...` : s;
}

/** Largest token id accepted: ids are Int32 (Int32Array) and 1 + the largest id must be one too. */
export const MAX_TOKEN_ID = 2 ** 31 - 2;

function isId(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_TOKEN_ID;
}

/** Throws a one-line Error naming the first structural problem of `json` (read from `path`). */
export function validateTokenizerJson(path: string, json: TokenizerJson): void {
  const fail = (what: string): never => {
    throw new Error(`tokenizer file "${path}": ${what}`);
  };
  const m = json.model as Record<string, unknown>;
  const declared = m.type;
  if (declared !== undefined && !TYPES.includes(declared as (typeof TYPES)[number]))
    fail(`model.type is ${show(declared)}; expected one of ${TYPES.join(", ")}`);
  const vocab = m.vocab;
  const hasMerges = m.merges !== undefined && m.merges !== null;
  const inferred = Array.isArray(vocab) ? "Unigram" : hasMerges ? "BPE" : "WordPiece/WordLevel";
  const type = (declared as string | undefined) ?? inferred;
  const contents = `its contents are ${inferred}-style (${Array.isArray(vocab) ? "vocab is a list of [piece, score]" : hasMerges ? "vocab object with merges" : "vocab object, no merges"})`;

  if (type === "Unigram") {
    if (!Array.isArray(vocab)) fail(`model.type is Unigram but ${contents}; expected vocab [[piece, score], ...]`);
    if (hasMerges) fail("model.type is Unigram but it has merges; expected no merges in a Unigram model");
    (vocab as unknown[]).forEach((e, i) => {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== "string" || typeof e[1] !== "number")
        fail(`model.vocab[${i}] is ${show(e)}; expected [piece (string), score (number)]`);
    });
  } else {
    if (!vocab || typeof vocab !== "object" || Array.isArray(vocab))
      fail(`model.type is ${type} but ${contents}; expected vocab {token: id}`);
    if (type !== "BPE" && hasMerges) fail(`model.type is ${type} but it has merges; merges belong to a BPE model`);
    if (type === "BPE" && !Array.isArray(m.merges))
      fail(`model.type is BPE but merges is ${hasMerges ? show(m.merges) : "missing"}; expected a list of merges`);
  }

  // vocab ids: integers >= 0, unique
  const byToken = new Map<string, number>();
  if (!Array.isArray(vocab)) {
    const owner = new Map<number, string>();
    for (const [tok, id] of Object.entries(vocab as Record<string, unknown>)) {
      if (!isId(id)) fail(`model.vocab[${show(tok)}] is ${show(id)}; expected an integer id in [0, 2^31 - 2]`);
      const prev = owner.get(id as number);
      if (prev !== undefined) fail(`id ${id} is used by tokens ${show(prev)} and ${show(tok)}; expected unique ids`);
      owner.set(id as number, tok);
      byToken.set(tok, id as number);
    }
  }

  if (type === "BPE" && !m.continuing_subword_prefix && !m.end_of_word_suffix) {
    const merges = m.merges as unknown[];
    for (let i = 0; i < merges.length; i++) {
      const item = merges[i];
      const parts: unknown = typeof item === "string" ? item.split(" ") : item;
      if (!Array.isArray(parts) || parts.length !== 2 || typeof parts[0] !== "string" || typeof parts[1] !== "string")
        fail(`merge ${i} is ${show(item)}; expected "left right" or ["left", "right"]`);
      const [a, b] = parts as [string, string];
      for (const t of [a, b, a + b])
        if (!byToken.has(t))
          fail(
            `merge ${i} ${show(item)} uses ${show(t)}, which is not in model.vocab; expected merges of vocab tokens`,
          );
    }
  }

  const added = json.added_tokens;
  if (added !== undefined && added !== null) {
    if (!Array.isArray(added)) fail(`added_tokens is ${show(added)}; expected a list`);
    added.forEach((t, i) => {
      if (!t || typeof t !== "object" || !isId(t.id) || typeof t.content !== "string" || t.content.length === 0)
        fail(
          `added_tokens[${i}] is ${show(t)}; expected {id: integer in [0, 2^31 - 2], content: non-empty string, ...}`,
        );
      const inVocab = byToken.get(t.content);
      if (inVocab !== undefined && inVocab !== t.id)
        fail(
          `added token ${show(t.content)} has id ${t.id} but model.vocab gives it id ${inVocab}; expected the same id`,
        );
    });
  }
}
