/**
 * msae's side of one `msae bench sae` step: exactly what bench/torch_sae.py's step computes
 * (its header, ONE STEP), on the module built through SAE_FACTORIES with the case's inputs
 * (bench/sae-inputs.ts) copied into its parameters:
 *
 *   zero the gradients;  parts = trainBatch(x [B, d], gradWeight 1, dead mask (TopK family),
 *   updateState true)  (forward + backward + coact_ema / run stats / threshold EMA updates);
 *   clip the global gradient norm at 1.0;  AdamW (0.9, 0.999, eps 1e-8, weight decay 1e-4 on the
 *   parameters with decay = true, i.e. W_enc, W_dec, attn_WQ, attn_K; lr 3e-7).
 *
 * This is ONE micro-batch = one optimizer step, as the peer does. msae's trainer
 * (src/sae/train/job.ts) also runs per step the feature-importance EMA and gradient scaling, the
 * dead-feature counters and density counts, gradient accumulation over 4 micro-batches and the lr
 * schedule; the peer has none of these, so this bench leaves them out on msae's side too.
 * Hyperparameters are the peer's (tools/golden/sae_math.py default_hyper): l1 0.05, l2 0.1 for
 * the paper archs (0 for the baselines), k 32, auxK d / 2, AuxK coef 1/32.
 */

import { parseSaeHyper } from "../src/config/sae.ts";
import type { Backend } from "../src/core/backend.ts";
import { AdamW } from "../src/optim/adamw.ts";
import { clipGradNorm } from "../src/optim/clip.ts";
import { SAE_FACTORIES } from "../src/sae/registry.ts";
import { type LossParts, PAPER_ARCHS, type SaeArch, type SaeHyper, type SaeModule } from "../src/sae/types.ts";
import type { SaeBenchInputs } from "./sae-inputs.ts";

export const BENCH_LR = 3e-7;
export const BENCH_WEIGHT_DECAY = 1e-4;
export const BENCH_CLIP = 1.0;

/** The peer's hyperparameters for one case (file header). */
export function benchHyper(arch: SaeArch, d: number, m: number, k: number): SaeHyper {
  const paper = (PAPER_ARCHS as readonly string[]).includes(arch);
  return parseSaeHyper({ arch, m, l1: 0.05, l2: paper ? 0.1 : 0, k }, d, "bench sae");
}

/** A freshly built module holding the case's inputs, with its AdamW. */
export class MsaeBenchStep {
  readonly sae: SaeModule<Float32Array>;
  readonly optimizer: AdamW;
  private readonly params;

  constructor(
    readonly inputs: SaeBenchInputs,
    hyper: SaeHyper,
    readonly backend: Backend,
  ) {
    const { x, batch } = inputs;
    this.sae = SAE_FACTORIES[hyper.arch]<Float32Array>(hyper, backend, {
      arrayType: "f32",
      seed: 1,
      firstBatch: x,
      rows: batch,
    });
    for (const [name, data] of Object.entries(inputs.params)) {
      const p = this.sae.params.get(name);
      if (!p) throw new Error(`bench sae: ${hyper.arch} has no parameter ${name}`);
      if (p.param.data.length !== data.length)
        throw new Error(`bench sae: ${name} holds ${data.length} values; ${hyper.arch} expects ${p.param.data.length}`);
      p.param.data.set(data);
    }
    this.params = [...this.sae.params.values()].map((p) => p.param);
    this.optimizer = new AdamW([{ params: this.params, weightDecay: BENCH_WEIGHT_DECAY }], {
      lr: BENCH_LR,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      backend,
    });
  }

  /** One step (file header); the loss parts of its forward (before the update). */
  step(): LossParts {
    this.optimizer.zeroGrad();
    const parts = this.sae.trainBatch(this.inputs.x, this.inputs.batch, {
      gradWeight: 1,
      deadMask: this.inputs.dead,
      updateState: true,
    });
    clipGradNorm(this.params, BENCH_CLIP, this.backend);
    this.optimizer.step();
    return parts;
  }
}
