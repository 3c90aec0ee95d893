/**
 * The native backend's evaluation kernels (src/core/backend-eval.ts, native/src/kernels/logits.cc);
 * NativeBackend (native.ts) extends this class. The addon validates dims and lengths itself.
 */
import type { FloatArray } from "../backend.ts";
import type { EvalKernels } from "../backend-eval.ts";
import type { NativeAddon } from "./addon.ts";

/** Throws a TypeError naming the kernel if any argument is a Float64Array (the addon is float32). */
export function f32(kernel: string, ...arrays: (FloatArray | null)[]): void {
  for (const a of arrays) {
    if (a instanceof Float64Array)
      throw new TypeError(`${kernel}: the native backend takes Float32Array; use the ref backend for float64`);
  }
}

export class NativeEval implements EvalKernels {
  protected readonly addon: NativeAddon;

  constructor(addon: NativeAddon) {
    this.addon = addon;
  }

  logitSoftmax(
    logits: FloatArray,
    rows: number,
    vocab: number,
    p: FloatArray,
    lse: Float64Array,
    pl: Float64Array,
  ): void {
    f32("logitSoftmax", logits, p);
    this.addon.logitSoftmax(logits, rows, vocab, p, lse, pl);
  }

  logitCompare(
    p: FloatArray, // [rows, vocab]
    q: FloatArray, // [rows, vocab]
    rows: number,
    vocab: number,
    lseQ: Float64Array, // [rows]
    pq: Float64Array, // [rows]
  ): void {
    f32("logitCompare", p, q);
    this.addon.logitCompare(p, q, rows, vocab, lseQ, pq);
  }
}
