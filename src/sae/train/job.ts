/**
 * One SAE being trained (one arch on one hook): the module, its AdamW + accumulator + schedule,
 * the importance EMA, the dead-feature counters and the per-step bookkeeping. The trainer
 * (trainer.ts) feeds every job the same micro-batches.
 *
 * One optimizer step t of a job (DESIGN.md s.2; `microBatches` = 4 micro-batches of 2048 rows):
 *   each micro-batch x_in = c x:  parts = trainBatch(x_in, gradWeight 1, AuxK mask for the TopK
 *     family); a NaN/Inf part stops training (one line naming the job, step and part);
 *     importance EMA and dead counters from h'; the importance scales refreshed; microStep
 *   the accumulator (src/optim/accumulate.ts) then averages the 4 gradients, applies the
 *   importance scales, clips the global norm at 1.0 and runs AdamW (weight decay on matrices
 *   only) at lr(t) = linear warmup, then reduce-on-plateau on the smoothed loss (floor 1e-5);
 *   after the step: the plateau sees the step's mean total loss; gated's decoder rows are put
 *   back on the unit sphere (gatedUnitDecoder), jumprelu's threshold floored
 *   (jumpreluThresholdFloor) (both documented in src/config/sae-train.ts); every
 *   reactivateEvery steps (not at the last) dead features are revived (reactivate.ts).
 */

import type { SaeTrainConfig } from "../../config/sae-train.ts";
import type { Backend } from "../../core/backend.ts";
import { AdamW, effectiveWarmup, GradAccumulator, type MicroStepResult, WarmupPlateau } from "../../optim/index.ts";
import { SAE_FACTORIES, TOPK_FAMILY } from "../registry.ts";
import type { LossParts, SaeHyper, SaeModule } from "../types.ts";
import { DeadTracker } from "./dead.ts";
import { FeatureImportance } from "./importance.ts";
import { reactivateFeatures, reactivationSeed } from "./reactivate.ts";

const PARTS = ["recon", "sparsity", "ortho", "aux"] as const;

/** One line of train_log.jsonl. */
export interface StepRecord {
  step: number;
  tokens: number;
  loss: number;
  recon: number;
  sparsity: number;
  ortho: number;
  aux: number;
  l0: number;
  dead: number;
  lr: number;
  grad_norm: number;
  reactivated: number;
  [key: string]: number;
}

export interface JobSetup {
  /** Position among the run's jobs (seeds its reactivation Rng). */
  index: number;
  hyper: SaeHyper;
  hook: string;
  hookIndex: number;
  /** Dataset constant c of this hook. */
  scale: number;
  dir: string;
  totalSteps: number;
  deadTokens: number;
}

export class SaeJob {
  readonly name: string;
  readonly sae: SaeModule<Float32Array>;
  readonly optimizer: AdamW;
  readonly schedule: WarmupPlateau;
  readonly importance: FeatureImportance;
  readonly dead: DeadTracker;
  readonly density: Float64Array; // [m] firing counts since densityFrom
  densityTokens = 0;
  /** [m] firing counts of the current micro-batch; [nonzero count, sum] of its codes. */
  private readonly fired: Int32Array;
  private readonly colSum: Float32Array;
  readonly warmupWarning: string | null;
  private readonly acc: GradAccumulator;
  private readonly topk: boolean;
  private readonly sum = { recon: 0, sparsity: 0, ortho: 0, aux: 0, total: 0, l0: 0, n: 0 };

  constructor(
    readonly setup: JobSetup,
    readonly config: SaeTrainConfig,
    backend: Backend,
    firstBatch: Float32Array,
    rows: number,
  ) {
    const { hyper } = setup;
    this.name = `${hyper.arch}/${setup.hook}`;
    this.sae = SAE_FACTORIES[hyper.arch]<Float32Array>(hyper, backend, {
      arrayType: "f32",
      seed: config.seed,
      firstBatch,
      rows,
    });
    const params = [...this.sae.params.values()].map((p) => p.param);
    this.optimizer = new AdamW([{ params, weightDecay: config.weightDecay }], {
      lr: config.lr,
      beta1: config.beta1,
      beta2: config.beta2,
      eps: config.adamEps,
      backend,
    });
    const warm = effectiveWarmup(config.warmupSteps, setup.totalSteps);
    this.warmupWarning = warm.warning;
    this.schedule = new WarmupPlateau({
      lr: config.lr,
      warmupSteps: warm.warmupSteps,
      factor: config.plateauFactor,
      patience: config.plateauPatience,
      cooldown: config.plateauCooldown,
      threshold: config.plateauThreshold,
      smoothing: config.plateauSmoothing,
      minLr: config.minLr,
    });
    this.acc = new GradAccumulator({
      optimizer: this.optimizer,
      microBatches: config.microBatches,
      maxGradNorm: config.gradClip,
      averaging: "divide",
      schedule: this.schedule,
    });
    this.importance = new FeatureImportance(
      this.sae,
      config.importanceBeta,
      config.importanceMin,
      config.importanceMax,
      config.importanceScaling,
    );
    this.dead = new DeadTracker(hyper.m, setup.deadTokens);
    this.density = new Float64Array(hyper.m);
    this.fired = new Int32Array(hyper.m);
    this.colSum = new Float32Array(hyper.m);
    this.topk = TOPK_FAMILY.includes(hyper.arch);
  }

  /** Forward + backward of one micro-batch of optimizer step t; steps on the last one. */
  microBatch(x: Float32Array, rows: number, t: number): MicroStepResult {
    const parts = this.sae.trainBatch(x, rows, {
      gradWeight: 1,
      deadMask: this.topk ? this.dead.auxMask() : null,
      updateState: true,
    });
    this.checkFinite(parts, t);
    // Column sums (importance) and per-feature firing counts (h' > 0: dead tracking, density) of
    // this micro-batch, from the module's codes (sparse ones without a dense pass).
    const fired = this.fired;
    fired.fill(0);
    this.sae.codeColumnStats(this.colSum, fired);
    this.importance.updateFromSums(this.colSum, rows);
    this.dead.update(fired, rows, t);
    this.countDensity(fired, rows);
    const s = this.sum;
    s.recon += parts.recon;
    s.sparsity += parts.sparsity;
    s.ortho += parts.ortho;
    s.aux += parts.aux;
    s.total += parts.total;
    s.l0 += parts.l0;
    s.n += 1;
    if (this.acc.pending + 1 >= this.acc.microBatches) this.importance.refreshScales();
    return this.runStep(() => this.acc.microStep(), t);
  }

  /** Steps with the micro-batches accumulated so far (the run's last, short step). */
  flush(t: number): MicroStepResult {
    this.importance.refreshScales();
    return this.runStep(() => this.acc.flush(), t);
  }

  get pending(): number {
    return this.acc.pending;
  }

  private runStep(f: () => MicroStepResult, _t: number): MicroStepResult {
    try {
      return f();
    } catch (e) {
      throw new Error(`${this.name}: ${(e as Error).message}`);
    }
  }

  private checkFinite(parts: LossParts, t: number): void {
    for (const k of PARTS)
      if (!Number.isFinite(parts[k]))
        throw new Error(`${this.name}: loss part "${k}" is ${parts[k]} at optimizer step ${t}; training stopped`);
  }

  /** density += the firing counts [m] of one micro-batch of `rows` tokens. */
  private countDensity(fired: Int32Array, rows: number): void {
    const c = this.density;
    for (let i = 0; i < c.length; i++) c[i] += fired[i];
    this.densityTokens += rows;
  }

  /** After optimizer step t (r stepped): schedule, constraints, reactivation; returns the log record. */
  afterStep(r: MicroStepResult, tokens: number): StepRecord {
    const t = r.step;
    const c = this.config;
    const s = this.sum;
    const n = Math.max(1, s.n);
    const loss = s.total / n;
    this.schedule.observe(t, loss);
    const { arch, d, m } = this.setup.hyper;
    if (arch === "gated" && c.gatedUnitDecoder) {
      const w = this.sae.params.get("W_dec")!.param.data;
      for (let i = 0; i < m; i++) {
        let q = 0;
        for (let j = i * d; j < (i + 1) * d; j++) q += w[j] * w[j];
        if (q > 0) {
          const f = 1 / Math.sqrt(q);
          for (let j = i * d; j < (i + 1) * d; j++) w[j] *= f;
        }
      }
    }
    if (arch === "jumprelu") {
      const th = this.sae.params.get("threshold")!.param.data;
      for (let i = 0; i < m; i++) if (!(th[i] >= c.jumpreluThresholdFloor)) th[i] = c.jumpreluThresholdFloor;
    }
    const window = c.reactivateEvery;
    const deadNow = this.dead.deadForReactivation(t, window);
    let reactivated = 0;
    if (c.reactivateArchs === "all" && t % window === 0 && t < this.setup.totalSteps && deadNow.length > 0) {
      const rows = this.sae.codes().length / m;
      const residual = new Float32Array(rows * d);
      this.sae.decoderResidual(residual);
      reactivated = reactivateFeatures(
        this.sae,
        this.optimizer,
        deadNow,
        residual,
        rows,
        reactivationSeed(c.seed, this.setup.index, t),
        {
          rank: c.reactivateRank,
          oversample: c.reactivateOversample,
          powerIterations: c.reactivatePowerIterations,
          noise: c.reactivateNoise,
          encoderScale: c.reactivateEncoderScale,
        },
      );
      if (reactivated > 0) this.dead.revive(deadNow, t);
    }
    if (t % window === 0 && t < this.setup.totalSteps) {
      this.density.fill(0);
      this.densityTokens = 0;
    }
    const record: StepRecord = {
      step: t,
      tokens,
      loss,
      recon: s.recon / n,
      sparsity: s.sparsity / n,
      ortho: s.ortho / n,
      aux: s.aux / n,
      l0: s.l0 / n,
      dead: deadNow.length,
      lr: r.lr,
      grad_norm: r.gradNorm,
      reactivated,
    };
    s.recon = s.sparsity = s.ortho = s.aux = s.total = s.l0 = s.n = 0;
    return record;
  }

  /** [m] log10 feature density over the current window (SAELens sparsity.safetensors). */
  logDensity(): Float32Array {
    const out = new Float32Array(this.setup.hyper.m);
    const n = Math.max(1, this.densityTokens);
    for (let i = 0; i < out.length; i++) out[i] = Math.log10(this.density[i] / n + 1e-10);
    return out;
  }
}
