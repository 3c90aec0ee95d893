/**
 * The tape: records ops in order (a topological order by construction) and runs reverse mode.
 *
 *   backward(L): dL/dL = 1 (or a given seed); for nodes last to first, the node's op sends
 *   dL/dout to its inputs (ops.ts). Gradients of a value used several times add up.
 *
 * Leaves: `param(p)` (gradients accumulate into p.grad across backward calls until p.zeroGrad()),
 * `input(data, shape, true)` (gradient in var.grad, recomputed by each backward) and
 * `constant(data, shape)` (no gradient). Leaves wrap the caller's arrays without copying.
 *
 * Buffers: a reset tape keeps its nodes; when the next recording repeats the same op with the
 * same output size at the same position (a training loop), the node's output, saved and gradient
 * buffers are reused, so a replayed step allocates no arrays. Hence Vars of an earlier recording
 * are invalid after reset() (their memory is reused): using one as an input throws.
 * Integer attributes (ids, targets, positions) are referenced, not copied: keep them unchanged
 * until backward is done.
 */
import type { Backend, FloatArray } from "../core/backend.ts";
import type { Parameter } from "../core/parameter.ts";
import { numel, type Shape } from "../core/tensor.ts";
import { type AttrsOf, OPS, type OpName } from "./ops.ts";
import { type BwdCtx, fmt, type OpDef, Var } from "./types.ts";

export type Dtype = "float32" | "float64";

export interface TapeOptions {
  /** Array type of every value on the tape (default float32; float64 needs the ref backend). */
  dtype?: Dtype;
}

interface Node {
  op: string; // "@input" for an input leaf
  def: OpDef<unknown> | null;
  inputs: readonly Var[];
  attrs: unknown;
  out: Var;
  outBuf: FloatArray | null; // null for views and leaves
  gradBuf: FloatArray | null;
  saved: (FloatArray | Int32Array | undefined)[];
  /** No gradient has reached out in the current backward (its buffer holds nothing valid). */
  fresh: boolean;
}

let nextEpoch = 1; // global, so a Var of another tape never matches this one's epoch

/** The recording and reverse-mode machinery; Tape (tape.ts) adds one typed method per op. */
export class TapeCore {
  readonly backend: Backend;
  readonly dtype: Dtype;
  private readonly Arr: Float32ArrayConstructor | Float64ArrayConstructor;
  private nodes: Node[] = [];
  private count = 0;
  private epoch = nextEpoch++;
  private temps = new Map<number, FloatArray>();
  private scratch = new Map<number, FloatArray>();
  private ctx: Ctx;

  constructor(backend: Backend, options: TapeOptions = {}) {
    this.backend = backend;
    this.dtype = options.dtype ?? "float32";
    if (this.dtype !== "float32" && this.dtype !== "float64") {
      throw new TypeError(`tape: dtype must be "float32" or "float64", got ${String(this.dtype)}`);
    }
    if (this.dtype === "float64" && backend.name !== "ref") {
      throw new TypeError(`tape: float64 needs the ref backend (the ${backend.name} backend takes Float32Array only)`);
    }
    this.Arr = this.dtype === "float32" ? Float32Array : Float64Array;
    this.ctx = new Ctx(this);
  }

  /** Number of nodes recorded since the last reset (inputs included). */
  get length(): number {
    return this.count;
  }

  /** The op names recorded since the last reset, in order (inputs as "@input"). */
  recordedOps(): string[] {
    return this.nodes.slice(0, this.count).map((n) => n.op);
  }

  /** A leaf wrapping a Parameter: its gradient accumulates into param.grad. */
  param(p: Parameter<FloatArray>): Var {
    this.checkArray(p.data, `parameter ${p.name}`);
    return new Var(p.data, p.shape, true, p, -1, 0);
  }

  /** A leaf without gradient (data [numel(shape)], not copied). */
  constant(data: FloatArray, shape: Shape): Var {
    this.checkLeaf(data, shape, "constant");
    return new Var(data, [...shape], false, null, -1, 0);
  }

  /** A leaf whose gradient lands in var.grad at each backward (a constant when requiresGrad is false). */
  input(data: FloatArray, shape: Shape, requiresGrad = true): Var {
    if (!requiresGrad) return this.constant(data, shape);
    this.checkLeaf(data, shape, "input");
    const node = this.slot("@input", null);
    const v = new Var(data, [...shape], true, null, this.count, this.epoch);
    this.fill(node, [], undefined, v);
    this.count++;
    return v;
  }

  /** Records op `name` on inputs xs with its attributes and returns its output. */
  apply<K extends OpName>(
    name: K,
    xs: readonly Var[],
    ...[attrs]: undefined extends AttrsOf<K> ? [AttrsOf<K>?] : [AttrsOf<K>]
  ): Var {
    const def = OPS[name] as unknown as OpDef<unknown> | undefined;
    if (!def) throw new TypeError(`tape: unknown op '${String(name)}'`);
    for (let i = 0; i < xs.length; i++) this.checkVar(xs[i], `${name}: input ${i}`);
    const shape = def.shape(xs, attrs);
    const n = numel(shape);
    const node = this.slot(name, def);
    let data: FloatArray;
    if (def.view) {
      data = def.view(xs, attrs);
    } else {
      if (!node.outBuf || node.outBuf.length !== n) node.outBuf = new this.Arr(n);
      data = node.outBuf;
    }
    const out = new Var(
      data,
      shape,
      xs.some((x) => x.requiresGrad),
      null,
      this.count,
      this.epoch,
    );
    this.fill(node, xs, attrs, out);
    if (!def.view) {
      this.ctx.node = node;
      def.forward(this.ctx, xs, attrs, data);
    }
    this.count++;
    return out;
  }

  /**
   * Reverse mode from `loss`: seeds dloss = 1 (loss must have one entry) or `seed` (same size as
   * loss) and sends gradients back through every recorded node.
   */
  backward(loss: Var, seed?: FloatArray): void {
    this.checkVar(loss, "backward: loss");
    if (!loss.requiresGrad) {
      throw new Error("backward: the loss does not depend on any parameter or input that requires a gradient");
    }
    if (seed === undefined && loss.size !== 1) {
      throw new RangeError(
        `backward: the loss has shape ${fmt(loss.shape)}, not a scalar; pass a seed of ${loss.size} entries`,
      );
    }
    if (seed !== undefined) {
      this.checkArray(seed, "backward: seed");
      if (seed.length !== loss.size) {
        throw new RangeError(`backward: the seed has ${seed.length} entries, the loss ${loss.size}`);
      }
    }
    for (let i = 0; i < this.count; i++) {
      this.nodes[i].fresh = true;
      this.nodes[i].out.grad = null;
    }
    this.route(loss, (dst, acc) => {
      for (let i = 0; i < dst.length; i++) dst[i] = (acc ? dst[i] : 0) + (seed ? seed[i] : 1);
    });
    for (let i = this.count - 1; i >= 0; i--) {
      const node = this.nodes[i];
      if (!node.def || node.fresh || !node.out.requiresGrad) continue;
      this.ctx.node = node;
      node.def.backward(this.ctx, node.inputs, node.attrs, node.out, node.out.grad as FloatArray);
    }
  }

  /** Starts a new recording; buffers are kept for reuse (see the header). */
  reset(): void {
    this.count = 0;
    this.epoch = nextEpoch++;
  }

  /** Resets and drops every kept buffer. */
  release(): void {
    this.reset();
    this.nodes = [];
    this.temps.clear();
    this.scratch.clear();
  }

  // ---------------------------------------------------------------- internals used by Ctx
  /** Gives fn(dst, accumulate) the gradient buffer of x (fresh: accumulate = false). */
  route(x: Var, fn: (dst: FloatArray, accumulate: boolean) => void): void {
    if (!x.requiresGrad) return;
    if (x.param) {
      fn(x.param.grad, true);
      return;
    }
    const node = this.nodes[x.nodeIndex];
    if (node.fresh) {
      if (!node.gradBuf || node.gradBuf.length !== x.size) node.gradBuf = new this.Arr(x.size);
      fn(node.gradBuf, false);
      node.fresh = false;
      x.grad = node.gradBuf;
    } else {
      fn(node.gradBuf as FloatArray, true);
    }
  }

  /** A shared buffer of n floats keyed by (slot, n); contents undefined. */
  temp(n: number, slot: number, pool: "temp" | "scratch"): FloatArray {
    const map = pool === "temp" ? this.temps : this.scratch;
    const key = slot * 2 ** 40 + n;
    let buf = map.get(key);
    if (!buf) {
      buf = new this.Arr(n);
      map.set(key, buf);
    }
    return buf;
  }

  newFloats(n: number): FloatArray {
    return new this.Arr(n);
  }

  // ---------------------------------------------------------------- helpers
  private slot(op: string, def: OpDef<unknown> | null): Node {
    let node = this.nodes[this.count];
    if (!node || node.op !== op) {
      node = {
        op,
        def,
        inputs: [],
        attrs: undefined,
        out: null as unknown as Var,
        outBuf: null,
        gradBuf: null,
        saved: [],
        fresh: true,
      };
      this.nodes[this.count] = node;
    }
    return node;
  }

  private fill(node: Node, xs: readonly Var[], attrs: unknown, out: Var): void {
    node.inputs = xs;
    node.attrs = attrs;
    node.out = out;
    node.fresh = true;
  }

  private checkArray(a: FloatArray, what: string): void {
    if (!(a instanceof this.Arr)) {
      const got = (a as object | null)?.constructor?.name ?? String(a);
      throw new TypeError(`${what} is a ${got} but the tape runs on ${this.Arr.name}`);
    }
  }

  private checkLeaf(data: FloatArray, shape: Shape, what: string): void {
    this.checkArray(data, what);
    const n = numel(shape);
    if (data.length !== n)
      throw new RangeError(`${what}: data has ${data.length} entries but shape ${fmt(shape)} needs ${n}`);
  }

  private checkVar(v: Var, what: string): void {
    if (!(v instanceof Var)) throw new TypeError(`${what} is not a Var`);
    if (v.nodeIndex >= 0 && v.epoch !== this.epoch) {
      throw new Error(
        `${what} was recorded on another tape or before tape.reset() (its buffers are reused); record it again`,
      );
    }
    this.checkArray(v.data, what);
  }
}

/** The one context object a tape hands to every forward and backward (its node is switched). */
class Ctx implements BwdCtx {
  node: Node | null = null;
  readonly backend: Backend;

  constructor(private readonly tape: TapeCore) {
    this.backend = tape.backend;
  }

  floats(slot: number, n: number): FloatArray {
    const saved = (this.node as Node).saved;
    let b = saved[slot];
    if (!(b instanceof Float32Array || b instanceof Float64Array) || b.length !== n) {
      b = this.tape.newFloats(n);
      saved[slot] = b;
    }
    return b;
  }

  ints(slot: number, n: number): Int32Array {
    const saved = (this.node as Node).saved;
    let b = saved[slot];
    if (!(b instanceof Int32Array) || b.length !== n) {
      b = new Int32Array(n);
      saved[slot] = b;
    }
    return b;
  }

  temp(n: number, slot = 0): FloatArray {
    return this.tape.temp(n, slot, "temp");
  }

  needs(i: number): boolean {
    return (this.node as Node).inputs[i].requiresGrad;
  }

  grad(i: number, fn: (dst: FloatArray, accumulate: boolean) => void): void {
    this.tape.route((this.node as Node).inputs[i], fn);
  }

  into(i: number, write: (dst: FloatArray) => void): void {
    const x = (this.node as Node).inputs[i];
    this.tape.route(x, (dst, acc) => {
      if (!acc) {
        write(dst);
        return;
      }
      const s = this.tape.temp(dst.length, 0, "scratch");
      write(s);
      this.backend.add(dst, s, dst);
    });
  }

  acc(i: number, add: (dst: FloatArray) => void): void {
    this.tape.route((this.node as Node).inputs[i], (dst, acc) => {
      if (!acc) dst.fill(0);
      add(dst);
    });
  }

  accBuffer(i: number): FloatArray | null {
    let buf: FloatArray | null = null;
    this.tape.route((this.node as Node).inputs[i], (dst, acc) => {
      if (!acc) dst.fill(0);
      buf = dst;
    });
    return buf;
  }
}
