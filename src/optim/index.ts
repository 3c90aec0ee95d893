/**
 * Optimizers: AdamW with parameter groups (adamw.ts), learning-rate schedules (schedule.ts,
 * plateau.ts), gradient scaling hooks (scale.ts), global-norm clipping (clip.ts) and gradient
 * accumulation that ties them into one optimizer step (accumulate.ts, whose header gives the order).
 */
export { type AccumulatorOptions, GradAccumulator, type MicroStepResult } from "./accumulate.ts";
export { AdamW, type AdamWOptions, type AdamWState, type ParamGroup } from "./adamw.ts";
export { assertFiniteGradNorm, type ClipResult, clipGradNorm, findNonFiniteGrad, globalGradNorm } from "./clip.ts";
export {
  type PlateauOptions,
  type PlateauState,
  ReduceLrOnPlateau,
  WarmupPlateau,
  type WarmupPlateauOptions,
} from "./plateau.ts";
export { applyGradScales } from "./scale.ts";
export {
  ConstantLr,
  cosineDecayLr,
  type EffectiveWarmup,
  effectiveWarmup,
  LinearWarmup,
  type LrSchedule,
  linearWarmupLr,
  WarmupCosine,
  type WarmupCosineOptions,
} from "./schedule.ts";
