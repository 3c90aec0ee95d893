/**
 * The paper's activation buffer (paper s.5: "maintains 2048 contexts ... LLM inference (batch size
 * 24) followed by SAE training (batch size 2048)"), over any ChunkSource: the model itself
 * (ModelChunkSource, streaming, nothing on disk) or a store (ActivationStore / MultiHookSource).
 *
 * Semantics (identical for both sources, so one seed gives the same batches either way):
 *   the contexts [0, N) are taken in blocks of `bufferContexts` (2048): block j = [j*2048, (j+1)*2048);
 *   the pool = the rows carried over from the previous block + the rows of block j;
 *   the pool is shuffled (Fisher-Yates, Rng seeded by (seed, epoch, j)) and cut into batches of
 *   `batchSize` rows (2048); the rows left over (< batchSize) are carried into the next block;
 *   after the last block the carried rows form one smaller final batch (unless dropLast).
 * So an epoch yields every row of the source exactly once, and memory is one block of rows.
 * Every hook of the source gets the same permutation: batch b of hook h and of hook h' hold the
 * same (context, position) rows.
 *
 * Batches are views into preallocated arrays, valid until the next one is requested.
 */
import { Rng } from "../core/tensor.ts";
import type { LanguageModel } from "../lm/model.ts";
import { type ActChunk, BatchActivations } from "./activations.ts";
import { ContextStream, type ContextTokenizer } from "./contexts.ts";
import type { ChunkSource } from "./store.ts";

export interface BufferOptions {
  /** Contexts per buffer fill (paper: 2048). */
  bufferContexts?: number;
  /** Rows per SAE batch (paper: 2048). */
  batchSize?: number;
  seed?: number;
  /** Drop the final smaller batch of an epoch (default false: it is yielded). */
  dropLast?: boolean;
  /** Only contexts [start, end) of the source (default all). */
  contexts?: [number, number];
}

export interface ActBatch {
  rows: number;
  /** Per hook [rows, d]. */
  acts: Float32Array[];
  token: Int32Array;
  context: Int32Array;
  position: Int32Array;
  /** Epoch and index of the batch within it. */
  epoch: number;
  index: number;
}

function blockSeed(seed: number, epoch: number, block: number): number {
  return (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77) ^ Math.imul(block + 1, 0xc2b2ae3d)) >>> 0;
}

export class ActivationBuffer {
  readonly source: ChunkSource;
  readonly bufferContexts: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly range: [number, number];
  private readonly d: number;
  private readonly nh: number;
  private cap: number;
  private pool: { acts: Float32Array[]; token: Int32Array; context: Int32Array; position: Int32Array };
  private out: { acts: Float32Array[]; token: Int32Array; context: Int32Array; position: Int32Array };
  private perm: Int32Array;

  constructor(source: ChunkSource, options: BufferOptions = {}) {
    this.source = source;
    this.bufferContexts = options.bufferContexts ?? 2048;
    this.batchSize = options.batchSize ?? 2048;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
    this.range = options.contexts ?? [0, source.contextsTotal];
    for (const [name, v] of [
      ["bufferContexts", this.bufferContexts],
      ["batchSize", this.batchSize],
    ] as const)
      if (!Number.isInteger(v) || v < 1)
        throw new RangeError(`ActivationBuffer: ${name} ${v} is not valid: expected an integer >= 1`);
    this.d = source.d;
    this.nh = source.hooks.length;
    this.cap = 0;
    this.pool = this.alloc(0);
    this.out = this.alloc(this.batchSize);
    this.perm = new Int32Array(0);
  }

  private alloc(rows: number) {
    return {
      acts: Array.from({ length: this.nh }, () => new Float32Array(rows * this.d)),
      token: new Int32Array(rows),
      context: new Int32Array(rows),
      position: new Int32Array(rows),
    };
  }

  /** Grows the pool to hold `rows` rows, keeping the first `keep`. */
  private ensure(rows: number, keep: number): void {
    if (rows <= this.cap) return;
    const cap = Math.max(rows, Math.ceil(this.cap * 1.25));
    const next = this.alloc(cap);
    const d = this.d;
    for (let h = 0; h < this.nh; h++) next.acts[h].set(this.pool.acts[h].subarray(0, keep * d));
    next.token.set(this.pool.token.subarray(0, keep));
    next.context.set(this.pool.context.subarray(0, keep));
    next.position.set(this.pool.position.subarray(0, keep));
    this.pool = next;
    this.cap = cap;
  }

  private append(c: ActChunk, at: number): void {
    this.ensure(at + c.rows, at);
    const d = this.d;
    for (let h = 0; h < this.nh; h++) this.pool.acts[h].set(c.acts[h], at * d);
    this.pool.token.set(c.token, at);
    this.pool.context.set(c.context, at);
    this.pool.position.set(c.position, at);
  }

  /** Copies pool rows perm[from .. from + n) into the output batch arrays. */
  private gather(from: number, n: number): void {
    const d = this.d;
    for (let i = 0; i < n; i++) {
      const r = this.perm[from + i];
      for (let h = 0; h < this.nh; h++) this.out.acts[h].set(this.pool.acts[h].subarray(r * d, (r + 1) * d), i * d);
      this.out.token[i] = this.pool.token[r];
      this.out.context[i] = this.pool.context[r];
      this.out.position[i] = this.pool.position[r];
    }
  }

  /** Moves pool rows perm[from .. from + n) to the front of the pool (the carry). */
  private carry(from: number, n: number): void {
    // Gather through the output arrays in slices of batchSize (n < batchSize here).
    this.gather(from, n);
    const d = this.d;
    for (let h = 0; h < this.nh; h++) this.pool.acts[h].set(this.out.acts[h].subarray(0, n * d));
    this.pool.token.set(this.out.token.subarray(0, n));
    this.pool.context.set(this.out.context.subarray(0, n));
    this.pool.position.set(this.out.position.subarray(0, n));
  }

  private batchView(rows: number, epoch: number, index: number): ActBatch {
    const d = this.d;
    return {
      rows,
      acts: this.out.acts.map((a) => a.subarray(0, rows * d)),
      token: this.out.token.subarray(0, rows),
      context: this.out.context.subarray(0, rows),
      position: this.out.position.subarray(0, rows),
      epoch,
      index,
    };
  }

  /** The batches of one epoch (see the header). */
  async *epoch(epoch = 0): AsyncGenerator<ActBatch> {
    const [start, end] = this.range;
    const B = this.batchSize;
    let carried = 0;
    let filled = 0;
    let block = Math.floor(start / this.bufferContexts);
    let blockEnd = Math.min(end, (block + 1) * this.bufferContexts);
    let index = 0;
    const flush = function* (this: ActivationBuffer): Generator<ActBatch> {
      const n = filled;
      if (this.perm.length < n) this.perm = new Int32Array(this.cap);
      const p = this.perm;
      for (let i = 0; i < n; i++) p[i] = i;
      const rng = new Rng(blockSeed(this.seed, epoch, block));
      for (let i = n - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const t = p[i];
        p[i] = p[j];
        p[j] = t;
      }
      const full = Math.floor(n / B);
      for (let b = 0; b < full; b++) {
        this.gather(b * B, B);
        yield this.batchView(B, epoch, index++);
      }
      carried = n - full * B;
      this.carry(full * B, carried);
      filled = carried;
    }.bind(this);

    for await (const c of this.source.chunks(start, end)) {
      let a = 0;
      while (a < c.rows) {
        while (c.context[a] >= blockEnd) {
          yield* flush();
          block++;
          blockEnd = Math.min(end, (block + 1) * this.bufferContexts);
        }
        let b = a;
        while (b < c.rows && c.context[b] < blockEnd) b++;
        this.append(sliceChunk(c, a, b, this.d), filled);
        filled += b - a;
        a = b;
      }
    }
    if (filled > 0) yield* flush();
    if (carried > 0 && !this.dropLast) {
      const d = this.d;
      for (let h = 0; h < this.nh; h++) this.out.acts[h].set(this.pool.acts[h].subarray(0, carried * d));
      this.out.token.set(this.pool.token.subarray(0, carried));
      this.out.context.set(this.pool.context.subarray(0, carried));
      this.out.position.set(this.pool.position.subarray(0, carried));
      yield this.batchView(carried, epoch, index++);
    }
  }
}

function sliceChunk(c: ActChunk, a: number, b: number, d: number): ActChunk {
  return {
    contexts: c.contexts,
    rows: b - a,
    acts: c.acts.map((x) => x.subarray(a * d, b * d)),
    token: c.token.subarray(a, b),
    context: c.context.subarray(a, b),
    position: c.position.subarray(a, b),
  };
}

/**
 * Streaming source: the model run over the packed corpus in LLM batches of `llmBatch` contexts
 * from context 0 (the same batches a harvest runs when contexts_per_shard is a multiple of llmBatch),
 * yielding one chunk per LLM batch.
 */
export class ModelChunkSource implements ChunkSource {
  readonly hooks: readonly string[];
  readonly d: number;
  readonly contextsTotal: number;
  private readonly acts: BatchActivations;
  private readonly stream: ContextStream;

  constructor(
    model: LanguageModel,
    tokenizer: ContextTokenizer,
    corpus: ConstructorParameters<typeof ContextStream>[0],
    options: {
      hooks: readonly string[];
      contexts: number;
      contextSize?: number;
      llmBatch?: number;
      excludedIds: readonly number[];
    },
  ) {
    this.hooks = options.hooks;
    this.d = model.dims.dModel;
    this.contextsTotal = options.contexts;
    const contextSize = options.contextSize ?? 128;
    this.acts = new BatchActivations(model, options.hooks, {
      llmBatch: options.llmBatch ?? 24,
      contextSize,
      excludedIds: options.excludedIds,
    });
    this.stream = new ContextStream(corpus, tokenizer, contextSize);
  }

  async *chunks(start = 0, end = this.contextsTotal): AsyncGenerator<ActChunk> {
    const L = this.acts.llmBatch;
    // Batches are aligned to multiples of llmBatch from context 0, whatever the start.
    let batch: Int32Array[] = [];
    let first = start;
    for await (const { index, ids } of this.stream.contextRange(start, end)) {
      if (batch.length === 0) first = index;
      batch.push(ids);
      if ((index + 1) % L === 0 || index === end - 1) {
        yield this.acts.run(first, batch);
        batch = [];
      }
    }
  }
}
