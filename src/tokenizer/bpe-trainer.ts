/**
 * Byte-level BPE training (Sennrich et al. 2016, GPT-2 flavour) over pre-token word counts.
 *
 * Input: counts n(w) of pre-tokens w (from bytes.ts's regex split). Every word starts as its UTF-8
 * bytes, symbol id = (number of specials) + byte. A pair (x, y) is counted at every adjacent
 * position of every word, weighted by the word's count (overlapping positions too, so "aaa" counts
 * (a, a) twice, as Hugging Face's trainer does):
 *     count(x, y) = sum_w n(w) * #{i : w_i = x, w_(i+1) = y}
 * Each step merges the most frequent pair everywhere (left to right, non-overlapping, in every word)
 * into a new symbol z = x + y, until the vocabulary (specials + 256 bytes + merged tokens) reaches
 * vocabSize or the best count falls below minPairCount.
 * Deterministic tie-break: among equal counts the pair with the smaller left id wins, then the
 * smaller right id (ids: specials, then bytes 0..255, then merged tokens in creation order).
 * If x + y spells a token that already exists, the merge is recorded and reuses that id (as in HF).
 *
 * Incremental updates (no recount per merge): each pair keeps the list of words it occurs in; a merge
 * rewrites only those words and adjusts the counts of the neighbouring pairs:
 *     ... p x y q ...  ->  ... p z q ...:  (p,x) -= n, (y,q) -= n, (p,z) += n, (z,q) += n.
 * A max-heap holds (count, pair) entries that are upper bounds of the true counts (counts only fall,
 * except when a merge creates pairs, which are then pushed with their exact count); a popped entry
 * whose count is stale is pushed back with its true count, so the first exact entry popped is the
 * true maximum under the tie-break.
 */

import { byteToChar } from "./bytes.ts";

/** Pair key: left * KEY_BASE + right, exact in a double for ids < 2^21. */
const KEY_BASE = 2 ** 21;

export interface BpeTrainOptions {
  vocabSize: number; // total vocabulary including specials and the 256 bytes
  specials: readonly string[]; // special-token strings, ids 0..specials.length-1
  minPairCount?: number; // stop when the most frequent pair occurs fewer times (default 2)
  onProgress?: (merges: number, vocab: number) => void; // called every 500 merges
}

export interface BpeModel {
  tokens: string[]; // tokens[id]: specials as written; others in GPT-2 byte characters
  merges: [number, number][]; // merges in rank order, as (left id, right id)
  mergeIds: number[]; // mergeIds[r]: id of the token merge r produces
  numSpecials: number;
}

/** A max-heap of (count, key) with ties broken by the smaller key. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];
  get size(): number {
    return this.counts.length;
  }
  private above(i: number, j: number): boolean {
    const ci = this.counts[i];
    const cj = this.counts[j];
    return ci > cj || (ci === cj && this.keys[i] < this.keys[j]);
  }
  private swap(i: number, j: number): void {
    const c = this.counts[i];
    this.counts[i] = this.counts[j];
    this.counts[j] = c;
    const k = this.keys[i];
    this.keys[i] = this.keys[j];
    this.keys[j] = k;
  }
  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.above(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }
  /** Removes the top entry; returns [count, key]. */
  pop(): [number, number] {
    const top: [number, number] = [this.counts[0], this.keys[0]];
    const lastCount = this.counts.pop()!;
    const lastKey = this.keys.pop()!;
    const n = this.counts.length;
    if (n > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < n && this.above(l, best)) best = l;
        if (r < n && this.above(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

/**
 * Trains byte-level BPE merges from word counts.
 * words: pre-token -> count (the raw text of each pre-token; it is UTF-8 encoded here).
 */
export function trainBpe(words: ReadonlyMap<string, number>, options: BpeTrainOptions): BpeModel {
  const { vocabSize, specials } = options;
  const minPairCount = options.minPairCount ?? 2;
  const numSpecials = specials.length;
  const base = numSpecials + 256;
  if (!Number.isInteger(vocabSize) || vocabSize < base || vocabSize >= KEY_BASE) {
    throw new Error(`vocabSize ${vocabSize} is not valid: expected an integer in [${base}, ${KEY_BASE - 1}]`);
  }
  if (new Set(specials).size !== specials.length) throw new Error("special tokens must be distinct");

  // Vocabulary: specials, then the 256 byte characters (GPT-2 table), then merged tokens.
  const tokens: string[] = [...specials];
  for (let b = 0; b < 256; b++) tokens.push(byteToChar[b]);
  const idOf = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (!idOf.has(t)) idOf.set(t, i);
  });

  // Words as symbol arrays (rewritten in place), their lengths and counts.
  const encoder = new TextEncoder();
  const wordSyms: Int32Array[] = [];
  const wordCount: number[] = [];
  for (const [w, n] of words) {
    if (n <= 0) continue;
    const bytes = encoder.encode(w);
    if (bytes.length < 1) continue;
    const syms = new Int32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) syms[i] = numSpecials + bytes[i];
    wordSyms.push(syms);
    wordCount.push(n);
  }
  const wordLen = Int32Array.from(wordSyms, (s) => s.length);

  // Initial pair counts and pair -> words lists.
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  const addWord = (key: number, w: number): void => {
    const list = pairWords.get(key);
    if (list === undefined) pairWords.set(key, [w]);
    else if (list[list.length - 1] !== w) list.push(w);
  };
  for (let w = 0; w < wordSyms.length; w++) {
    const syms = wordSyms[w];
    const n = wordCount[w];
    for (let i = 0; i + 1 < syms.length; i++) {
      const key = syms[i] * KEY_BASE + syms[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + n);
      addWord(key, w);
    }
  }
  const heap = new PairHeap();
  for (const [key, c] of pairCount) heap.push(c, key);

  const merges: [number, number][] = [];
  const mergeIds: number[] = [];
  const visited = new Int32Array(wordSyms.length).fill(-1);
  const change = (key: number, delta: number): void => {
    pairCount.set(key, (pairCount.get(key) ?? 0) + delta);
  };

  while (tokens.length < vocabSize && heap.size > 0) {
    const [c, key] = heap.pop();
    const actual = pairCount.get(key) ?? 0;
    if (actual !== c) {
      if (actual > 0) heap.push(actual, key);
      continue;
    }
    if (c < minPairCount) break;
    const x = Math.floor(key / KEY_BASE);
    const y = key - x * KEY_BASE;
    const text = tokens[x] + tokens[y];
    let z = idOf.get(text);
    if (z !== undefined && z < numSpecials) {
      // Never spell a special token with ordinary bytes: drop this pair for good.
      pairCount.delete(key);
      pairWords.delete(key);
      continue;
    }
    if (z === undefined) {
      z = tokens.length;
      tokens.push(text);
      idOf.set(text, z);
    }
    const mergeIndex = merges.length;
    merges.push([x, y]);
    mergeIds.push(z);

    const created = new Set<number>(); // pairs that gained counts: pushed with exact counts below
    for (const w of pairWords.get(key) ?? []) {
      if (visited[w] === mergeIndex) continue;
      visited[w] = mergeIndex;
      const syms = wordSyms[w];
      const len = wordLen[w];
      const n = wordCount[w];
      let j = 0;
      let i = 0;
      while (i < len) {
        if (i + 1 < len && syms[i] === x && syms[i + 1] === y) {
          if (j > 0) {
            const p = syms[j - 1];
            change(p * KEY_BASE + x, -n);
            const k = p * KEY_BASE + z;
            change(k, n);
            created.add(k);
            addWord(k, w);
          }
          if (i + 2 < len) {
            const q = syms[i + 2];
            change(y * KEY_BASE + q, -n);
            const k = z * KEY_BASE + q;
            change(k, n);
            created.add(k);
            addWord(k, w);
          }
          syms[j++] = z;
          i += 2;
        } else {
          syms[j++] = syms[i++];
        }
      }
      wordLen[w] = j;
    }
    pairCount.delete(key);
    pairWords.delete(key);
    for (const k of created) {
      const cnt = pairCount.get(k) ?? 0;
      if (cnt > 0) heap.push(cnt, k);
      else pairCount.delete(k);
    }
    if (options.onProgress && merges.length % 500 === 0) options.onProgress(merges.length, tokens.length);
  }
  return { tokens, merges, mergeIds, numSpecials };
}
