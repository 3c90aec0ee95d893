/**
 * Gradient accumulation over micro-batches, ending in one optimizer step.
 *
 * The caller runs forward + backward of each micro-batch (autograd adds into param.grad; the loss
 * multiplied by `lossScale`) and then calls microStep(). On the N-th micro-batch (or at flush()
 * with k < N pending), in this order:
 *   1. average:  g <- g * f, f = 1/k ("divide" mode: the summed gradients of k micro-batches)
 *                or f = N/k ("lossScale" mode: each loss was already multiplied by 1/N; f = 1 when k = N)
 *   2. scale hooks: rowGradScale / colGradScale of each parameter (scale.ts)
 *   3. clip: global norm ||g|| (after 1-2), g <- g * min(1, maxNorm / ||g||)      (clip.ts)
 *   4. NaN/inf guard: a non-finite norm throws a one-line error naming the parameter
 *   5. lr: optimizer.setLr(schedule.lrAt(t)) when a schedule is given, t = the step about to run
 *   6. optimizer step (AdamW), then zeroGrad
 * Steps 1 and 3 are scalar multiplications, so they run as one fused pass g <- g * (f * clip)
 * after the hooks (hooks are linear per entry, so the order is unchanged mathematically; the norm
 * of step 3 is f * ||hooks(g)||). The norm and the pass run over the optimizer's gradient buffers
 * (AdamW.gradBuffers: one per run of back-to-back parameters, e.g. two for the flat LM parameters).
 */
import type { FloatArray } from "../core/backend.ts";
import type { Parameter } from "../core/parameter.ts";
import type { AdamW } from "./adamw.ts";
import { assertFiniteGradNorm } from "./clip.ts";
import { applyGradScales } from "./scale.ts";

export interface AccumulatorOptions {
  optimizer: AdamW;
  /** Micro-batches per optimizer step N (>= 1). */
  microBatches: number;
  /** Clip the global gradient norm at this value; null or Infinity = no clipping (default 1.0). */
  maxGradNorm?: number | null;
  /** "divide" (default): divide the summed gradients by the count; "lossScale": losses are pre-scaled by 1/N. */
  averaging?: "divide" | "lossScale";
  /** Learning rate for the 1-based optimizer step t, applied before each step. */
  schedule?: { lrAt(step: number): number };
}

export interface MicroStepResult {
  /** Whether this call ran an optimizer step. */
  stepped: boolean;
  /** Optimizer steps taken so far (after this call). */
  step: number;
  /** Global gradient norm after averaging and hooks, before clipping (NaN when not stepped). */
  gradNorm: number;
  /** Factor applied by clipping (1 when not clipped; NaN when not stepped). */
  clipScale: number;
  /** Base learning rate used by the step (the current one when not stepped). */
  lr: number;
}

export class GradAccumulator {
  readonly optimizer: AdamW;
  readonly microBatches: number;
  readonly maxGradNorm: number;
  readonly averaging: "divide" | "lossScale";
  private readonly schedule: { lrAt(step: number): number } | undefined;
  private readonly params: Parameter<FloatArray>[];
  private count = 0;

  constructor(o: AccumulatorOptions) {
    if (!Number.isInteger(o.microBatches) || o.microBatches < 1)
      throw new RangeError(`GradAccumulator: microBatches must be an integer >= 1, got ${o.microBatches}`);
    const maxNorm = o.maxGradNorm === undefined ? 1.0 : (o.maxGradNorm ?? Number.POSITIVE_INFINITY);
    if (!(maxNorm > 0))
      throw new RangeError(`GradAccumulator: maxGradNorm must be > 0 (or null for none), got ${maxNorm}`);
    const averaging = o.averaging ?? "divide";
    if (averaging !== "divide" && averaging !== "lossScale")
      throw new RangeError(`GradAccumulator: averaging must be "divide" or "lossScale", got ${averaging}`);
    this.optimizer = o.optimizer;
    this.microBatches = o.microBatches;
    this.maxGradNorm = maxNorm;
    this.averaging = averaging;
    this.schedule = o.schedule;
    this.params = o.optimizer.params;
  }

  /** Multiply each micro-batch loss by this before backward (1/N in "lossScale" mode, else 1). */
  get lossScale(): number {
    return this.averaging === "lossScale" ? 1 / this.microBatches : 1;
  }

  /** Micro-batches accumulated since the last optimizer step. */
  get pending(): number {
    return this.count;
  }

  /** Call after each micro-batch's backward; steps on the N-th. */
  microStep(): MicroStepResult {
    this.count += 1;
    if (this.count < this.microBatches) return this.notStepped();
    return this.finish(this.count);
  }

  /** Step with the micro-batches accumulated so far (end of data); no-op when none are pending. */
  flush(): MicroStepResult {
    if (this.count === 0) return this.notStepped();
    return this.finish(this.count);
  }

  private notStepped(): MicroStepResult {
    return {
      stepped: false,
      step: this.optimizer.stepCount,
      gradNorm: Number.NaN,
      clipScale: Number.NaN,
      lr: this.optimizer.lr,
    };
  }

  private finish(k: number): MicroStepResult {
    const opt = this.optimizer;
    const backend = opt.backend;
    const t = opt.stepCount + 1;
    const average = this.averaging === "divide" ? 1 / k : this.microBatches / k;
    applyGradScales(this.params, backend);
    let sumSq = 0;
    for (const g of opt.gradBuffers()) sumSq += backend.sumSquares(g);
    const gradNorm = Math.sqrt(sumSq) * average;
    try {
      assertFiniteGradNorm(gradNorm, this.params, t);
    } catch (e) {
      this.count = 0;
      opt.zeroGrad();
      throw e;
    }
    const clipScale = gradNorm > this.maxGradNorm ? this.maxGradNorm / gradNorm : 1;
    const total = average * clipScale;
    if (total !== 1) for (const g of opt.gradBuffers()) backend.scale(g, total, g);
    if (this.schedule) opt.setLr(this.schedule.lrAt(t));
    opt.step();
    opt.zeroGrad();
    this.count = 0;
    return { stepped: true, step: opt.stepCount, gradNorm, clipScale, lr: opt.lr };
  }
}
