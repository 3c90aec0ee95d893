/**
 * The context stream a harvest and the streaming buffer read: a corpus tokenized and packed into
 * contexts of C tokens exactly as SAELens does (src/data/packing.ts, BOS first), numbered from 0.
 * `contextRange(a, b)` yields contexts a .. b - 1 in order (the ones before a are packed and
 * skipped: packing is cheap beside the forward) and throws CorpusTooShort when the corpus ends first.
 */
import { crc32 } from "node:zlib";
import { packDocuments } from "../data/packing.ts";
import type { Corpus } from "../data/spec.ts";

export interface ContextTokenizer {
  encode(text: string): Int32Array;
  bosId: number | null;
  padId: number | null;
}

export class CorpusTooShort extends Error {
  override name = "CorpusTooShort";
  constructor(
    readonly available: number,
    readonly wanted: number,
    contextSize: number,
  ) {
    super(
      `the corpus has only ${available} contexts of ${contextSize} tokens (${available * contextSize} tokens); ` +
        `the harvest asks for ${wanted} contexts (${wanted * contextSize} tokens): lower --tokens or add data`,
    );
  }
}

export class ContextStream {
  private readonly corpus: Corpus;
  private readonly tokenizer: ContextTokenizer;
  readonly contextSize: number;

  constructor(corpus: Corpus, tokenizer: ContextTokenizer, contextSize: number) {
    this.corpus = corpus;
    this.tokenizer = tokenizer;
    this.contextSize = contextSize;
  }

  /** Contexts [start, end) as (index, ids [C]). */
  async *contextRange(start: number, end: number): AsyncGenerator<{ index: number; ids: Int32Array }> {
    let index = 0;
    for await (const ids of packDocuments(this.corpus.documents(), this.tokenizer, { contextSize: this.contextSize })) {
      if (index >= end) return;
      if (index >= start) yield { index, ids };
      index++;
    }
    if (index < end) throw new CorpusTooShort(index, end, this.contextSize);
  }
}

/** Packs up to `wanted` contexts without keeping them; throws CorpusTooShort when fewer exist (about 1M tokens/s). */
export async function requireContexts(stream: ContextStream, wanted: number): Promise<void> {
  for await (const _ of stream.contextRange(wanted, wanted)) break;
}

/** crc32 (8 hex digits) of token ids as little-endian Int32. */
export function tokensCrc(ids: Int32Array): string {
  return crc32(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength))
    .toString(16)
    .padStart(8, "0");
}
