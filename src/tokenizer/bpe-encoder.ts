/**
 * Our own byte-level BPE encoder/decoder for GPT-2-style tokenizer.json files (the ones
 * `msae tokenizer train` writes, and GPT-2's): the independent check of @huggingface/tokenizers
 * and the fast path of loadTokenizer.
 *
 * encode(text):
 *   1. cut out added/special tokens (leftmost, longest first) -> their ids;
 *   2. split the rest with the GPT-2 regex (bytes.ts), UTF-8 encode each pre-token, byte b -> id of
 *      the vocabulary token spelling b in GPT-2 byte characters;
 *   3. BPE on each pre-token: while some adjacent pair (x, y) has a merge rule, apply the one with
 *      the lowest rank r(x, y), the leftmost on ties: x y -> id(x + y). (A heap of (rank, position)
 *      candidates keeps this O(n log n) for long pre-tokens; results are cached per pre-token.)
 * decode(ids): concatenate the bytes of the tokens (an added token contributes its text), decoding
 * each run between added tokens as UTF-8 (invalid bytes -> U+FFFD, a leading U+FEFF kept), which is
 * what the HF ByteLevel decoder does.
 */
import { byteToChar, preTokenize, splitSpecials, tokenStringToBytes } from "./bytes.ts";

const KEY_BASE = 2 ** 21;
const CACHE_LIMIT = 200_000;

export interface AddedTokenSpec {
  id: number;
  content: string;
}

export class BpeEncoder {
  private readonly byteIds = new Int32Array(256);
  private readonly mergeRank = new Map<number, number>(); // pair key -> rank
  private readonly mergeResult = new Map<number, number>(); // pair key -> merged token id
  private readonly tokenBytes: (Uint8Array | null)[] = []; // id -> bytes (null for added tokens)
  private readonly addedById = new Map<number, string>();
  private readonly addedContents: string[];
  private readonly addedIds: number[];
  private readonly cache = new Map<string, Int32Array>();
  private readonly utf8 = new TextEncoder();
  private readonly utf8Decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  private heapRank = new Float64Array(64);
  private heapPos = new Int32Array(64);

  /**
   * vocab: token string -> id (GPT-2 byte characters); merges: pairs of token strings in rank order;
   * added: added/special tokens (matched in raw text, decoded as their literal content).
   * Throws a one-line error if a byte has no token or a merge refers to a missing token.
   */
  constructor(
    vocab: ReadonlyMap<string, number>,
    merges: readonly (readonly [string, string])[],
    added: readonly AddedTokenSpec[],
  ) {
    for (const [token, id] of vocab) {
      if (!Number.isInteger(id) || id < 0 || id >= KEY_BASE)
        throw new Error(`token ${JSON.stringify(token)} has invalid id ${id}`);
      this.tokenBytes[id] = tokenStringToBytes(token);
    }
    for (const a of added) this.addedById.set(a.id, a.content);
    this.addedContents = added.map((a) => a.content);
    this.addedIds = added.map((a) => a.id);
    for (let b = 0; b < 256; b++) {
      const id = vocab.get(byteToChar[b]);
      if (id === undefined)
        throw new Error(`the vocabulary has no token for byte ${b} (${JSON.stringify(byteToChar[b])})`);
      this.byteIds[b] = id;
    }
    merges.forEach(([left, right], rank) => {
      const l = vocab.get(left);
      const r = vocab.get(right);
      const m = vocab.get(left + right);
      if (l === undefined || r === undefined || m === undefined) {
        throw new Error(
          `merge ${rank} (${JSON.stringify(left)} ${JSON.stringify(right)}) refers to a token not in the vocabulary`,
        );
      }
      const key = l * KEY_BASE + r;
      if (!this.mergeRank.has(key)) {
        this.mergeRank.set(key, rank);
        this.mergeResult.set(key, m);
      }
    });
  }

  /** Token ids of text (no BOS/EOS added). */
  encode(text: string): Int32Array {
    const out: number[] = [];
    for (const section of splitSpecials(text, this.addedContents)) {
      if (section.special >= 0) {
        out.push(this.addedIds[section.special]);
        continue;
      }
      for (const piece of preTokenize(section.text)) {
        const ids = this.encodePiece(piece);
        for (let i = 0; i < ids.length; i++) out.push(ids[i]);
      }
    }
    return Int32Array.from(out);
  }

  /** The text of ids; an id outside the vocabulary throws. */
  decode(ids: ArrayLike<number>, skipIds?: ReadonlySet<number>): string {
    let text = "";
    let run: number[] = [];
    const flush = (): void => {
      if (run.length > 0) text += this.utf8Decoder.decode(Uint8Array.from(run));
      run = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (skipIds?.has(id)) continue;
      const added = this.addedById.get(id);
      if (added !== undefined) {
        flush();
        text += added;
        continue;
      }
      const bytes = this.tokenBytes[id];
      if (!bytes) throw new Error(`token id ${id} is not in the vocabulary`);
      for (const b of bytes) run.push(b);
    }
    flush();
    return text;
  }

  private encodePiece(piece: string): Int32Array {
    const hit = this.cache.get(piece);
    if (hit) return hit;
    const bytes = this.utf8.encode(piece);
    const n = bytes.length;
    const sym = new Int32Array(n);
    for (let i = 0; i < n; i++) sym[i] = this.byteIds[bytes[i]];
    const result = n > 1 ? this.applyMerges(sym) : sym;
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    if (piece.length < 256) this.cache.set(piece, result);
    return result;
  }

  /** BPE on one pre-token: lowest rank first, leftmost on ties; sym is overwritten. */
  private applyMerges(sym: Int32Array): Int32Array {
    const n = sym.length;
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    if (this.heapRank.length < 3 * n) {
      this.heapRank = new Float64Array(3 * n);
      this.heapPos = new Int32Array(3 * n);
    }
    const hr = this.heapRank;
    const hp = this.heapPos;
    let size = 0;
    // heap order: smaller rank first, then smaller position
    const less = (i: number, j: number): boolean => hr[i] < hr[j] || (hr[i] === hr[j] && hp[i] < hp[j]);
    const swap = (i: number, j: number): void => {
      const r = hr[i];
      hr[i] = hr[j];
      hr[j] = r;
      const p = hp[i];
      hp[i] = hp[j];
      hp[j] = p;
    };
    const push = (pos: number): void => {
      const nx = next[pos];
      if (nx < 0) return;
      const rank = this.mergeRank.get(sym[pos] * KEY_BASE + sym[nx]);
      if (rank === undefined) return;
      hr[size] = rank;
      hp[size] = pos;
      let i = size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!less(i, parent)) break;
        swap(i, parent);
        i = parent;
      }
    };
    for (let i = 0; i + 1 < n; i++) push(i);
    while (size > 0) {
      const rank = hr[0];
      const pos = hp[0];
      size--;
      if (size > 0) {
        hr[0] = hr[size];
        hp[0] = hp[size];
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let best = i;
          if (l < size && less(l, best)) best = l;
          if (r < size && less(r, best)) best = r;
          if (best === i) break;
          swap(i, best);
          i = best;
        }
      }
      // stale check: the pair at pos must still exist and still have this rank
      if (!alive[pos]) continue;
      const nx = next[pos];
      if (nx < 0) continue;
      const key = sym[pos] * KEY_BASE + sym[nx];
      if (this.mergeRank.get(key) !== rank) continue;
      sym[pos] = this.mergeResult.get(key)!;
      alive[nx] = 0;
      const nn = next[nx];
      next[pos] = nn;
      if (nn >= 0) prev[nn] = pos;
      if (prev[pos] >= 0) push(prev[pos]);
      push(pos);
    }
    let count = 0;
    for (let i = 0; i >= 0; i = next[i]) count++;
    const out = new Int32Array(count);
    let k = 0;
    for (let i = 0; i >= 0; i = next[i]) out[k++] = sym[i];
    return out;
  }
}
