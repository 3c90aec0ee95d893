/**
 * One LLM batch -> the rows a store or the buffer keeps.
 *
 *   ids [n, C] (n <= llmBatch contexts) --model.run(capture hooks, no logits)--> acts_h [n*C, d]
 *   kept rows: positions whose token id is not excluded (BOS/EOS/PAD by default), in (context, position) order
 *
 * The forward stops after the deepest hook (LanguageModel.run with logits: false). Output buffers are
 * preallocated for llmBatch contexts and reused: the chunk returned is valid until the next call.
 */
import type { LanguageModel } from "../lm/model.ts";

/** Rows of consecutive contexts: acts per hook [rows, d] and each row's token, context and position. */
export interface ActChunk {
  /** Context range [a, b) the rows come from. */
  contexts: [number, number];
  rows: number;
  /** One [rows, d] array per hook, in the source's hook order. */
  acts: Float32Array[];
  token: Int32Array;
  context: Int32Array;
  position: Int32Array;
}

export class BatchActivations {
  readonly model: LanguageModel;
  readonly hooks: readonly string[];
  readonly llmBatch: number;
  readonly contextSize: number;
  readonly d: number;
  private readonly excluded: Set<number>;
  private readonly ids: Int32Array;
  private readonly acts: Float32Array[];
  private readonly token: Int32Array;
  private readonly context: Int32Array;
  private readonly position: Int32Array;

  constructor(
    model: LanguageModel,
    hooks: readonly string[],
    options: { llmBatch: number; contextSize: number; excludedIds: readonly number[] },
  ) {
    this.model = model;
    this.hooks = hooks;
    this.llmBatch = options.llmBatch;
    this.contextSize = options.contextSize;
    this.d = model.dims.dModel;
    this.excluded = new Set(options.excludedIds);
    const cap = this.llmBatch * this.contextSize;
    this.ids = new Int32Array(cap);
    this.acts = hooks.map(() => new Float32Array(cap * this.d));
    this.token = new Int32Array(cap);
    this.context = new Int32Array(cap);
    this.position = new Int32Array(cap);
  }

  /**
   * Runs contexts (consecutive, first index `first`) ids [n][C] through the model. With `into`, the
   * kept rows are written straight into those arrays from row `into.at` on (a harvest's shard
   * buffers: one copy less), and the chunk's arrays are views of them.
   */
  run(
    first: number,
    contexts: readonly Int32Array[],
    into?: { acts: Float32Array[]; token: Int32Array; context: Int32Array; position: Int32Array; at: number },
  ): ActChunk {
    const n = contexts.length;
    const C = this.contextSize;
    const d = this.d;
    if (n < 1 || n > this.llmBatch)
      throw new RangeError(`BatchActivations.run: ${n} contexts, expected 1..${this.llmBatch}`);
    const ids = this.ids.subarray(0, n * C);
    for (let b = 0; b < n; b++) ids.set(contexts[b], b * C);
    const { cache } = this.model.run(ids, { batch: n, capture: this.hooks, logits: false });
    const dst = into ?? { acts: this.acts, token: this.token, context: this.context, position: this.position, at: 0 };
    const at = dst.at;
    // Copy maximal runs of kept positions in one set() per hook.
    let rows = 0;
    let r = 0;
    while (r < n * C) {
      if (this.excluded.has(ids[r])) {
        r++;
        continue;
      }
      let end = r;
      while (end < n * C && !this.excluded.has(ids[end])) {
        dst.token[at + rows + end - r] = ids[end];
        dst.context[at + rows + end - r] = first + Math.floor(end / C);
        dst.position[at + rows + end - r] = end % C;
        end++;
      }
      for (let h = 0; h < this.hooks.length; h++)
        dst.acts[h].set(cache[this.hooks[h]].data.subarray(r * d, end * d), (at + rows) * d);
      rows += end - r;
      r = end;
    }
    return {
      contexts: [first, first + n],
      rows,
      acts: dst.acts.map((a) => a.subarray(at * d, (at + rows) * d)),
      token: dst.token.subarray(at, at + rows),
      context: dst.context.subarray(at, at + rows),
      position: dst.position.subarray(at, at + rows),
    };
  }
}

/** The token ids whose positions are dropped by default: the model's BOS, EOS and PAD. */
export function specialIds(model: LanguageModel): number[] {
  const out: number[] = [];
  for (const id of [model.info.bosId, model.info.eosId, model.info.padId])
    if (id !== null && !out.includes(id)) out.push(id);
  return out.sort((a, b) => a - b);
}
