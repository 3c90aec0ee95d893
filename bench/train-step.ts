/**
 * msae's side of `msae bench train`: one Gemma-2 LM training step exactly as `msae lm train` runs
 * it (src/lm/train/trainer.ts), on a fixed batch, from the weights of a model folder:
 *
 *   forward (embed, every block, headRaw) -> the fused soft-capped cross-entropy: loss = sum of
 *   the scored CE / scored and its backward with dloss = 1 / scored (Gemma2Backward.lossAndBackward)
 *   GradAccumulator (1 micro-batch): global-norm clip at `clip`, AdamW (decay on matrices only),
 *   zeroGrad
 *
 * The torch peer (bench/torch_train.py) runs the same step on the same ids and targets from the
 * same weight file; the first step's loss and gradient norm of the two sides are compared.
 */
import type { Backend } from "../src/core/backend.ts";
import { Gemma2Backward } from "../src/lm/gemma2/backward.ts";
import type { Gemma2Model } from "../src/lm/gemma2/forward.ts";
import { Gemma2Model as Gemma2Forward } from "../src/lm/gemma2/forward.ts";
import type { Gemma2Weights } from "../src/lm/gemma2/weights.ts";
import { loadModel } from "../src/lm/loader.ts";
import { fillTargets } from "../src/lm/train/data.ts";
import { createGemma2Params, type Gemma2Params } from "../src/lm/train/params.ts";
import { AdamW, GradAccumulator } from "../src/optim/index.ts";
import { randomIds } from "./lm-synthetic.ts";

export interface TrainHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  clip: number;
}

/** The `msae lm train` defaults (src/lm/train/config.ts), at the warmup's first lr. */
export const TRAIN_BENCH_HYPER: TrainHyper = {
  lr: 3e-4,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.1,
  clip: 1.0,
};

/** Copies every tensor of `src` into `dst` (same Gemma2Weights layout). */
function copyWeights(src: Gemma2Weights, dst: Gemma2Weights): void {
  dst.embed.set(src.embed);
  dst.finalNorm.set(src.finalNorm);
  if (dst.lmHead !== dst.embed) dst.lmHead.set(src.lmHead);
  for (const [l, s] of src.layers.entries()) {
    const d = dst.layers[l] as unknown as Record<string, Float32Array>;
    for (const [k, v] of Object.entries(s)) d[k].set(v as Float32Array);
  }
}

/**
 * Ids [batch * seq]: uniform random tokens (seeded) with BOS at position 0 of every context, as
 * packed training contexts have; targets [batch * seq] from fillTargets (data.ts).
 */
export function benchBatch(vocab: number, bos: number | null, batch: number, seq: number, seed: number) {
  const ids = randomIds(batch * seq, vocab, seed);
  if (bos !== null) for (let b = 0; b < batch; b++) ids[b * seq] = bos;
  const targets = new Int32Array(batch * seq);
  const scored = fillTargets(ids, seq, bos, targets);
  return { ids, targets, scored };
}

export class MsaeTrainStep {
  readonly model: Gemma2Model;
  readonly params: Gemma2Params;
  readonly ids: Int32Array; // [batch * seq]
  readonly targets: Int32Array; // [batch * seq], -1 = ignored
  readonly scored: number;
  private readonly bw: Gemma2Backward;
  private readonly acc: GradAccumulator;
  private readonly ws: ReturnType<Gemma2Model["createWorkspace"]>;

  /** `backend` runs the step (a profiling wrapper may be passed); weights are read with `loadBackend`. */
  constructor(
    modelDir: string,
    batch: number,
    seq: number,
    hyper: TrainHyper,
    backend: Backend,
    seed = 7,
    loadBackend: Backend = backend,
  ) {
    const loaded = loadModel(modelDir, { backend: loadBackend, tokenizer: false });
    if (loaded.info.architecture !== "gemma2")
      throw new Error(`bench train: ${modelDir} holds a ${loaded.info.architecture} model; expected gemma2`);
    const src = loaded.arch as Gemma2Model;
    const cfg = src.cfg;
    if (seq > cfg.maxPositions) throw new RangeError(`bench train: seq ${seq} > the model's ${cfg.maxPositions}`);
    this.params = createGemma2Params(cfg);
    copyWeights(src.w, this.params.weights);
    this.model = new Gemma2Forward(cfg, this.params.weights, backend);
    this.ws = this.model.createWorkspace(batch, seq, true);
    this.bw = new Gemma2Backward(this.model, backend);
    const opt = new AdamW([{ params: this.params.list, weightDecay: hyper.weightDecay }], {
      lr: hyper.lr,
      beta1: hyper.beta1,
      beta2: hyper.beta2,
      eps: hyper.eps,
      backend,
    });
    this.acc = new GradAccumulator({
      optimizer: opt,
      microBatches: 1,
      maxGradNorm: hyper.clip,
      averaging: "lossScale",
    });
    const b = benchBatch(cfg.vocabSize, cfg.bosId, batch, seq, seed);
    this.ids = b.ids;
    this.targets = b.targets;
    this.scored = b.scored;
  }

  /** One training step; the loss before the update and the global gradient norm before clipping. */
  step(): { loss: number; gradNorm: number } {
    const { model, ws, ids, targets } = this;
    model.embed(ws, ids);
    for (let l = 0; l < model.cfg.numLayers; l++) model.block(ws, l, null);
    model.headRaw(ws);
    const sum = this.bw.lossAndBackward(ws, ids, targets, 1 / this.scored, this.params.grads).sum;
    const r = this.acc.microStep();
    return { loss: sum / this.scored, gradNorm: r.gradNorm };
  }
}
