/**
 * Training a byte-level BPE tokenizer from a stream of documents, end to end:
 *   documents -> cut out special-token strings -> GPT-2 regex pre-tokens -> word counts n(w)
 *   -> trainBpe (bpe-trainer.ts) -> HF tokenizer.json (tokenizer-json.ts), written atomically.
 * Specials default to <bos> (id 0), <eos> (1), <pad> (2); the 256 bytes follow (ids 3..258), then
 * the merged tokens (259..vocabSize-1).
 */
import { atomicWriteFile } from "../io/atomic.ts";
import { type BpeModel, trainBpe } from "./bpe-trainer.ts";
import { preTokenize, splitSpecials } from "./bytes.ts";
import { buildTokenizerJson, stringifyTokenizerJson, type TokenizerJson } from "./tokenizer-json.ts";

export const DEFAULT_SPECIALS = ["<bos>", "<eos>", "<pad>"] as const;

export interface TrainTokenizerOptions {
  vocabSize: number;
  specials?: readonly string[]; // default <bos>, <eos>, <pad>
  bos?: string | null; // special the TemplateProcessing prepends (default the first special); null: none
  minPairCount?: number; // default 2
  onProgress?: (message: string) => void;
}

export interface TrainTokenizerResult {
  json: TokenizerJson;
  model: BpeModel;
  stats: {
    documents: number;
    characters: number;
    preTokens: number; // total pre-token occurrences
    uniqueWords: number;
    merges: number;
    vocabSize: number; // reached (smaller than asked if the corpus ran out of pairs)
    countSeconds: number;
    mergeSeconds: number;
  };
}

/** Counts pre-tokens over all documents (special-token strings are cut out first). */
export async function countWords(
  documents: AsyncIterable<string> | Iterable<string>,
  specials: readonly string[],
  onDocument?: (documents: number, characters: number) => void,
): Promise<{ words: Map<string, number>; documents: number; characters: number; preTokens: number }> {
  const words = new Map<string, number>();
  let docs = 0;
  let chars = 0;
  let preTokens = 0;
  for await (const doc of documents) {
    if (typeof doc !== "string") throw new Error(`document ${docs} is not a string`);
    docs++;
    chars += doc.length;
    for (const section of splitSpecials(doc, specials)) {
      if (section.special >= 0) continue;
      for (const piece of preTokenize(section.text)) {
        words.set(piece, (words.get(piece) ?? 0) + 1);
        preTokens++;
      }
    }
    onDocument?.(docs, chars);
  }
  return { words, documents: docs, characters: chars, preTokens };
}

export async function trainTokenizer(
  documents: AsyncIterable<string> | Iterable<string>,
  options: TrainTokenizerOptions,
): Promise<TrainTokenizerResult> {
  const specials = options.specials ?? DEFAULT_SPECIALS;
  for (const s of specials) {
    if (s.length < 2)
      throw new Error(`special token ${JSON.stringify(s)} is not valid: expected at least 2 characters`);
  }
  const bos = options.bos === undefined ? (specials[0] ?? null) : options.bos;
  const t0 = performance.now();
  const counted = await countWords(documents, specials, (d, c) => {
    if (d % 1000 === 0) options.onProgress?.(`read ${d} documents (${c} characters)`);
  });
  if (counted.words.size === 0) throw new Error("the training corpus is empty: no text to learn merges from");
  const t1 = performance.now();
  options.onProgress?.(
    `counted ${counted.preTokens} pre-tokens (${counted.words.size} distinct) in ${counted.documents} documents`,
  );
  const model = trainBpe(counted.words, {
    vocabSize: options.vocabSize,
    specials,
    minPairCount: options.minPairCount,
    onProgress: (m, v) => options.onProgress?.(`${m} merges, vocabulary ${v}/${options.vocabSize}`),
  });
  const t2 = performance.now();
  return {
    json: buildTokenizerJson(model, bos),
    model,
    stats: {
      documents: counted.documents,
      characters: counted.characters,
      preTokens: counted.preTokens,
      uniqueWords: counted.words.size,
      merges: model.merges.length,
      vocabSize: model.tokens.length,
      countSeconds: (t1 - t0) / 1000,
      mergeSeconds: (t2 - t1) / 1000,
    },
  };
}

/** Writes tokenizer.json atomically (temp file + fsync + rename, src/io/atomic.ts). */
export function writeTokenizerJson(path: string, json: TokenizerJson): void {
  atomicWriteFile(path, stringifyTokenizerJson(json));
}
