/**
 * Reduce-on-plateau on a smoothed loss, and its composition after a linear warmup (DESIGN s.2).
 *
 * Each observed loss L_t updates a bias-corrected EMA (smoothing s in [0, 1); s = 0 uses L_t as is):
 *   e_t = s e_{t-1} + (1 - s) L_t,  w_t = s w_{t-1} + (1 - s),  S_t = e_t / w_t   (e_0 = w_0 = 0)
 * Improvement: S_t < best - |best| * threshold (relative; the first loss always improves), then
 * best = S_t and bad = 0, else bad += 1. During a cooldown (steps left after a reduction) bad
 * stays 0. When bad > patience (PyTorch's rule: `patience` non-improving steps are tolerated, the
 * next one reduces):  lr <- max(lr * factor, minLr),  bad = 0,  cooldown restarts.
 *
 * WarmupPlateau: lr(t) = lr * min(1, t / W) for t <= W; after it, the plateau lr. Losses of warmup
 * steps are not observed (the plateau only acts after warmup). Steps t are 1-based optimizer steps.
 * state() / loadState() are plain JSON (no Infinity) so a checkpoint resumes the same curve.
 */
import { linearWarmupLr } from "./schedule.ts";

export interface PlateauOptions {
  /** Starting learning rate. */
  lr: number;
  /** Multiplier on a reduction, in (0, 1) (default 0.5). */
  factor?: number;
  /** Non-improving steps tolerated before a reduction (default 250). */
  patience?: number;
  /** Relative improvement needed to count as better (default 1e-3). */
  threshold?: number;
  /** Steps after a reduction during which non-improvement is not counted (default 100). */
  cooldown?: number;
  /** Floor of the learning rate (default 1e-5). */
  minLr?: number;
  /** EMA decay of the loss smoothing in [0, 1) (default 0.99; 0 = raw loss). */
  smoothing?: number;
}

export interface PlateauState {
  lr: number;
  /** Best smoothed loss so far; null before the first observation. */
  best: number | null;
  bad: number;
  cooldownLeft: number;
  ema: number;
  emaWeight: number;
  reductions: number;
}

function need(ok: boolean, what: string, value: unknown): void {
  if (!ok) throw new RangeError(`reduce-on-plateau: ${what}, got ${value}`);
}

export class ReduceLrOnPlateau {
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly cooldown: number;
  readonly minLr: number;
  readonly smoothing: number;
  private s: PlateauState;

  constructor(o: PlateauOptions) {
    const { lr, factor = 0.5, patience = 250, threshold = 1e-3, cooldown = 100, minLr = 1e-5, smoothing = 0.99 } = o;
    need(Number.isFinite(lr) && lr >= 0, "lr must be a finite number >= 0", lr);
    need(factor > 0 && factor < 1, "factor must be in (0, 1)", factor);
    need(Number.isInteger(patience) && patience >= 0, "patience must be an integer >= 0", patience);
    need(Number.isFinite(threshold) && threshold >= 0, "threshold must be a finite number >= 0", threshold);
    need(Number.isInteger(cooldown) && cooldown >= 0, "cooldown must be an integer >= 0", cooldown);
    need(Number.isFinite(minLr) && minLr >= 0, "minLr must be a finite number >= 0", minLr);
    need(smoothing >= 0 && smoothing < 1, "smoothing must be in [0, 1)", smoothing);
    this.factor = factor;
    this.patience = patience;
    this.threshold = threshold;
    this.cooldown = cooldown;
    this.minLr = minLr;
    this.smoothing = smoothing;
    this.s = { lr, best: null, bad: 0, cooldownLeft: 0, ema: 0, emaWeight: 0, reductions: 0 };
  }

  /** Current learning rate. */
  get lr(): number {
    return this.s.lr;
  }

  /** Smoothed loss after the last observation (NaN before the first). */
  get smoothedLoss(): number {
    return this.s.emaWeight > 0 ? this.s.ema / this.s.emaWeight : Number.NaN;
  }

  /** How many times the lr was reduced. */
  get reductions(): number {
    return this.s.reductions;
  }

  /** Feed one loss (once per optimizer step); returns the lr for the next step. */
  observe(loss: number): number {
    if (!Number.isFinite(loss)) throw new RangeError(`reduce-on-plateau: the loss is ${loss}; training stopped`);
    const st = this.s;
    const sm = this.smoothing;
    st.ema = sm * st.ema + (1 - sm) * loss;
    st.emaWeight = sm * st.emaWeight + (1 - sm);
    const smoothed = st.ema / st.emaWeight;
    if (st.best === null || smoothed < st.best - Math.abs(st.best) * this.threshold) {
      st.best = smoothed;
      st.bad = 0;
    } else {
      st.bad += 1;
    }
    if (st.cooldownLeft > 0) {
      st.cooldownLeft -= 1;
      st.bad = 0;
    }
    if (st.bad > this.patience) {
      if (st.lr > this.minLr) {
        st.lr = Math.max(st.lr * this.factor, this.minLr);
        st.reductions += 1;
      }
      st.cooldownLeft = this.cooldown;
      st.bad = 0;
    }
    return st.lr;
  }

  state(): PlateauState {
    return { ...this.s };
  }

  loadState(state: PlateauState): void {
    const ok =
      state &&
      Number.isFinite(state.lr) &&
      (state.best === null || Number.isFinite(state.best)) &&
      Number.isInteger(state.bad) &&
      Number.isInteger(state.cooldownLeft) &&
      Number.isFinite(state.ema) &&
      Number.isFinite(state.emaWeight) &&
      Number.isInteger(state.reductions);
    if (!ok)
      throw new RangeError(
        "reduce-on-plateau: loadState expects { lr, best (number or null), bad, cooldownLeft, ema, emaWeight, reductions }",
      );
    this.s = { ...state };
  }
}

export interface WarmupPlateauOptions extends PlateauOptions {
  /** Linear warmup steps W (0 = none); see effectiveWarmup in schedule.ts. */
  warmupSteps: number;
}

export class WarmupPlateau {
  readonly lr: number;
  readonly warmupSteps: number;
  readonly plateau: ReduceLrOnPlateau;

  constructor(o: WarmupPlateauOptions) {
    need(Number.isInteger(o.warmupSteps) && o.warmupSteps >= 0, "warmupSteps must be an integer >= 0", o.warmupSteps);
    this.lr = o.lr;
    this.warmupSteps = o.warmupSteps;
    this.plateau = new ReduceLrOnPlateau(o);
  }

  /** Learning rate for 1-based optimizer step t. */
  lrAt(step: number): number {
    if (step <= this.warmupSteps) return linearWarmupLr(step, this.lr, this.warmupSteps);
    return this.plateau.lr;
  }

  /** Feed the loss of step t (ignored during warmup). */
  observe(step: number, loss: number): void {
    if (step > this.warmupSteps) this.plateau.observe(loss);
  }

  state(): PlateauState {
    return this.plateau.state();
  }

  loadState(state: PlateauState): void {
    this.plateau.loadState(state);
  }
}
