/**
 * AdamW (Loshchilov & Hutter, decoupled weight decay) over parameter groups.
 *
 * For each parameter p with gradient g, at optimizer step t = 1, 2, ... (one counter for all):
 *   m <- b1 m + (1 - b1) g
 *   v <- b2 v + (1 - b2) g^2
 *   p <- p - lr_g * ( (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + wd_p * p )
 * with lr_g the group's learning rate and wd_p = the group's weight decay, or 0 when
 * `param.decay === false` (biases, gains). The update runs in one fused kernel, backend.adamw.
 *
 * Runs: parameters whose data (and gradients) are views lying back to back in one buffer, with the
 * same lr and weight decay (e.g. the flat LM parameters of lm/train/params.ts), share one moment
 * buffer and are updated by ONE kernel call over the whole run; `gradBuffers()` gives the runs'
 * gradients (a global norm in a few passes). The per-parameter moments are views into it.
 *
 * Learning rates: `setLr(lr)` sets the base lr (schedules call it every step). A group that gave
 * its own `lr` keeps the ratio group.lr / options.lr to the base, so a schedule moves every group
 * together. A group without `lr` follows the base lr; without `weightDecay` it uses the default.
 *
 * Resume: `state()` copies the step counter, base lr and the moments m, v of every parameter
 * (keyed by parameter name); `loadState()` restores them, so a resumed run continues bit-for-bit.
 * Dead-feature reactivation zeroes the moments of rows (`resetRows`) or columns (`resetCols`).
 */
import type { Backend, FloatArray } from "../core/backend.ts";
import { getBackend } from "../core/backends/index.ts";
import { Parameter } from "../core/parameter.ts";

/** A set of parameters sharing a learning rate and weight decay (either overrides the default). */
export interface ParamGroup {
  params: Parameter<FloatArray>[];
  /** Learning rate of this group at the base lr `options.lr` (keeps its ratio under setLr). */
  lr?: number;
  /** Decoupled weight decay for the params of this group that have `decay !== false`. */
  weightDecay?: number;
}

export interface AdamWOptions {
  /** Base learning rate (> 0). */
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Default decoupled weight decay (default 0). */
  weightDecay?: number;
  /** Backend running the fused kernel (default: getBackend()). */
  backend?: Backend;
}

/** Everything needed to resume exactly: copies, safe to keep while training continues. */
export interface AdamWState {
  /** Optimizer steps taken (the bias-correction counter). */
  step: number;
  /** Base learning rate at the time of the snapshot. */
  lr: number;
  /** First moments by parameter name, each [param.shape]. */
  m: Record<string, FloatArray>;
  /** Second moments by parameter name, each [param.shape]. */
  v: Record<string, FloatArray>;
}

interface Slot {
  param: Parameter<FloatArray>;
  m: FloatArray; // [param.shape] (a view into its run's moments)
  v: FloatArray; // [param.shape]
  /** group lr = base lr * lrFactor */
  lrFactor: number;
  /** effective weight decay (0 when param.decay === false) */
  weightDecay: number;
}

function checkNumber(name: string, value: number, ok: boolean, expected: string): void {
  if (!ok) throw new RangeError(`AdamW: ${name} must be ${expected}, got ${value}`);
}

function sameTypeZeros(like: FloatArray): FloatArray {
  return like instanceof Float64Array ? new Float64Array(like.length) : new Float32Array(like.length);
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly backend: Backend;
  private baseLr: number;
  private steps = 0;
  private readonly slots: Slot[] = [];
  private readonly byParam = new Map<Parameter<FloatArray>, Slot>();
  private readonly runs: Run[];

  /** `groups`: parameter groups, or a plain list of parameters (one group with the defaults). */
  constructor(groups: ParamGroup[] | Parameter<FloatArray>[], options: AdamWOptions) {
    const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0 } = options;
    checkNumber("lr", lr, Number.isFinite(lr) && lr > 0, "a finite number > 0");
    checkNumber("beta1", beta1, beta1 >= 0 && beta1 < 1, "in [0, 1)");
    checkNumber("beta2", beta2, beta2 >= 0 && beta2 < 1, "in [0, 1)");
    checkNumber("eps", eps, Number.isFinite(eps) && eps > 0, "a finite number > 0");
    checkNumber("weightDecay", weightDecay, Number.isFinite(weightDecay) && weightDecay >= 0, "a finite number >= 0");
    this.baseLr = lr;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.backend = options.backend ?? getBackend();

    const list: ParamGroup[] = groups.every((g) => g instanceof Parameter)
      ? [{ params: groups as Parameter<FloatArray>[] }]
      : (groups as ParamGroup[]);
    const names = new Set<string>();
    list.forEach((group, gi) => {
      if (!group || !Array.isArray(group.params))
        throw new TypeError(`AdamW: group ${gi} must be { params: Parameter[], lr?, weightDecay? }`);
      const glr = group.lr ?? lr;
      const gwd = group.weightDecay ?? weightDecay;
      checkNumber(`group ${gi} lr`, glr, Number.isFinite(glr) && glr >= 0, "a finite number >= 0");
      checkNumber(`group ${gi} weightDecay`, gwd, Number.isFinite(gwd) && gwd >= 0, "a finite number >= 0");
      for (const param of group.params) {
        if (!(param instanceof Parameter))
          throw new TypeError(`AdamW: group ${gi} holds something that is not a Parameter`);
        if (this.byParam.has(param)) throw new Error(`AdamW: parameter "${param.name}" appears in more than one group`);
        if (names.has(param.name))
          throw new Error(`AdamW: two parameters are named "${param.name}"; names must be unique`);
        names.add(param.name);
        const slot: Slot = {
          param,
          m: sameTypeZeros(param.data),
          v: sameTypeZeros(param.data),
          lrFactor: glr / lr,
          weightDecay: param.decay === false ? 0 : gwd,
        };
        this.slots.push(slot);
        this.byParam.set(param, slot);
      }
    });
    if (this.slots.length === 0) throw new Error("AdamW: no parameters to optimize");
    this.runs = coalesce(this.slots);
  }

  /** The gradient buffers the update reads: one per run of back-to-back parameters. */
  gradBuffers(): FloatArray[] {
    return this.runs.map((r) => r.grad);
  }

  /** Base learning rate. */
  get lr(): number {
    return this.baseLr;
  }

  /** Optimizer steps taken so far (the next step() uses stepCount + 1 for bias correction). */
  get stepCount(): number {
    return this.steps;
  }

  /** All parameters, in group order. */
  get params(): Parameter<FloatArray>[] {
    return this.slots.map((s) => s.param);
  }

  /** Learning rate a parameter currently gets (base lr times its group's ratio). */
  lrOf(param: Parameter<FloatArray>): number {
    return this.baseLr * this.slot(param, "lrOf").lrFactor;
  }

  /** Weight decay a parameter gets (0 when param.decay === false). */
  weightDecayOf(param: Parameter<FloatArray>): number {
    return this.slot(param, "weightDecayOf").weightDecay;
  }

  /** Set the base learning rate (groups keep their ratio to it). */
  setLr(lr: number): void {
    checkNumber("lr", lr, Number.isFinite(lr) && lr >= 0, "a finite number >= 0");
    this.baseLr = lr;
  }

  /** One AdamW update of every parameter from its current gradient. */
  step(): void {
    const t = this.steps + 1;
    for (const r of this.runs) {
      this.backend.adamw(
        r.data,
        r.grad,
        r.m,
        r.v,
        this.baseLr * r.lrFactor,
        this.beta1,
        this.beta2,
        this.eps,
        r.weightDecay,
        t,
      );
    }
    this.steps = t;
  }

  /** Zero the gradients of every parameter. */
  zeroGrad(): void {
    for (const r of this.runs) r.grad.fill(0);
  }

  /** Zero the moments m, v of rows of the leading dim (entries, for a 1-D parameter). */
  resetRows(param: Parameter<FloatArray>, rows: ArrayLike<number>): void {
    const s = this.slot(param, "resetRows");
    const nRows = param.shape.length === 0 ? 1 : param.shape[0];
    const inner = nRows === 0 ? 0 : param.data.length / nRows;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (!Number.isInteger(r) || r < 0 || r >= nRows)
        throw new RangeError(`AdamW.resetRows: row ${r} is outside [0, ${nRows}) of parameter "${param.name}"`);
      s.m.fill(0, r * inner, (r + 1) * inner);
      s.v.fill(0, r * inner, (r + 1) * inner);
    }
  }

  /** Zero the moments m, v of columns of a 2-D parameter [rows, cols]. */
  resetCols(param: Parameter<FloatArray>, cols: ArrayLike<number>): void {
    const s = this.slot(param, "resetCols");
    if (param.shape.length !== 2)
      throw new RangeError(
        `AdamW.resetCols: parameter "${param.name}" has shape [${param.shape.join(", ")}], expected 2-D [rows, cols]`,
      );
    const [nRows, nCols] = param.shape;
    for (let i = 0; i < cols.length; i++) {
      const c = cols[i];
      if (!Number.isInteger(c) || c < 0 || c >= nCols)
        throw new RangeError(`AdamW.resetCols: column ${c} is outside [0, ${nCols}) of parameter "${param.name}"`);
      for (let r = 0; r < nRows; r++) {
        s.m[r * nCols + c] = 0;
        s.v[r * nCols + c] = 0;
      }
    }
  }

  /** Copies of the step counter, base lr and moments (see AdamWState). */
  state(): AdamWState {
    const m: Record<string, FloatArray> = {};
    const v: Record<string, FloatArray> = {};
    for (const s of this.slots) {
      m[s.param.name] = s.m.slice();
      v[s.param.name] = s.v.slice();
    }
    return { step: this.steps, lr: this.baseLr, m, v };
  }

  /** Restore a state() snapshot; every parameter must be present with the right size. */
  loadState(state: AdamWState): void {
    if (!state || !Number.isInteger(state.step) || state.step < 0)
      throw new RangeError(`AdamW.loadState: step must be an integer >= 0, got ${state?.step}`);
    checkNumber("state lr", state.lr, Number.isFinite(state.lr) && state.lr >= 0, "a finite number >= 0");
    for (const s of this.slots) {
      for (const [which, src] of [
        ["m", state.m?.[s.param.name]],
        ["v", state.v?.[s.param.name]],
      ] as const) {
        if (!src) throw new Error(`AdamW.loadState: the state has no ${which} for parameter "${s.param.name}"`);
        if (src.length !== s.param.data.length)
          throw new RangeError(
            `AdamW.loadState: ${which} of "${s.param.name}" has ${src.length} entries, expected ${s.param.data.length}`,
          );
      }
    }
    for (const s of this.slots) {
      s.m.set(state.m[s.param.name]);
      s.v.set(state.v[s.param.name]);
    }
    this.steps = state.step;
    this.baseLr = state.lr;
  }

  private slot(param: Parameter<FloatArray>, fn: string): Slot {
    const s = this.byParam.get(param);
    if (!s) throw new Error(`AdamW.${fn}: parameter "${param?.name}" is not managed by this optimizer`);
    return s;
  }
}

/** Parameters updated by one kernel call: data, grad, m, v [n] over the run's parameters. */
interface Run {
  data: FloatArray;
  grad: FloatArray;
  m: FloatArray;
  v: FloatArray;
  lrFactor: number;
  weightDecay: number;
}

/**
 * Splits the slots into runs: sorted by position in their buffers, a slot joins the previous run
 * when its data and gradient start where the run's end (same buffers, same array type) and it has
 * the run's lr and weight decay. Each run of several slots gets one moment buffer, and its slots'
 * m, v become views into it (still zero: called before any step).
 */
function coalesce(slots: Slot[]): Run[] {
  const bufferIds = new Map<ArrayBufferLike, number>();
  for (const s of slots) if (!bufferIds.has(s.param.data.buffer)) bufferIds.set(s.param.data.buffer, bufferIds.size);
  const id = (s: Slot) => bufferIds.get(s.param.data.buffer) ?? 0;
  const order = [...slots].sort((a, b) => id(a) - id(b) || a.param.data.byteOffset - b.param.data.byteOffset);
  const groups: Slot[][] = [];
  for (const s of order) {
    const g = groups.at(-1);
    const last = g?.at(-1);
    const follows = (x: FloatArray, y: FloatArray) =>
      x.buffer === y.buffer && x.constructor === y.constructor && y.byteOffset === x.byteOffset + x.byteLength;
    if (
      g &&
      last &&
      last.lrFactor === s.lrFactor &&
      last.weightDecay === s.weightDecay &&
      follows(last.param.data, s.param.data) &&
      follows(last.param.grad, s.param.grad)
    )
      g.push(s);
    else groups.push([s]);
  }
  return groups.map((g) => {
    const first = g[0];
    if (g.length === 1)
      return {
        data: first.param.data,
        grad: first.param.grad,
        m: first.m,
        v: first.v,
        lrFactor: first.lrFactor,
        weightDecay: first.weightDecay,
      };
    const n = g.reduce((a, s) => a + s.param.data.length, 0);
    const view = (a: FloatArray) => {
      const C = a.constructor as new (b: ArrayBufferLike, o: number, n: number) => FloatArray;
      return new C(a.buffer, a.byteOffset, n);
    };
    const m = sameTypeZeros(view(first.param.data));
    const v = sameTypeZeros(m);
    let o = 0;
    for (const s of g) {
      const len = s.param.data.length;
      s.m = m.subarray(o, o + len);
      s.v = v.subarray(o, o + len);
      o += len;
    }
    return {
      data: view(first.param.data),
      grad: view(first.param.grad),
      m,
      v,
      lrFactor: first.lrFactor,
      weightDecay: first.weightDecay,
    };
  });
}
