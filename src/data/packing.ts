/**
 * Context packing: a stream of tokenized documents -> fixed-length contexts (default 128 tokens),
 * the way SAELens does it (sae_lens/tokenization_and_batching.py `concat_and_batch_sequences`, as
 * called by ActivationsStore with prepend_bos = True: begin_batch_token = BOS,
 * sequence_separator_token = BOS, begin_sequence_token = None, documents tokenized without BOS).
 *
 * Documents are concatenated into one stream cut every C tokens; per document d (ids t, length L):
 *   - L = 0: the document is skipped entirely (no separator either).
 *   - At the start of d, if beginSequenceToken is set and t[0] differs from it, it is prepended to d.
 *   - When a context is empty, beginBatchToken (BOS) is put at position 0 unless the next token
 *     already equals it; this happens for every context, also one that continues a document cut
 *     by the previous context (that context's tail is d's head; the new one starts BOS + rest of d).
 *   - When d starts inside a non-empty context, sequenceSeparatorToken (BOS) is inserted before it
 *     unless d's first token (after beginSequenceToken) already equals it. If only one slot is
 *     left, the separator takes it and d starts in the next context (after that context's BOS).
 *   - No EOS is appended to documents.
 *   - Remainder: the last, partial context is dropped (SAELens; remainder "drop", the default), or
 *     filled up with padId (remainder "pad"; callers mask PAD positions).
 * Example, C = 5, BOS = 0, documents [1 2 3] [4 5 6 7] []  [8]:
 *   [0 1 2 3 0] [0 4 5 6 7] ; [0 8] is the remainder (dropped, or [0 8 P P P] when padded).
 * Every context has BOS at position 0 and is exactly C long.
 */

export interface PackingOptions {
  contextSize?: number; // C, default 128
  beginBatchToken?: number | null; // token at position 0 of every context (SAELens begin_batch_token)
  sequenceSeparatorToken?: number | null; // inserted between documents in one context
  beginSequenceToken?: number | null; // prepended to every document (default none)
  remainder?: "drop" | "pad";
  padId?: number | null; // required for remainder "pad"
}

interface ResolvedOptions {
  contextSize: number;
  beginBatchToken: number | null;
  sequenceSeparatorToken: number | null;
  beginSequenceToken: number | null;
  remainder: "drop" | "pad";
  padId: number | null;
}

/** SAELens defaults for a tokenizer with BOS id bos: BOS at the start of every context and between documents. */
export function saelensPackingOptions(bos: number | null, contextSize = 128): PackingOptions {
  return { contextSize, beginBatchToken: bos, sequenceSeparatorToken: bos, beginSequenceToken: null };
}

/** Incremental packer: push one document's ids at a time, collect full contexts. */
export class ContextPacker {
  private readonly o: ResolvedOptions;
  private current: number[] = [];

  constructor(options: PackingOptions = {}) {
    const contextSize = options.contextSize ?? 128;
    if (!Number.isInteger(contextSize) || contextSize < 2) {
      throw new Error(`contextSize ${contextSize} is not valid: expected an integer >= 2`);
    }
    const remainder = options.remainder ?? "drop";
    const padId = options.padId ?? null;
    if (remainder === "pad" && padId === null)
      throw new Error('remainder "pad" needs a padId (the tokenizer has no pad token)');
    this.o = {
      contextSize,
      beginBatchToken: options.beginBatchToken ?? null,
      sequenceSeparatorToken: options.sequenceSeparatorToken ?? null,
      beginSequenceToken: options.beginSequenceToken ?? null,
      remainder,
      padId,
    };
  }

  /** Adds one document (token ids without BOS); returns the contexts it completed (each length C). */
  push(tokens: ArrayLike<number>): Int32Array[] {
    const { contextSize: C, beginBatchToken, sequenceSeparatorToken, beginSequenceToken } = this.o;
    const out: Int32Array[] = [];
    const L = tokens.length;
    let offset = 0;
    let startOfDocument = true;
    while (offset < L) {
      const prefix: number[] = [];
      let first = tokens[offset];
      if (startOfDocument && beginSequenceToken !== null && first !== beginSequenceToken) {
        prefix.push(beginSequenceToken);
        first = beginSequenceToken;
      }
      let take: number;
      if (this.current.length === 0) {
        if (beginBatchToken !== null && first !== beginBatchToken) prefix.unshift(beginBatchToken);
        take = Math.max(C - prefix.length, 0);
        for (let i = 0; i < Math.min(prefix.length, C); i++) this.current.push(prefix[i]);
      } else {
        if (sequenceSeparatorToken !== null && first !== sequenceSeparatorToken) prefix.unshift(sequenceSeparatorToken);
        const room = C - this.current.length;
        take = Math.max(room - prefix.length, 0);
        for (let i = 0; i < Math.min(prefix.length, room); i++) this.current.push(prefix[i]);
      }
      const end = Math.min(offset + take, L);
      for (let i = offset; i < end; i++) this.current.push(tokens[i]);
      offset += take;
      startOfDocument = false;
      if (this.current.length === C) {
        out.push(Int32Array.from(this.current));
        this.current = [];
      }
    }
    return out;
  }

  /** Ends the stream: the partial last context padded (remainder "pad"), or nothing ("drop"). */
  finish(): Int32Array[] {
    const rest = this.current;
    this.current = [];
    if (rest.length === 0 || this.o.remainder === "drop") return [];
    const ctx = new Int32Array(this.o.contextSize).fill(this.o.padId!);
    ctx.set(rest);
    return [ctx];
  }

  /** Tokens waiting in the partial context. */
  get pending(): number {
    return this.current.length;
  }
}

/** Packs a stream of tokenized documents into contexts of exactly contextSize ids. */
export async function* packTokens(
  documents: AsyncIterable<ArrayLike<number>> | Iterable<ArrayLike<number>>,
  options: PackingOptions,
): AsyncGenerator<Int32Array> {
  const packer = new ContextPacker(options);
  for await (const doc of documents) yield* packer.push(doc);
  yield* packer.finish();
}

/** Tokenizes documents (no specials added) as a stream. */
export async function* tokenizeDocuments(
  documents: AsyncIterable<string> | Iterable<string>,
  tokenizer: { encode(text: string): Int32Array },
): AsyncGenerator<Int32Array> {
  for await (const doc of documents) yield tokenizer.encode(doc);
}

/** Documents -> contexts with SAELens's defaults (BOS first in every context and between documents). */
export function packDocuments(
  documents: AsyncIterable<string> | Iterable<string>,
  tokenizer: { encode(text: string): Int32Array; bosId: number | null; padId: number | null },
  options: { contextSize?: number; remainder?: "drop" | "pad" } = {},
): AsyncGenerator<Int32Array> {
  if (tokenizer.bosId === null)
    throw new Error("the tokenizer has no BOS token: packing needs one (or call packTokens)");
  return packTokens(tokenizeDocuments(documents, tokenizer), {
    ...saelensPackingOptions(tokenizer.bosId, options.contextSize ?? 128),
    remainder: options.remainder ?? "drop",
    padId: tokenizer.padId,
  });
}
