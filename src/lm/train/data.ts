/**
 * Language-model data: packed contexts, next-token targets, and a batch order that is a pure
 * function of (seed, sample index), so a resumed run sees exactly the batches it would have seen.
 *
 * Contexts: documents tokenized without specials and packed SAELens-style (data/packing.ts: BOS at
 * position 0 of every context and between documents, last partial context dropped), T tokens each.
 * Targets of a context c [T]: target[t] = c[t + 1] for t < T - 1, except that a position whose
 * next token is BOS (a document boundary, or nothing to predict) gets -1 (ignored); target[T - 1]
 * = -1 (its next token lies outside the context). So every context scores at most T - 1 tokens,
 * and the model is trained and evaluated on exactly the windows the SAE pipeline harvests.
 *
 * Order: sample k (k = 0, 1, ... over the whole run, k = (step * accum + micro) * batch + b) is
 * context perm_e[k mod N] with e = floor(k / N) the epoch and perm_e a Fisher-Yates shuffle of
 * 0..N-1 drawn from Rng(seed mixed with e): each epoch visits every context once.
 */

import { Rng } from "../../core/tensor.ts";
import { packDocuments } from "../../data/packing.ts";
import type { Corpus } from "../../data/spec.ts";

export interface PackedContexts {
  /** Context length T. */
  seq: number;
  /** Number of contexts N. */
  count: number;
  /** [N, T] token ids. */
  ids: Int32Array;
}

export interface PackTokenizer {
  encode(text: string): Int32Array;
  bosId: number | null;
  padId: number | null;
}

/** Tokenizes and packs a corpus into contexts of `seq` tokens. */
export async function packCorpus(corpus: Corpus, tokenizer: PackTokenizer, seq: number): Promise<PackedContexts> {
  const chunks: Int32Array[] = [];
  for await (const ctx of packDocuments(corpus.documents(), tokenizer, { contextSize: seq })) chunks.push(ctx);
  if (chunks.length === 0)
    throw new Error(`data ${corpus.spec} holds fewer than ${seq} tokens: not even one context of ${seq} can be packed`);
  const ids = new Int32Array(chunks.length * seq);
  for (let i = 0; i < chunks.length; i++) ids.set(chunks[i], i * seq);
  return { seq, count: chunks.length, ids };
}

/** Contexts [start, end) as a new PackedContexts (a view, no copy). */
export function sliceContexts(p: PackedContexts, start: number, end: number): PackedContexts {
  return { seq: p.seq, count: end - start, ids: p.ids.subarray(start * p.seq, end * p.seq) };
}

/** `n` contexts evenly spaced over p (all of them when n >= count), copied. */
export function evenlySpaced(p: PackedContexts, n: number): PackedContexts {
  const k = Math.min(n, p.count);
  const ids = new Int32Array(k * p.seq);
  for (let i = 0; i < k; i++) {
    const src = Math.floor((i * p.count) / k);
    ids.set(p.ids.subarray(src * p.seq, (src + 1) * p.seq), i * p.seq);
  }
  return { seq: p.seq, count: k, ids };
}

/** Next-token targets of `rows / seq` contexts (see header). ids, targets [rows]. */
export function fillTargets(ids: Int32Array, seq: number, bos: number | null, targets: Int32Array): number {
  let count = 0;
  for (let i = 0; i < ids.length; i++) {
    const last = i % seq === seq - 1;
    const next = last ? -1 : ids[i + 1];
    const t = last || next === bos ? -1 : next;
    targets[i] = t;
    if (t >= 0) count++;
  }
  return count;
}

/** The deterministic sample order of the header. */
export class SampleOrder {
  readonly seed: number;
  readonly count: number;
  private epoch = -1;
  private perm: Int32Array;

  constructor(seed: number, count: number) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`SampleOrder: count must be >= 1, got ${count}`);
    this.seed = seed;
    this.count = count;
    this.perm = new Int32Array(count);
  }

  /** Context index of sample k. */
  contextOf(k: number): number {
    const e = Math.floor(k / this.count);
    if (e !== this.epoch) this.shuffle(e);
    return this.perm[k - e * this.count];
  }

  private shuffle(e: number): void {
    const rng = new Rng((Math.imul(this.seed + 1, 0x9e3779b1) ^ Math.imul(e + 1, 0x85ebca77)) >>> 0);
    const p = this.perm;
    for (let i = 0; i < p.length; i++) p[i] = i;
    for (let i = p.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    this.epoch = e;
  }
}

/** Copies samples first .. first + batch - 1 of `order` into out [batch * seq]. */
export function gatherBatch(
  data: PackedContexts,
  order: SampleOrder,
  first: number,
  batch: number,
  out: Int32Array,
): void {
  const T = data.seq;
  for (let b = 0; b < batch; b++) {
    const c = order.contextOf(first + b);
    out.set(data.ids.subarray(c * T, (c + 1) * T), b * T);
  }
}
