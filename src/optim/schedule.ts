/**
 * Learning-rate schedules. Step numbers t are 1-based optimizer steps (the t-th call of
 * AdamW.step(), the same t as Adam's bias correction); a schedule gives the lr for step t.
 *
 *   constant:        lr(t) = lr
 *   linear warmup:   lr(t) = lr * min(1, t / W)                       (W = 0: no warmup)
 *   cosine decay:    p = clamp((t - W) / (T - W), 0, 1)
 *                    lr(t) = floor + (lr - floor) * (1 + cos(pi p)) / 2   (from lr at t = W to floor at T)
 *   warmup + cosine: warmup for t <= W, then cosine (the two meet at lr at t = W)
 *
 * Reduce-on-plateau and its composition with warmup live in plateau.ts.
 */

/** A stateless map from 1-based optimizer step to learning rate. */
export interface LrSchedule {
  lrAt(step: number): number;
}

function checkStep(step: number): void {
  if (!Number.isInteger(step) || step < 1)
    throw new RangeError(`lr schedule: step must be an integer >= 1, got ${step}`);
}

function checkLr(name: string, lr: number): void {
  if (!Number.isFinite(lr) || lr < 0)
    throw new RangeError(`lr schedule: ${name} must be a finite number >= 0, got ${lr}`);
}

function checkSteps(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`lr schedule: ${name} must be an integer >= 0, got ${n}`);
}

/** lr * min(1, step / warmupSteps) (the full lr when warmupSteps = 0). */
export function linearWarmupLr(step: number, lr: number, warmupSteps: number): number {
  checkStep(step);
  if (warmupSteps <= 0 || step >= warmupSteps) return lr;
  return (lr * step) / warmupSteps;
}

/** Cosine from lr at step `start` down to `floor` at step `total` (held at floor after). */
export function cosineDecayLr(step: number, lr: number, floor: number, start: number, total: number): number {
  checkStep(step);
  const span = total - start;
  const p = span <= 0 ? (step >= total ? 1 : 0) : Math.min(1, Math.max(0, (step - start) / span));
  return floor + ((lr - floor) * (1 + Math.cos(Math.PI * p))) / 2;
}

export class ConstantLr implements LrSchedule {
  constructor(readonly lr: number) {
    checkLr("lr", lr);
  }
  lrAt(step: number): number {
    checkStep(step);
    return this.lr;
  }
}

export class LinearWarmup implements LrSchedule {
  constructor(
    readonly lr: number,
    readonly warmupSteps: number,
  ) {
    checkLr("lr", lr);
    checkSteps("warmupSteps", warmupSteps);
  }
  lrAt(step: number): number {
    return linearWarmupLr(step, this.lr, this.warmupSteps);
  }
}

export interface WarmupCosineOptions {
  lr: number;
  /** Warmup steps W (0 = none). */
  warmupSteps: number;
  /** Step T at which the cosine reaches the floor (T >= W). */
  totalSteps: number;
  /** Final learning rate (default 0). */
  floor?: number;
}

export class WarmupCosine implements LrSchedule {
  readonly lr: number;
  readonly warmupSteps: number;
  readonly totalSteps: number;
  readonly floor: number;
  constructor(o: WarmupCosineOptions) {
    checkLr("lr", o.lr);
    checkSteps("warmupSteps", o.warmupSteps);
    checkSteps("totalSteps", o.totalSteps);
    const floor = o.floor ?? 0;
    checkLr("floor", floor);
    if (o.totalSteps < o.warmupSteps)
      throw new RangeError(`lr schedule: totalSteps (${o.totalSteps}) must be >= warmupSteps (${o.warmupSteps})`);
    if (floor > o.lr) throw new RangeError(`lr schedule: floor (${floor}) must be <= lr (${o.lr})`);
    this.lr = o.lr;
    this.warmupSteps = o.warmupSteps;
    this.totalSteps = o.totalSteps;
    this.floor = floor;
  }
  lrAt(step: number): number {
    if (step <= this.warmupSteps) return linearWarmupLr(step, this.lr, this.warmupSteps);
    return cosineDecayLr(step, this.lr, this.floor, this.warmupSteps, this.totalSteps);
  }
}

export interface EffectiveWarmup {
  /** Warmup steps to use. */
  warmupSteps: number;
  /** One line to print when the warmup was capped, else null. */
  warning: string | null;
}

/**
 * DESIGN s.2: "linear warmup 1000 optimizer steps (if the run is shorter, cap at 10% of it and warn)".
 * A run of totalSteps <= requested gets max(1, floor(0.1 * totalSteps)) warmup steps and a warning.
 */
export function effectiveWarmup(requested: number, totalSteps: number): EffectiveWarmup {
  checkSteps("requested warmup", requested);
  checkSteps("totalSteps", totalSteps);
  if (requested === 0 || totalSteps > requested) return { warmupSteps: requested, warning: null };
  const capped = Math.max(1, Math.floor(0.1 * totalSteps));
  return {
    warmupSteps: capped,
    warning:
      `warmup of ${requested} optimizer steps is not shorter than the run (${totalSteps} steps); ` +
      `capped at ${capped} steps (10% of the run)`,
  };
}
