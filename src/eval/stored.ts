/**
 * The reconstruction and sparsity metrics (metrics.ts) on stored activations, without the model:
 *
 *   const r = await evaluateOnStore(openStore("runs/x/acts/blocks.3.hook_resid_post"), sae, { scale: loaded.scale });
 *   const r = await evaluateOnChunks(chunksOfSafetensors("acts.safetensors"), sae, { scale, contextSize: 128 });
 *
 * Rows are taken in context order and grouped by blocks of `batch` contexts [jB, (j + 1)B) (the
 * legacy EV's group; with the same contexts and batch this equals evaluateSae's figures on the
 * same hook). A store already holds only non-special positions (unless it was harvested with
 * keep_special: pass excludedIds to drop positions by token id). Memory: one shard plus one group.
 *
 * A .safetensors file holds `acts` [rows, d] (F32, F16 or BF16) and optionally `context` [rows] I32
 * and `token` [rows] I32 (a store shard is such a file); without `context`, rows r belong to
 * context floor(r / contextSize).
 */
import type { ActChunk } from "../harvest/activations.ts";
import type { ActivationStore } from "../harvest/store.ts";
import { SafetensorsFile } from "../io/safetensors.ts";
import type { SaeModule } from "../sae/types.ts";
import type { EvalReport } from "./evaluate.ts";
import type { ReconMetrics } from "./metrics.ts";
import { ReconAccumulator } from "./recon.ts";
import { SaeRows } from "./sae-rows.ts";

export interface StoredEvalOptions {
  /** Dataset scale c the SAE's inputs are multiplied by (default 1). */
  scale?: number;
  /** Contexts per group (default 8, evaluateSae's batch). */
  batch?: number;
  /** At most this many rows (default all). */
  tokens?: number;
  /** Drop rows whose token is one of these ids (default none). */
  excludedIds?: readonly number[];
  /** Hook index of a multi-hook chunk (default 0). */
  hookIndex?: number;
  onRows?: (rowsDone: number) => void;
}

/** Reconstruction metrics over chunks in context order; contextSize bounds a group's rows. */
export async function evaluateOnChunks(
  chunks: AsyncIterable<ActChunk> | Iterable<ActChunk>,
  sae: SaeModule,
  options: StoredEvalOptions & { contextSize: number; d: number },
): Promise<EvalReport<ReconMetrics>> {
  const { d, m } = sae.hyper;
  if (options.d !== d)
    throw new Error(`the activations have d = ${options.d} values per row but the SAE reads d_in = ${d}`);
  const B = options.batch ?? 8;
  const cap = B * options.contextSize;
  const limit = options.tokens ?? Number.POSITIVE_INFINITY;
  const hi = options.hookIndex ?? 0;
  const excluded = new Set(options.excludedIds ?? []);
  const rowsRunner = new SaeRows(sae, options.scale ?? 1, cap);
  const acc = new ReconAccumulator(d, m);
  const group = new Float32Array(cap * d);
  let filled = 0;
  let block = -1;
  let done = 0;
  let contexts = 0;
  let lastContext = -1;
  const flush = () => {
    if (filled === 0) return;
    const x = group.subarray(0, filled * d);
    const { codes, xhat } = rowsRunner.run(x, filled);
    acc.add(x, xhat, codes, filled);
    done += filled;
    options.onRows?.(done);
    filled = 0;
  };
  outer: for await (const c of chunks) {
    const acts = c.acts[hi];
    if (!acts) throw new Error(`activation chunk has no hook ${hi}`);
    for (let r = 0; r < c.rows; r++) {
      if (done + filled >= limit) break outer;
      if (excluded.size > 0 && excluded.has(c.token[r])) continue;
      const ctx = c.context[r];
      if (ctx < lastContext)
        throw new Error(`activation rows are not in context order (context ${ctx} after ${lastContext})`);
      if (ctx !== lastContext) contexts++;
      lastContext = ctx;
      const b = Math.floor(ctx / B);
      if (b !== block) {
        flush();
        block = b;
      }
      if (filled === cap)
        throw new Error(
          `contexts ${b * B}..${b * B + B - 1} hold more than ${cap} rows: more than ${options.contextSize} rows per context`,
        );
      group.set(acts.subarray(r * d, (r + 1) * d), filled * d);
      filled++;
    }
  }
  flush();
  return {
    metrics: acc.result(),
    tokens: acc.tokens,
    ceTokens: 0,
    contexts,
    contextSize: options.contextSize,
  };
}

/** Reconstruction metrics on a complete activation store (see the header). */
export function evaluateOnStore(
  store: ActivationStore,
  sae: SaeModule,
  options: StoredEvalOptions = {},
): Promise<EvalReport<ReconMetrics>> {
  return evaluateOnChunks(store.chunks(), sae, {
    ...options,
    d: store.d,
    contextSize: store.manifest.context_size,
  });
}

/** A .safetensors file of activations as one chunk (see the header). */
export function chunkOfSafetensors(path: string, contextSize: number): ActChunk {
  const f = SafetensorsFile.open(path);
  try {
    if (!f.has("acts"))
      throw new Error(
        `${path} has no tensor "acts"; expected acts [rows, d] (and optionally context, token [rows] I32)`,
      );
    const info = f.info("acts");
    if (info.shape.length !== 2)
      throw new Error(`${path}: tensor "acts" has shape [${info.shape.join(", ")}]; expected [rows, d]`);
    const rows = info.shape[0];
    const ints = (name: string): Int32Array | null => {
      if (!f.has(name)) return null;
      const i = f.info(name);
      if (i.dtype !== "I32" || i.shape.length !== 1 || i.shape[0] !== rows)
        throw new Error(`${path}: tensor "${name}" is ${i.dtype} [${i.shape.join(", ")}]; expected I32 [${rows}]`);
      return f.read(name) as Int32Array;
    };
    const context = ints("context") ?? Int32Array.from({ length: rows }, (_, r) => Math.floor(r / contextSize));
    const token = ints("token") ?? new Int32Array(rows).fill(-1);
    const acts = f.readF32("acts");
    return {
      contexts: [rows > 0 ? context[0] : 0, rows > 0 ? context[rows - 1] + 1 : 0],
      rows,
      acts: [acts],
      token,
      context,
      position: new Int32Array(rows),
    };
  } finally {
    f.close();
  }
}
