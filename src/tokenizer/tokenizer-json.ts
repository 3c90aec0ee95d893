/**
 * The Hugging Face tokenizer.json format for byte-level BPE: writing the file the trainer produces,
 * and reading the parts our own encoder needs from any GPT-2-style file.
 *
 * What we write (loads in @huggingface/tokenizers and Python `tokenizers`):
 *   added_tokens: the specials (ids 0..k-1; default <bos> 0, <eos> 1, <pad> 2), special = true,
 *                 normalized = false, no lstrip/rstrip/single_word;
 *   normalizer: null;  pre_tokenizer: ByteLevel (add_prefix_space false, trim_offsets true, use_regex true);
 *   post_processor: TemplateProcessing "<bos> $A" (pair: "<bos> $A <bos> $B"), i.e. the HF libraries
 *                 prepend <bos> when asked to add special tokens, as Gemma's tokenizer does; our own
 *                 loadTokenizer().encode never adds specials (the packer puts BOS where SAELens does);
 *   decoder: ByteLevel;
 *   model: BPE, vocab token -> id (specials, then the 256 byte characters in byte order, then merged
 *          tokens in creation order), merges as "left right" strings in rank order (the classic form
 *          every tokenizers version reads; byte-level tokens never contain a space).
 */

import type { AddedTokenSpec } from "./bpe-encoder.ts";
import type { BpeModel } from "./bpe-trainer.ts";

export interface TokenizerJson {
  version?: string;
  added_tokens?: {
    id: number;
    content: string;
    special?: boolean;
    lstrip?: boolean;
    rstrip?: boolean;
    single_word?: boolean;
    normalized?: boolean;
  }[];
  normalizer?: unknown;
  pre_tokenizer?: unknown;
  post_processor?: unknown;
  decoder?: unknown;
  model?: {
    type?: string;
    vocab?: Record<string, number> | unknown;
    merges?: unknown;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** Builds the tokenizer.json object for a trained model; bos is the special prepended by the template. */
export function buildTokenizerJson(model: BpeModel, bos: string | null): TokenizerJson {
  const vocab: Record<string, number> = {};
  model.tokens.forEach((t, id) => {
    if (!(t in vocab)) vocab[t] = id;
  });
  const merges = model.merges.map(([l, r]) => `${model.tokens[l]} ${model.tokens[r]}`);
  const specials = model.tokens.slice(0, model.numSpecials);
  const bosId = bos === null ? -1 : specials.indexOf(bos);
  if (bos !== null && bosId < 0) throw new Error(`BOS token ${JSON.stringify(bos)} is not one of the specials`);
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  const postProcessor =
    bos === null
      ? null
      : {
          type: "TemplateProcessing",
          single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
          pair: [
            { SpecialToken: { id: bos, type_id: 0 } },
            { Sequence: { id: "A", type_id: 0 } },
            { SpecialToken: { id: bos, type_id: 1 } },
            { Sequence: { id: "B", type_id: 1 } },
          ],
          special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
        };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: postProcessor,
    decoder: { ...byteLevel, add_prefix_space: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/** Serializes with one vocab entry / merge per line (diff-friendly, still standard JSON). */
export function stringifyTokenizerJson(json: TokenizerJson): string {
  return `${JSON.stringify(json, null, 1)}\n`;
}

export interface ByteLevelBpeParts {
  vocab: Map<string, number>;
  merges: [string, string][];
  added: AddedTokenSpec[];
}

/**
 * The vocab, merges and added tokens of a GPT-2-style byte-level BPE file, or a reason string if the
 * file uses anything our encoder does not implement (then callers use @huggingface/tokenizers).
 */
export function byteLevelBpeParts(json: TokenizerJson): ByteLevelBpeParts | string {
  const m = json.model;
  if (m?.type !== "BPE") return "model is not BPE";
  if (json.normalizer != null) return "has a normalizer";
  const pre = json.pre_tokenizer as { type?: string; add_prefix_space?: boolean; use_regex?: boolean } | null;
  if (pre?.type !== "ByteLevel" || pre.add_prefix_space === true || pre.use_regex === false) {
    return "pre_tokenizer is not ByteLevel(add_prefix_space=false, use_regex=true)";
  }
  const dec = json.decoder as { type?: string } | null;
  if (dec?.type !== "ByteLevel") return "decoder is not ByteLevel";
  if (m.byte_fallback === true || m.ignore_merges === true || m.dropout != null)
    return "uses BPE options we do not implement";
  if (m.continuing_subword_prefix || m.end_of_word_suffix) return "uses subword prefixes/suffixes";
  if (!m.vocab || typeof m.vocab !== "object" || Array.isArray(m.vocab)) return "model.vocab is not an object";
  if (!Array.isArray(m.merges)) return "model.merges is not an array";
  const vocab = new Map<string, number>(Object.entries(m.vocab as Record<string, number>));
  const merges: [string, string][] = [];
  for (const item of m.merges as unknown[]) {
    if (typeof item === "string") {
      const parts = item.split(" ");
      if (parts.length !== 2) return `merge ${JSON.stringify(item)} is not "left right"`;
      merges.push([parts[0], parts[1]]);
    } else if (Array.isArray(item) && item.length === 2 && typeof item[0] === "string" && typeof item[1] === "string") {
      merges.push([item[0], item[1]]);
    } else {
      return "a merge is neither a string nor a pair of strings";
    }
  }
  const added: AddedTokenSpec[] = [];
  for (const t of json.added_tokens ?? []) {
    if (t.lstrip || t.rstrip || t.single_word)
      return `added token ${JSON.stringify(t.content)} uses lstrip/rstrip/single_word`;
    added.push({ id: t.id, content: t.content });
  }
  return { vocab, merges, added };
}
