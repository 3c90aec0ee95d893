/**
 * Types of the autograd: Var (a value on the tape), OpDef (one row of the op table, ops.ts) and
 * the contexts through which an op's forward and backward reach the backend and the buffers.
 *
 * Reverse mode: for y = f(x_1..x_n) and a scalar loss L, backward receives dy = dL/dy and adds
 * dL/dx_i = J_i^T dy into each input's gradient. The tape decides whether a contribution
 * overwrites a fresh gradient buffer or adds to one that already holds a sum (an input used
 * twice, or a Parameter whose gradient accumulates across steps); an op only says how to compute
 * its contribution, through `grad`, `into` or `acc` below.
 */
import type { Backend, FloatArray } from "../core/backend.ts";
import type { Parameter } from "../core/parameter.ts";
import type { Shape } from "../core/tensor.ts";

/** A value on the tape: data [numel(shape)], and after backward its gradient (same length) or null. */
export class Var {
  readonly data: FloatArray;
  readonly shape: Shape;
  /** dL/dthis after backward (null: no gradient reached it). For a Parameter leaf: param.grad. */
  grad: FloatArray | null;
  /** Whether gradients flow to this value (a Parameter, an input marked so, or a result of one). */
  readonly requiresGrad: boolean;
  /** The Parameter this leaf wraps (its gradient accumulates into param.grad), else null. */
  readonly param: Parameter<FloatArray> | null;
  /** Internal: index of the node that produced it (-1 for leaves) and the recording it belongs to. */
  readonly nodeIndex: number;
  readonly epoch: number;

  constructor(
    data: FloatArray,
    shape: Shape,
    requiresGrad: boolean,
    param: Parameter<FloatArray> | null,
    nodeIndex: number,
    epoch: number,
  ) {
    this.data = data;
    this.shape = shape;
    this.requiresGrad = requiresGrad;
    this.param = param;
    this.grad = param ? param.grad : null;
    this.nodeIndex = nodeIndex;
    this.epoch = epoch;
  }

  get size(): number {
    return this.data.length;
  }

  toString(): string {
    return `Var[${this.shape.join(", ")}]`;
  }
}

/** What an op's forward may use: the backend and the node's own saved buffers. */
export interface FwdCtx {
  readonly backend: Backend;
  /** A float buffer of n entries owned by this node, kept for its backward (slot = which one). */
  floats(slot: number, n: number): FloatArray;
  /** An Int32 buffer of n entries owned by this node, kept for its backward. */
  ints(slot: number, n: number): Int32Array;
  /** A scratch float buffer of n entries shared by all ops (contents undefined, valid until the next temp of that slot). */
  temp(n: number, slot?: number): FloatArray;
}

/** What an op's backward may use. */
export interface BwdCtx extends FwdCtx {
  /** Whether input i wants a gradient. */
  needs(i: number): boolean;
  /**
   * The general form: `fn(dst, accumulate)` must write input i's contribution into dst
   * (accumulate = false) or add it (accumulate = true). For kernels with both modes (gemm's beta,
   * sumRows' flag). Not called when input i needs no gradient.
   */
  grad(i: number, fn: (dst: FloatArray, accumulate: boolean) => void): void;
  /** `write(dst)` overwrites dst with the contribution (the tape adds it where needed). */
  into(i: number, write: (dst: FloatArray) => void): void;
  /** `add(dst)` adds the contribution into dst (the tape zeroes a fresh buffer first). */
  acc(i: number, add: (dst: FloatArray) => void): void;
  /** Input i's gradient buffer ready to be added into, or null when it needs none (kernels with optional outputs). */
  accBuffer(i: number): FloatArray | null;
}

/** One row of the op table. A = the op's attributes (non-differentiable settings). */
export interface OpDef<A> {
  /** The math, one line (shown in docs and errors). */
  readonly doc: string;
  /** Checks the inputs and attributes (throwing one-line errors) and returns the output shape. */
  shape(xs: readonly Var[], a: A): Shape;
  /** Output = a view of input 0's data (no copy, no forward); e.g. reshape. */
  view?(xs: readonly Var[], a: A): FloatArray;
  /** Writes the output (every entry; the buffer may hold a previous step's values). */
  forward(f: FwdCtx, xs: readonly Var[], a: A, out: FloatArray): void;
  /** Sends dy = dL/dout to the inputs that need it. out is the forward's output. */
  backward(g: BwdCtx, xs: readonly Var[], a: A, out: Var, dy: FloatArray): void;
}

/** Identity helper that keeps each table row's attribute type. */
export function op<A = undefined>(def: OpDef<A>): OpDef<A> {
  return def;
}

/** "[2, 3]" */
export function fmt(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

/** Throws a one-line RangeError "op: what" unless cond. */
export function need(cond: boolean, opName: string, what: string): asserts cond {
  if (!cond) throw new RangeError(`${opName}: ${what}`);
}

/** The number of inputs must be n. */
export function arity(xs: readonly Var[], n: number, opName: string): void {
  need(xs.length === n, opName, `takes ${n} input${n === 1 ? "" : "s"}, got ${xs.length}`);
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Rows and cols of x viewed as [R, C] with C its last dim (a scalar is [1, 1]). */
export function rowsCols(x: Var): [number, number] {
  if (x.shape.length === 0) return [1, 1];
  let r = 1;
  for (let i = 0; i < x.shape.length - 1; i++) r *= x.shape[i];
  return [r, x.shape[x.shape.length - 1]];
}
