/**
 * Streaming accumulators of the spliced-forward metrics (metrics.ts), all sums in float64:
 *
 *   lp = log_softmax(clean logits), lq = log_softmax(patched logits), per position (row);
 *   CE(row)  = -lq[target]                         on rows with target >= 0 (next-token targets)
 *   KL(row)  = sum_v p_v (lp_v - lq_v) = sum_v p_v (l_v - q_v) + lse(q) - lse(l),  p = exp(lp),
 *              on rows with klMask = 1 (non-special positions), l and q the clean and patched logits
 *   ce_clean, ce_sae, ce_zero = token means of CE; kl_sae, kl_zero = token means of KL;
 *   ce_loss_score = (ce_zero - ce_sae) / (ce_zero - ce_clean);  kl_div_score = (kl_zero - kl_sae) / kl_zero
 *
 * Per batch: CleanReference.set(logits, ...) copies the clean logits [rows, V] (float32, exactly as
 * the model gave them), their probabilities p [rows, V] (float64) and log-sum-exp [rows] (float64);
 * each PatchedLoss (one per patched forward: every SAE, and the zero ablation of each hook) then
 * scores its forward of the same rows against them with add(logits). One clean reference serves
 * any number of patched forwards. Memory: 12 bytes per logit of one batch (CLEAN_BYTES_PER_LOGIT).
 */
import type { SplicedMetrics } from "./metrics.ts";

export const CLEAN_BYTES_PER_LOGIT = 12;

export class CleanReference {
  readonly vocab: number;
  logits: Float32Array = new Float32Array(0);
  p: Float64Array = new Float64Array(0);
  lse: Float64Array = new Float64Array(0);
  targets: Int32Array = new Int32Array(0);
  klMask: Uint8Array = new Uint8Array(0);
  rows = 0;
  /** Batches set so far (PatchedLoss checks it scores each once). */
  batches = 0;
  ceTokens = 0;
  klTokens = 0;
  ceSum = 0;

  constructor(vocab: number) {
    this.vocab = vocab;
  }

  /** logits [rows, V] of the clean forward; targets [rows] (-1 = not scored); klMask [rows]. */
  set(logits: Float32Array, rows: number, targets: Int32Array, klMask: Uint8Array): void {
    const V = this.vocab;
    if (logits.length !== rows * V || targets.length < rows || klMask.length < rows)
      throw new RangeError(`CleanReference.set: ${rows} rows need logits of ${rows * V}, got ${logits.length}`);
    if (this.logits.length < rows * V) {
      this.logits = new Float32Array(rows * V);
      this.p = new Float64Array(rows * V);
    }
    if (this.lse.length < rows) {
      this.lse = new Float64Array(rows);
      this.targets = new Int32Array(rows);
      this.klMask = new Uint8Array(rows);
    }
    this.logits.set(logits);
    this.targets.set(targets.subarray(0, rows));
    this.klMask.set(klMask.subarray(0, rows));
    this.rows = rows;
    const P = this.p;
    let ce = 0; // summed per batch, as PatchedLoss does (same rounding for identical logits)
    for (let r = 0; r < rows; r++) {
      // lse and p from one exp per logit: e_v = exp(l_v - max), p_v = e_v / sum e
      const o = r * V;
      let mx = Number.NEGATIVE_INFINITY;
      for (let v = o; v < o + V; v++) if (logits[v] > mx) mx = logits[v];
      let sum = 0;
      for (let v = o; v < o + V; v++) {
        const e = Math.exp(logits[v] - mx);
        P[v] = e;
        sum += e;
      }
      for (let v = o; v < o + V; v++) P[v] /= sum;
      const lse = mx + Math.log(sum);
      this.lse[r] = lse;
      const t = targets[r];
      if (t >= 0) {
        ce += lse - logits[o + t];
        this.ceTokens++;
      }
      if (klMask[r]) this.klTokens++;
    }
    this.ceSum += ce;
    this.batches++;
  }

  /** Mean clean cross-entropy. */
  ce(): number {
    if (this.ceTokens === 0) throw new Error("no position was scored for cross-entropy (contexts too short?)");
    return this.ceSum / this.ceTokens;
  }
}

/** CE and KL of one patched forward per batch against the clean reference. */
export class PatchedLoss {
  readonly clean: CleanReference;
  private ceSum = 0;
  private klSum = 0;
  private batches = 0;

  constructor(clean: CleanReference) {
    this.clean = clean;
  }

  /** logits [rows, V] of the patched forward of the rows of the last CleanReference.set. */
  add(logits: Float32Array): void {
    const c = this.clean;
    const V = c.vocab;
    const rows = c.rows;
    if (logits.length !== rows * V)
      throw new RangeError(`PatchedLoss.add: expected logits of ${rows * V}, got ${logits.length}`);
    if (this.batches !== c.batches - 1)
      throw new Error(`PatchedLoss.add: batch ${this.batches + 1} scored against clean batch ${c.batches}`);
    const l = c.logits;
    const p = c.p;
    let ce = 0;
    let kl = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * V;
      let mx = Number.NEGATIVE_INFINITY;
      for (let v = o; v < o + V; v++) if (logits[v] > mx) mx = logits[v];
      let sum = 0;
      for (let v = o; v < o + V; v++) sum += Math.exp(logits[v] - mx);
      const lseQ = mx + Math.log(sum);
      const t = c.targets[r];
      if (t >= 0) ce += lseQ - logits[o + t];
      if (c.klMask[r]) {
        let s = 0;
        for (let v = o; v < o + V; v++) s += p[v] * (l[v] - logits[v]);
        kl += s + lseQ - c.lse[r];
      }
    }
    this.ceSum += ce;
    this.klSum += kl;
    this.batches++;
  }

  /** Mean CE and KL so far. */
  means(): { ce: number; kl: number } {
    const c = this.clean;
    if (this.batches !== c.batches) throw new Error("PatchedLoss: a clean batch was not scored");
    return { ce: this.ceSum / c.ceTokens, kl: c.klTokens > 0 ? this.klSum / c.klTokens : Number.NaN };
  }
}

/** The five spliced metrics from the clean reference, the SAE's and the zero ablation's losses. */
export function splicedMetrics(clean: CleanReference, sae: PatchedLoss, zero: PatchedLoss): SplicedMetrics {
  const ceClean = clean.ce();
  const s = sae.means();
  const z = zero.means();
  return {
    ce_clean: ceClean,
    ce_sae: s.ce,
    ce_zero: z.ce,
    ce_loss_score: (z.ce - s.ce) / (z.ce - ceClean) + 0, // + 0: no -0 in the JSON
    kl_div_score: (z.kl - s.kl) / z.kl + 0,
  };
}
