/**
 * Logit effects of feature directions through the unembedding ("logit lens" of the decoder rows,
 * as Neuronpedia's and SAEDashboard's "top/bottom logits"):
 *
 *   effect_i = (W_dec[i] / c  o  g) W_U^T      [vocab], per unit of feature activation
 *
 * W_dec[i] [d] is feature i's decoder row in the SAE's input space, so W_dec[i] / c is the direction
 * it adds to the model's activation (c = the SAE's dataset scale; 1 for SAEs with it folded in).
 * W_U [vocab, d] is the unembedding (the tied embedding matrix for Gemma-2 and tied GPT-2, else
 * lm_head). g [d] is the final norm's per-dimension gain, applied as TransformerLens's fold_ln
 * does: Gemma-2's RMSNorm multiplies by (1 + w), GPT-2's LayerNorm by its weight (its bias and
 * mean-centering add the same amount to the feature's effect on every token and are left out).
 * What is not applied: the norm's 1/rms (a positive per-token factor: it scales all effects of a
 * token alike and keeps their order), Gemma-2's final logit soft-cap (monotone), and for the
 * normalized SAE architectures the per-token sigma_t of de-normalization (positive, likewise).
 * So the values are exact logit changes for a residual whose rms is 1, and the rankings are exact.
 */
import type { Backend } from "../../core/backend.ts";
import { Gemma2Model } from "../../lm/gemma2/forward.ts";
import { Gpt2Model } from "../../lm/gpt2/forward.ts";
import type { LanguageModel } from "../../lm/model.ts";
import type { TokenEffect } from "./types.ts";

export interface Unembedding {
  /** [vocab, d] */
  wU: Float32Array;
  /** [d] the final norm's gain. */
  gain: Float32Array;
  vocab: number;
  d: number;
  /** What was applied, for the page and index.json. */
  description: string;
}

export function unembeddingOf(model: LanguageModel): Unembedding {
  const { vocabSize: vocab, dModel: d } = model.dims;
  const arch = model.arch;
  if (arch instanceof Gemma2Model) {
    const gain = Float32Array.from(arch.w.finalNorm, (w) => 1 + w);
    return {
      wU: arch.w.lmHead,
      gain,
      vocab,
      d,
      description:
        "(W_dec[i] / c * (1 + w_final_norm)) W_U^T: Gemma-2's final RMSNorm gain folded in; its 1/rms and the final soft-cap not applied",
    };
  }
  if (arch instanceof Gpt2Model) {
    return {
      wU: arch.w.lmHead,
      gain: Float32Array.from(arch.w.lnfg),
      vocab,
      d,
      description:
        "(W_dec[i] / c * ln_f.weight) W_U^T: GPT-2's final LayerNorm gain folded in; its centering, 1/std and bias not applied",
    };
  }
  throw new Error(`logit effects: no unembedding reader for model architecture ${model.info.architecture}`);
}

/** Indices of the k largest (sign 1) or smallest (sign -1) of v, strongest first. */
export function extremeIndices(v: Float32Array, k: number, sign: 1 | -1): number[] {
  const idx: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < v.length; i++) {
    const x = sign * v[i];
    if (idx.length === k && x <= val[k - 1]) continue;
    let j = idx.length === k ? k - 1 : idx.length;
    while (j > 0 && val[j - 1] < x) {
      val[j] = val[j - 1];
      idx[j] = idx[j - 1];
      j--;
    }
    val[j] = x;
    idx[j] = i;
  }
  return idx;
}

/**
 * Feature i's `k` most promoted and most suppressed tokens, for every i.
 * wDec [m, d] in the SAE's input space; scale = c; rows of effects computed `block` at a time.
 */
export function logitEffects(
  wDec: Float32Array,
  m: number,
  scale: number,
  un: Unembedding,
  k: number,
  backend: Backend,
  tokenText: (id: number) => string,
  block = 64,
): { promoted: TokenEffect[]; suppressed: TokenEffect[] }[] {
  const { d, vocab, gain, wU } = un;
  if (wDec.length !== m * d) throw new Error(`W_dec has ${wDec.length} values; expected [${m}, ${d}] (the model's d)`);
  const u = new Float32Array(block * d);
  const out = new Float32Array(block * vocab);
  const result: { promoted: TokenEffect[]; suppressed: TokenEffect[] }[] = [];
  for (let a = 0; a < m; a += block) {
    const rows = Math.min(block, m - a);
    for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) u[r * d + j] = (wDec[(a + r) * d + j] / scale) * gain[j];
    const o = out.subarray(0, rows * vocab);
    backend.gemm(false, true, rows, vocab, d, 1, u.subarray(0, rows * d), d, wU, d, 0, o, vocab);
    for (let r = 0; r < rows; r++) {
      const row = o.subarray(r * vocab, (r + 1) * vocab);
      const pick = (sign: 1 | -1) =>
        extremeIndices(row, k, sign).map((id) => ({ id, token: tokenText(id), value: row[id] }));
      result.push({ promoted: pick(1), suppressed: pick(-1) });
    }
  }
  return result;
}
