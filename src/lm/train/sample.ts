/**
 * Text generation by ancestral sampling with the forward (no KV cache: the whole context, at most
 * the model's context length, is recomputed for every new token; fine at this model size).
 *
 *   p_i proportional to exp(z_i / temperature) over the top_k largest logits z (ties: lower id),
 *   0 elsewhere; temperature 0 = greedy (argmax, lower id on ties).
 * The draw is u ~ U[0, 1) from Rng(seed) (tensor.ts), one per token, inverted through the sorted
 * cumulative distribution: the same seed, prompt and model give the same text.
 * The prompt is encoded without specials and BOS is prepended (the training layout); generation
 * stops after maxTokens tokens or at BOS / EOS (a document boundary), which is not emitted.
 */
import type { FloatArray } from "../../core/backend.ts";
import { Rng } from "../../core/tensor.ts";
import type { LanguageModel } from "../model.ts";

export interface SampleOptions {
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  seed?: number;
}

/** Picks the next id from one row of logits [vocab] (see header); u in [0, 1). */
export function sampleFromLogits(
  logits: FloatArray,
  vocab: number,
  temperature: number,
  topK: number,
  u: number,
): number {
  const k = Math.max(1, Math.min(topK > 0 ? topK : vocab, vocab));
  // the k best ids, by logit descending then id ascending
  const ids = Array.from({ length: vocab }, (_, i) => i);
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  if (temperature <= 0) return ids[0];
  const top = ids.slice(0, k);
  const zmax = logits[top[0]];
  const w = top.map((i) => Math.exp((logits[i] - zmax) / temperature));
  const total = w.reduce((a, b) => a + b, 0);
  let acc = 0;
  for (let j = 0; j < k; j++) {
    acc += w[j] / total;
    if (u < acc) return top[j];
  }
  return top[k - 1];
}

/** Generates token ids after `prompt` ids (BOS is prepended here). Returns the new ids. */
export function generateIds(model: LanguageModel, prompt: ArrayLike<number>, o: SampleOptions = {}): number[] {
  const maxTokens = o.maxTokens ?? 60;
  const temperature = o.temperature ?? 0.8;
  const topK = o.topK ?? 40;
  const rng = new Rng(o.seed ?? 0);
  const { bosId, eosId } = model.info;
  const V = model.dims.vocabSize;
  const C = model.dims.contextLength;
  const context: number[] = bosId === null ? [] : [bosId];
  for (let i = 0; i < prompt.length; i++) context.push(prompt[i]);
  if (context.length === 0)
    throw new Error("generate: the prompt is empty and the model has no BOS token to start from");
  const out: number[] = [];
  for (let n = 0; n < maxTokens; n++) {
    // a long context keeps BOS at position 0 and its last C - 1 tokens (the training layout)
    const window =
      context.length <= C
        ? context
        : [...(bosId === null ? [] : [bosId]), ...context.slice(-(C - (bosId === null ? 0 : 1)))];
    const { logits } = model.run([window]);
    const row = logits!.data.subarray((window.length - 1) * V, window.length * V);
    const next = sampleFromLogits(row, V, temperature, topK, rng.next());
    if (next === bosId || next === eosId) break;
    context.push(next);
    out.push(next);
  }
  return out;
}
