/**
 * tokenizerFromJson: a parsed Hugging Face tokenizer.json (+ tokenizer_config.json fields) ->
 * LoadedTokenizer, with no file system (load.ts reads the files; the browser explorer fetches them).
 * Semantics as in load.ts's header: Tokenizers.js always loads the file; our byte-level BPE encoder
 * is the fast path only after it reproduces Tokenizers.js's ids on a probe text.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { BpeEncoder } from "./bpe-encoder.ts";
import { byteLevelBpeParts, type TokenizerJson } from "./tokenizer-json.ts";
import { validateTokenizerJson } from "./validate.ts";

export interface LoadedTokenizer {
  path: string;
  /** "msae-bpe": our byte-level encoder (checked against Tokenizers.js at load); "huggingface": Tokenizers.js. */
  engine: "msae-bpe" | "huggingface";
  vocabSize: number; // 1 + the largest id (model vocabulary and added tokens)
  bosId: number | null;
  eosId: number | null;
  padId: number | null;
  specialIds: ReadonlySet<number>; // ids of added tokens marked special
  encode(text: string): Int32Array;
  decode(ids: ArrayLike<number>, options?: { skipSpecial?: boolean }): string;
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
}

export interface LoadTokenizerOptions {
  engine?: "auto" | "hf"; // "auto" (default): our encoder when the file allows it and agrees with HF
}

const BOS_NAMES = ["<bos>", "<s>", "<|begin_of_text|>", "<|endoftext|>"];
const EOS_NAMES = ["<eos>", "</s>", "<|end_of_text|>", "<|endoftext|>"];
const PAD_NAMES = ["<pad>", "<|pad|>", "[PAD]"];
const PROBE_TEXT =
  "The quick brown fox's 12,345 jumps -- over\n\n  the lazy dog? Ünïcödé 日本語 😀 e\u0301 <bos>x<eos> don't\tend  ";

/**
 * json: tokenizer.json parsed (checked to be an object with a "model" object by the caller);
 * config: tokenizer_config.json fields (bos_token, eos_token, pad_token, ...), or a function reading
 * them (called after the structural check of validate.ts); path names the file in errors.
 */
export function tokenizerFromJson(
  json: TokenizerJson,
  configIn: Record<string, unknown> | (() => Record<string, unknown>),
  path: string,
  options: LoadTokenizerOptions = {},
): LoadedTokenizer {
  if (!json || typeof json !== "object" || !json.model || typeof json.model !== "object") {
    throw new Error(`tokenizer file "${path}" is not a Hugging Face tokenizer.json: it has no "model" object`);
  }
  validateTokenizerJson(path, json);
  const fields = typeof configIn === "function" ? configIn() : configIn;
  const config: Record<string, unknown> = { ...fields, clean_up_tokenization_spaces: false };
  const configPath = `${path.replace(/[^/\\]*$/, "")}tokenizer_config.json`;
  let hf: Tokenizer;
  try {
    hf = new Tokenizer(
      { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...json },
      config,
    );
  } catch (e) {
    throw new Error(`tokenizer file "${path}" could not be loaded by @huggingface/tokenizers: ${firstLine(e)}`);
  }

  const added = json.added_tokens ?? [];
  const specialIds = new Set(added.filter((t) => t.special).map((t) => t.id));
  let maxId = -1;
  for (const t of added) maxId = Math.max(maxId, t.id);
  const vocabObj = json.model.vocab;
  if (vocabObj && typeof vocabObj === "object" && !Array.isArray(vocabObj)) {
    for (const id of Object.values(vocabObj as Record<string, number>))
      if (typeof id === "number") maxId = Math.max(maxId, id);
  } else if (Array.isArray(vocabObj)) {
    maxId = Math.max(maxId, vocabObj.length - 1); // Unigram: [[piece, score], ...]
  }
  const vocabSize = maxId + 1;
  const findId = (configKey: string, names: string[]): number | null => {
    const v = config[configKey];
    const fromConfig = typeof v === "string" ? v : (v as { content?: string } | undefined)?.content;
    if (fromConfig !== undefined) {
      const id = hf.token_to_id(fromConfig);
      if (id !== undefined) return id;
      throw new Error(
        `tokenizer config "${configPath}": ${configKey} ${JSON.stringify(fromConfig)} is not a token of "${path}"; expected one of its tokens`,
      );
    }
    for (const name of names) {
      const t = added.find((a) => a.content === name);
      if (t) return t.id;
    }
    return null;
  };

  const hfEncode = (text: string): Int32Array =>
    text.length === 0 ? new Int32Array(0) : Int32Array.from(hf.encode(text, { add_special_tokens: false }).ids);
  const hfDecode = (ids: ArrayLike<number>, skipSpecial: boolean): string => {
    if (ids.length === 0) return "";
    const list = Array.from(ids);
    for (const id of list) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize || hf.id_to_token(id) === undefined) {
        throw new Error(`token id ${id} is not in the vocabulary of "${path}" (size ${vocabSize})`);
      }
    }
    return hf.decode(list, { skip_special_tokens: skipSpecial, clean_up_tokenization_spaces: false });
  };

  let fast: BpeEncoder | null = null;
  if ((options.engine ?? "auto") === "auto") {
    const parts = byteLevelBpeParts(json);
    if (typeof parts !== "string") {
      try {
        const candidate = new BpeEncoder(parts.vocab, parts.merges, parts.added);
        const ours = candidate.encode(PROBE_TEXT);
        const theirs = hfEncode(PROBE_TEXT);
        if (ours.length === theirs.length && ours.every((v, i) => v === theirs[i])) fast = candidate;
      } catch {
        fast = null; // malformed for our encoder: Tokenizers.js decides
      }
    }
  }

  const base = {
    path,
    vocabSize,
    bosId: findId("bos_token", BOS_NAMES),
    eosId: findId("eos_token", EOS_NAMES),
    padId: findId("pad_token", PAD_NAMES),
    specialIds,
    idToToken: (id: number) => hf.id_to_token(id),
    tokenToId: (token: string) => hf.token_to_id(token),
  };
  if (fast) {
    const enc = fast;
    return {
      ...base,
      engine: "msae-bpe",
      encode: (text) => enc.encode(text),
      decode: (ids, o) => {
        try {
          return enc.decode(ids, o?.skipSpecial ? specialIds : undefined);
        } catch (e) {
          throw new Error(`${firstLine(e)} of "${path}" (size ${vocabSize})`);
        }
      },
    };
  }
  return {
    ...base,
    engine: "huggingface",
    encode: hfEncode,
    decode: (ids, o) => hfDecode(ids, o?.skipSpecial ?? false),
  };
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}
