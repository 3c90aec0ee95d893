/**
 * Language-model loss over packed contexts:
 *   loss = (1 / n) sum over scored positions of -log p(target | prefix),   ppl = exp(loss)
 * with the targets of data.ts (next token; positions whose next token is BOS, and the last position
 * of each context, are not scored) and n the number of scored positions. Contexts run in batches of
 * `batch`; the last, partial batch is filled with copies of its first context whose targets are
 * ignored, so the forward always sees one (batch, seq) shape (no re-allocation of its workspace).
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import { fillTargets, type PackedContexts } from "./data.ts";

/** ids [batch * seq] -> logits [batch * seq, vocab] (a buffer the caller may reuse). */
export type LogitsFn = (ids: Int32Array, batch: number) => FloatArray;

export interface LossResult {
  /** Scored positions. */
  tokens: number;
  /** Sum of their cross-entropies (nats). */
  sum: number;
  /** Mean cross-entropy per scored token (nats); NaN when none is scored. */
  loss: number;
}

export function contextsLoss(
  be: Backend,
  logitsFor: LogitsFn,
  data: PackedContexts,
  batch: number,
  vocab: number,
  bos: number | null,
  onBatch?: (done: number, total: number) => void,
): LossResult {
  const T = data.seq;
  const rows = batch * T;
  const ids = new Int32Array(rows);
  const targets = new Int32Array(rows);
  let losses: FloatArray | null = null; // [rows], the logits' array type
  let sum = 0;
  let tokens = 0;
  for (let c0 = 0; c0 < data.count; c0 += batch) {
    const n = Math.min(batch, data.count - c0);
    ids.set(data.ids.subarray(c0 * T, (c0 + n) * T));
    for (let b = n; b < batch; b++) ids.copyWithin(b * T, 0, T);
    fillTargets(ids, T, bos, targets);
    targets.fill(-1, n * T);
    const logits = logitsFor(ids, batch);
    losses ??= logits instanceof Float64Array ? new Float64Array(rows) : new Float32Array(rows);
    const scored = be.crossEntropy(logits, targets, rows, vocab, losses);
    for (let r = 0; r < n * T; r++) sum += losses[r];
    tokens += scored;
    onBatch?.(Math.min(c0 + batch, data.count), data.count);
  }
  return { tokens, sum, loss: tokens > 0 ? sum / tokens : Number.NaN };
}
