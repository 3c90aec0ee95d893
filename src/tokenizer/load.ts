/**
 * loadTokenizer(path): any Hugging Face tokenizer.json (ours, GPT-2's, Gemma's SentencePiece-style
 * BPE with byte fallback, ...) behind one small interface for the LM runtime and the data pipeline.
 *
 * - The file is first checked structurally (validate.ts: model type vs contents, unique ids, merges
 *   of vocab tokens, added tokens consistent with the vocab), then always loaded by
 *   @huggingface/tokenizers (Tokenizers.js), which implements the whole HF pipeline; a file it
 *   rejects gives a one-line error. A bos/eos/pad token named in tokenizer_config.json that is not
 *   in the vocabulary is an error (not a silent fall-back to the usual names).
 * - For GPT-2-style byte-level BPE files (ours and GPT-2's) our own encoder (bpe-encoder.ts) is the
 *   fast path, used only after it reproduces Tokenizers.js's ids on a probe text; otherwise (or with
 *   engine "hf") every call goes through Tokenizers.js.
 * - encode(text) never adds special tokens (no BOS/EOS): callers decide (data/packing.ts prepends BOS
 *   as SAELens does). Special-token strings that occur literally in text map to their ids, as in HF.
 * - decode(ids) is exact: no clean-up of tokenization spaces, special tokens kept unless skipSpecial.
 * - bosId / eosId / padId: from tokenizer_config.json beside the file (bos_token, eos_token,
 *   pad_token) when present, else from added_tokens by the usual names (<bos>, <s>,
 *   <|begin_of_text|>, <|endoftext|> / <eos>, </s>, <|end_of_text|>, <|endoftext|> / <pad>, <|pad|>,
 *   [PAD]); null when the file has none (GPT-2 has no pad token).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type LoadedTokenizer, type LoadTokenizerOptions, tokenizerFromJson } from "./from-json.ts";
import type { TokenizerJson } from "./tokenizer-json.ts";

export type { LoadedTokenizer, LoadTokenizerOptions } from "./from-json.ts";

export function loadTokenizer(path: string, options: LoadTokenizerOptions = {}): LoadedTokenizer {
  if (!existsSync(path)) throw new Error(`tokenizer file "${path}" not found`);
  let json: TokenizerJson;
  try {
    json = JSON.parse(readFileSync(path, "utf8")) as TokenizerJson;
  } catch (e) {
    throw new Error(`tokenizer file "${path}" is not valid JSON: ${firstLine(e)}`);
  }
  if (!json || typeof json !== "object" || !json.model || typeof json.model !== "object") {
    throw new Error(`tokenizer file "${path}" is not a Hugging Face tokenizer.json: it has no "model" object`);
  }
  return tokenizerFromJson(json, () => readConfig(path), path, options);
}

/** tokenizer_config.json beside the tokenizer file, or {} (clean-up of spaces is always turned off). */
function readConfig(path: string): Record<string, unknown> {
  const configPath = join(dirname(path), "tokenizer_config.json");
  let config: Record<string, unknown> = {};
  if (existsSync(configPath)) {
    try {
      const parsed = JSON.parse(readFileSync(configPath, "utf8"));
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) config = parsed;
    } catch (e) {
      throw new Error(`tokenizer config "${configPath}" is not valid JSON: ${firstLine(e)}`);
    }
  }
  return { ...config, clean_up_tokenization_spaces: false };
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}
