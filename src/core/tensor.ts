/**
 * Tensor: a flat row-major Float32Array (Float64Array on the ref backend for gradient checks)
 * plus a shape. Kernels work on `.data` with explicit dims; Tensor is the user-facing carrier.
 */
import type { FloatArray } from "./backend.ts";

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0)
      throw new RangeError(`bad shape [${shape.join(", ")}]: dims must be integers >= 0`);
    n *= d;
  }
  return n;
}

export class Tensor<A extends FloatArray = Float32Array> {
  readonly data: A;
  readonly shape: Shape;

  constructor(data: A, shape: Shape) {
    const n = numel(shape);
    if (data.length !== n) {
      throw new RangeError(`tensor data has ${data.length} entries but shape [${shape.join(", ")}] needs ${n}`);
    }
    this.data = data;
    this.shape = [...shape];
  }

  static zeros(shape: Shape): Tensor<Float32Array> {
    return new Tensor(new Float32Array(numel(shape)), shape);
  }

  static zeros64(shape: Shape): Tensor<Float64Array> {
    return new Tensor(new Float64Array(numel(shape)), shape);
  }

  static from(values: ArrayLike<number>, shape: Shape): Tensor<Float32Array> {
    return new Tensor(Float32Array.from(values), shape);
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Same data viewed with another shape of the same size (no copy). */
  reshape(shape: Shape): Tensor<A> {
    return new Tensor(this.data, shape);
  }

  /** Rows [start, end) of the leading dim, as a view (no copy). */
  rows(start: number, end: number): Tensor<A> {
    const inner = this.shape.length > 1 ? numel(this.shape.slice(1)) : 1;
    if (start < 0 || end > this.shape[0] || start > end) {
      throw new RangeError(`rows(${start}, ${end}) outside leading dim ${this.shape[0]}`);
    }
    return new Tensor(this.data.subarray(start * inner, end * inner) as A, [end - start, ...this.shape.slice(1)]);
  }

  clone(): Tensor<A> {
    return new Tensor(this.data.slice() as A, this.shape);
  }

  toString(): string {
    return `Tensor[${this.shape.join(", ")}]`;
  }
}

/** Deterministic PRNG (mulberry32) with Gaussian draws (Box-Muller), for seeds that reproduce runs. */
export class Rng {
  private state: number;
  private spare: number | null = null;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal. */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fill with N(0, std^2). */
  fillNormal<A extends FloatArray>(out: A, std = 1): A {
    for (let i = 0; i < out.length; i++) out[i] = this.normal() * std;
    return out;
  }

  /** Fill with U(lo, hi). */
  fillUniform<A extends FloatArray>(out: A, lo = -1, hi = 1): A {
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * this.next();
    return out;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}
