/**
 * Streaming accumulator of the spliced-forward metrics (metrics.ts), all sums in float64:
 *
 *   lp = log_softmax(clean logits), lq = log_softmax(patched logits), per position (row);
 *   CE(row)  = -lq[target]                         on rows with target >= 0 (next-token targets)
 *   KL(row)  = sum_v p_v (lp_v - lq_v) = sum_v p_v l_v - sum_v p_v q_v + lse(q) - lse(l),  p = exp(lp),
 *              on rows with klMask = 1 (non-special positions), l and q the clean and patched logits
 *   ce_clean, ce_sae, ce_zero = token means of CE; kl_sae, kl_zero = token means of KL;
 *   ce_loss_score = (ce_zero - ce_sae) / (ce_zero - ce_clean);  kl_div_score = (kl_zero - kl_sae) / kl_zero
 *
 * Per batch: setClean(logits, ...) keeps the clean probabilities p [rows, V] (float32), and per row
 * the log-sum-exp and sum_v p_v l_v (float64);
 * addPatched("sae" | "zero", logits) then scores a patched forward of the same rows against them.
 * The per-row work (softmax, log-sum-exp, the cross term) runs in the backend's logitSoftmax /
 * logitCompare kernels (src/core/backend-eval.ts); the sums over rows stay here, in row order.
 * Memory: 4 bytes per logit of one batch (CLEAN_BYTES_PER_LOGIT).
 *
 * For several SAEs on the same text (evaluate-many.ts) the clean pass is shared: CleanBatch holds
 * one batch's clean state, PatchedSums scores patched forwards against it (one per SAE, one per
 * hook for the zero splice), and splicedMetrics turns the sums into the metrics.
 */
import type { Backend } from "../core/backend.ts";
import type { SplicedMetrics } from "./metrics.ts";

export const CLEAN_BYTES_PER_LOGIT = 4;

/** One batch's clean forward: p [rows, V], lse and sum p l [rows], targets and KL mask; with running totals. */
export class CleanBatch {
  readonly vocab: number;
  readonly backend: Backend;
  cleanP: Float32Array = new Float32Array(0);
  cleanLse: Float64Array = new Float64Array(0);
  /** [rows] sum_v p_v l_v of each clean row. */
  cleanPl: Float64Array = new Float64Array(0);
  targets: Int32Array = new Int32Array(0);
  klMask: Uint8Array = new Uint8Array(0);
  rows = 0;
  /** Totals over every batch set so far. */
  ceTokens = 0;
  klTokens = 0;
  ceClean = 0;
  batches = 0;
  /** [rows] scratch of PatchedSums.add (one patched forward at a time). */
  lseQ: Float64Array = new Float64Array(0);
  pq: Float64Array = new Float64Array(0);

  constructor(vocab: number, backend: Backend) {
    this.vocab = vocab;
    this.backend = backend;
  }

  /** logits [rows, V] of the clean forward; targets [rows] (-1 = not scored); klMask [rows]. */
  set(logits: Float32Array, rows: number, targets: Int32Array, klMask: Uint8Array): void {
    const V = this.vocab;
    if (logits.length !== rows * V || targets.length < rows || klMask.length < rows)
      throw new RangeError(
        `SplicedLossAccumulator.setClean: ${rows} rows need logits of ${rows * V}, got ${logits.length}`,
      );
    if (this.cleanP.length !== rows * V) this.cleanP = new Float32Array(rows * V);
    if (this.cleanLse.length !== rows) {
      this.cleanLse = new Float64Array(rows);
      this.cleanPl = new Float64Array(rows);
      this.lseQ = new Float64Array(rows);
      this.pq = new Float64Array(rows);
      this.targets = new Int32Array(rows);
      this.klMask = new Uint8Array(rows);
    }
    this.targets.set(targets.subarray(0, rows));
    this.klMask.set(klMask.subarray(0, rows));
    this.rows = rows;
    this.backend.logitSoftmax(logits, rows, V, this.cleanP, this.cleanLse, this.cleanPl);
    let ce = 0; // summed per batch, as PatchedSums.add does (same rounding for identical logits)
    for (let r = 0; r < rows; r++) {
      const t = targets[r];
      if (t >= 0) {
        ce += this.cleanLse[r] - logits[r * V + t];
        this.ceTokens++;
      }
      if (klMask[r]) this.klTokens++;
    }
    this.ceClean += ce;
    this.batches++;
  }
}

/** CE and KL sums of one kind of patched forward against the clean batches. */
export class PatchedSums {
  ce = 0;
  kl = 0;
  batches = 0;

  /** logits [rows, V] of a patched forward of the rows of clean's current batch. */
  add(clean: CleanBatch, logits: Float32Array, what = "patched"): void {
    const V = clean.vocab;
    const rows = clean.rows;
    if (logits.length !== rows * V)
      throw new RangeError(`SplicedLossAccumulator.addPatched: expected logits of ${rows * V}, got ${logits.length}`);
    if (this.batches !== clean.batches - 1)
      throw new Error(`SplicedLossAccumulator.addPatched(${what}): called twice for one clean batch`);
    const { lseQ, pq } = clean;
    clean.backend.logitCompare(clean.cleanP, logits, rows, V, lseQ, pq);
    let ce = 0;
    let kl = 0;
    for (let r = 0; r < rows; r++) {
      const t = clean.targets[r];
      if (t >= 0) ce += lseQ[r] - logits[r * V + t];
      if (clean.klMask[r]) kl += clean.cleanPl[r] - pq[r] + lseQ[r] - clean.cleanLse[r];
    }
    this.ce += ce;
    this.kl += kl;
    this.batches++;
  }
}

/** The spliced metrics from the clean totals, the SAE's sums and the zero-ablation's sums. */
export function splicedMetrics(clean: CleanBatch, sae: PatchedSums, zero: PatchedSums): SplicedMetrics {
  if (clean.ceTokens === 0) throw new Error("no position was scored for cross-entropy (contexts too short?)");
  if (sae.batches !== clean.batches || zero.batches !== clean.batches)
    throw new Error("SplicedLossAccumulator: a batch was not scored with both the SAE and zero splices");
  const ceClean = clean.ceClean / clean.ceTokens;
  const ceSae = sae.ce / clean.ceTokens;
  const ceZero = zero.ce / clean.ceTokens;
  const klSae = clean.klTokens > 0 ? sae.kl / clean.klTokens : Number.NaN;
  const klZero = clean.klTokens > 0 ? zero.kl / clean.klTokens : Number.NaN;
  return {
    ce_clean: ceClean,
    ce_sae: ceSae,
    ce_zero: ceZero,
    ce_loss_score: (ceZero - ceSae) / (ceZero - ceClean) + 0, // + 0: no -0 in the JSON
    kl_div_score: (klZero - klSae) / klZero + 0,
  };
}

/** One SAE's spliced metrics: a CleanBatch with the SAE's and the zero splice's sums. */
export class SplicedLossAccumulator {
  readonly vocab: number;
  private readonly cleanBatch: CleanBatch;
  private readonly sums = { sae: new PatchedSums(), zero: new PatchedSums() };

  constructor(vocab: number, backend: Backend) {
    this.vocab = vocab;
    this.cleanBatch = new CleanBatch(vocab, backend);
  }

  /** CE-scored positions and KL positions so far. */
  get counts(): { ce: number; kl: number } {
    return { ce: this.cleanBatch.ceTokens, kl: this.cleanBatch.klTokens };
  }

  /** logits [rows, V] of the clean forward; targets [rows] (-1 = not scored); klMask [rows]. */
  setClean(logits: Float32Array, rows: number, targets: Int32Array, klMask: Uint8Array): void {
    const c = this.cleanBatch;
    if (c.batches > 0 && (this.sums.sae.batches !== c.batches || this.sums.zero.batches !== c.batches))
      throw new Error("SplicedLossAccumulator: the previous batch was not scored with both the SAE and zero splices");
    c.set(logits, rows, targets, klMask);
  }

  /** logits [rows, V] of a patched forward of the rows given to the last setClean. */
  addPatched(kind: "sae" | "zero", logits: Float32Array): void {
    this.sums[kind].add(this.cleanBatch, logits, kind);
  }

  result(): SplicedMetrics {
    return splicedMetrics(this.cleanBatch, this.sums.sae, this.sums.zero);
  }
}
