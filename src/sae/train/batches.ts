/**
 * What the SAE trainer reads: SAE micro-batches of raw activations, one array per hook (every hook
 * the same rows), addressed by (epoch, index) so a resumed run picks up at the exact batch.
 *
 *   bufferBatches: the paper's activation buffer (src/harvest/buffer.ts) over a store or the
 *     streaming model source, epoch after epoch (epoch e shuffles with seed (seed, e)); the final
 *     smaller batch of an epoch is dropped so every micro-batch has `batchSize` rows, hence an
 *     epoch is floor(rows / batchSize) batches. Resuming at (e, i) re-reads epoch e from its start
 *     and skips i batches (for the streaming source this re-runs the model over those contexts).
 *   syntheticBatches: batch i of a SyntheticSource (src/sae/synthetic.ts), one endless epoch.
 * The dataset scale c (x_in = c x) is per hook: a store's manifest value, else estimated as the
 * harvest does (src/harvest/scale.ts: rows of the first 2048 contexts; synthetic: its first 8 batches).
 */
import { ActivationBuffer } from "../../harvest/buffer.ts";
import { ContextStream, type ContextTokenizer } from "../../harvest/contexts.ts";
import { SCALE_CONTEXTS, ScaleEstimator } from "../../harvest/scale.ts";
import type { ChunkSource } from "../../harvest/store.ts";
import type { SyntheticSource } from "../synthetic.ts";

export interface TrainBatch {
  epoch: number;
  index: number;
  rows: number;
  /** Per hook [rows, d], raw (unscaled) activations; views valid until the next batch. */
  acts: readonly Float32Array[];
}

export interface BatchStream {
  readonly hooks: readonly string[];
  readonly d: number;
  readonly batchSize: number;
  /** Rows of one epoch (Infinity for an endless source). */
  readonly epochRows: number;
  /** What the data is (for the run fingerprint). */
  readonly identity: Record<string, unknown>;
  /** Dataset constant c per hook. */
  scales(): Promise<number[]>;
  /** Batches from (epoch, index) on, epoch after epoch, without end. */
  from(epoch: number, index: number): AsyncGenerator<TrainBatch>;
}

export interface BufferBatchOptions {
  batchSize: number;
  bufferContexts: number;
  seed: number;
  /** Rows of one pass over the source (a store's manifest rows). */
  rows: number;
  /** c per hook when known (stores); null: estimated from the first contexts. */
  scales: number[] | null;
  identity: Record<string, unknown>;
}

export function bufferBatches(source: ChunkSource, o: BufferBatchOptions): BatchStream {
  const batches = Math.floor(o.rows / o.batchSize);
  if (batches < 1)
    throw new Error(
      `the activations hold ${o.rows} rows, fewer than one SAE batch of ${o.batchSize}; harvest more tokens or lower the batch size`,
    );
  const buffer = new ActivationBuffer(source, {
    bufferContexts: o.bufferContexts,
    batchSize: o.batchSize,
    seed: o.seed,
    dropLast: true,
  });
  return {
    hooks: source.hooks,
    d: source.d,
    batchSize: o.batchSize,
    epochRows: batches * o.batchSize,
    identity: o.identity,
    async scales() {
      if (o.scales) return o.scales;
      const contexts = Math.min(source.contextsTotal, SCALE_CONTEXTS);
      const est = source.hooks.map(() => new ScaleEstimator(source.d, contexts));
      for await (const c of source.chunks(0, contexts))
        for (const [h, e] of est.entries()) e.add(c.acts[h], c.context, c.rows);
      return est.map((e) => e.value());
    },
    async *from(epoch: number, index: number) {
      for (let e = epoch; ; e++) {
        let yielded = 0;
        for await (const b of buffer.epoch(e)) {
          yielded++;
          if (e === epoch && b.index < index) continue;
          yield { epoch: e, index: b.index, rows: b.rows, acts: b.acts };
        }
        if (yielded === 0) throw new Error("the activation source yielded no batch in an epoch");
      }
    },
  };
}

/**
 * Rows the streaming source yields for contexts [0, contexts): the positions whose token is not
 * excluded (BOS/EOS/PAD), counted by packing the corpus without running the model.
 */
export async function countStreamRows(
  corpus: ConstructorParameters<typeof ContextStream>[0],
  tokenizer: ContextTokenizer,
  contextSize: number,
  contexts: number,
  excludedIds: readonly number[],
): Promise<number> {
  const skip = new Set(excludedIds);
  let rows = 0;
  for await (const { ids } of new ContextStream(corpus, tokenizer, contextSize).contextRange(0, contexts))
    for (const id of ids) if (!skip.has(id)) rows++;
  return rows;
}

export function syntheticBatches(
  src: SyntheticSource,
  batchSize: number,
  identity: Record<string, unknown>,
): BatchStream {
  const out = new Float32Array(batchSize * src.d);
  return {
    hooks: ["synthetic"],
    d: src.d,
    batchSize,
    epochRows: Number.POSITIVE_INFINITY,
    identity,
    async scales() {
      let s = 0;
      const n = 8;
      for (let i = 0; i < n; i++) {
        const { x } = src.batch(i, batchSize, { out });
        for (let j = 0; j < x.length; j++) s += x[j] * x[j];
      }
      return [Math.sqrt(src.d / (s / (n * batchSize)))];
    },
    async *from(_epoch: number, index: number) {
      for (let i = index; ; i++) {
        src.batch(i, batchSize, { out });
        yield { epoch: 0, index: i, rows: batchSize, acts: [out] };
      }
    },
  };
}
