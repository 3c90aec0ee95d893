/**
 * `msae lm eval`: a model folder's loss per token and perplexity on packed contexts of a corpus
 * (evaluate.ts: next-token targets, BOS targets and each context's last position not scored),
 * beside add-k unigram and bigram baselines fitted on a training corpus with the same tokenizer,
 * scored on the same target positions (baselines.ts).
 *
 *   {"tokens": n, "loss": nats/token, "ppl": exp(loss), "unigram_loss": ..., "bigram_loss": ...,
 *    "unigram_k": k, "bigram_k": k, "contexts": n, "context_length": T}
 */
import { join } from "node:path";
import type { Backend } from "../../core/backend.ts";
import { openCorpus } from "../../data/spec.ts";
import { loadTokenizer } from "../../tokenizer/load.ts";
import { loadModel } from "../loader.ts";
import { fitBaselines, ngramLosses } from "./baselines.ts";
import { packCorpus } from "./data.ts";
import { contextsLoss } from "./evaluate.ts";

export interface EvalOptions {
  model: string;
  data: string;
  trainData: string;
  backend?: Backend;
  /** Contexts per forward batch. */
  batch?: number;
  /** Context length (default min(128, the model's)). */
  contextLength?: number;
  onProgress?: (done: number, total: number) => void;
  /** Load weights holding NaN / Inf (forensics); see LoadModelOptions. */
  allowNonFinite?: boolean;
  onNonFinite?: (message: string) => void;
}

export interface EvalResult {
  tokens: number;
  loss: number;
  ppl: number;
  unigram_loss: number;
  bigram_loss: number;
  unigram_k: number;
  bigram_k: number;
  contexts: number;
  context_length: number;
}

export async function evaluateModel(o: EvalOptions): Promise<EvalResult> {
  const model = loadModel(o.model, {
    backend: o.backend,
    allowNonFinite: o.allowNonFinite,
    onNonFinite: o.onNonFinite,
  });
  const tok = loadTokenizer(join(o.model, "tokenizer.json"));
  const bos = model.info.bosId;
  const T = o.contextLength ?? Math.min(128, model.dims.contextLength);
  if (T > model.dims.contextLength)
    throw new Error(`context length ${T} exceeds the model's ${model.dims.contextLength}`);
  const data = await packCorpus(openCorpus(o.data), tok, T);
  const batch = o.batch ?? 8;
  const V = model.dims.vocabSize;
  const lm = contextsLoss(
    model.backend,
    (ids, b) => model.run(ids, { batch: b }).logits!.data,
    data,
    batch,
    V,
    bos,
    o.onProgress,
  );
  if (!Number.isFinite(lm.loss) && !o.allowNonFinite)
    throw new Error(
      `${o.model}: the model's loss on ${o.data} is ${lm.loss} although its weights are finite (activations overflowed float32); expected a finite loss`,
    );
  const train = await packCorpus(openCorpus(o.trainData), tok, T);
  const fitted = fitBaselines(train, V, bos);
  const base = ngramLosses(fitted.counts, data, bos, fitted.unigramK, fitted.bigramK);
  if (base.pairs !== lm.tokens)
    throw new Error(`internal: the baselines scored ${base.pairs} tokens but the model ${lm.tokens}`);
  return {
    tokens: lm.tokens,
    loss: lm.loss,
    ppl: Math.exp(lm.loss),
    unigram_loss: base.unigram,
    bigram_loss: base.bigram,
    unigram_k: fitted.unigramK,
    bigram_k: fitted.bigramK,
    contexts: data.count,
    context_length: T,
  };
}
