/**
 * THE op table of the autograd: op name -> { shape, forward, backward } (OpDef, types.ts).
 * Every differentiable operation of msae is a row here and nowhere else; the rows are written in
 * five files by theme, and this file joins them into the one table the tape reads. Each row's
 * forward and backward go through the tape's Backend, so one graph runs on `ref` in float64
 * (gradient checks) and on `native` in float32 (training). test/unit/gradcheck.test.ts checks
 * every row against finite differences and fails for a row without a check.
 */
import { linearOps } from "./ops-linear.ts";
import { nnOps } from "./ops-nn.ts";
import { pointwiseOps } from "./ops-pointwise.ts";
import { reduceOps } from "./ops-reduce.ts";
import { shapeOps } from "./ops-shape.ts";
import type { OpDef } from "./types.ts";

export const OPS = {
  ...linearOps,
  ...reduceOps,
  ...pointwiseOps,
  ...nnOps,
  ...shapeOps,
};

export type OpName = keyof typeof OPS;

/** The attribute type of an op (undefined-able when the op has none or all are optional). */
export type AttrsOf<K extends OpName> = (typeof OPS)[K] extends OpDef<infer A> ? A : never;

export type { MatmulAttrs } from "./ops-linear.ts";
export type { LayerNormAttrs, RmsNormAttrs } from "./ops-nn.ts";
export type { SliceAttrs } from "./ops-shape.ts";

{
  // A name defined in two parts would silently shadow the other: refuse to load.
  const parts = [linearOps, reduceOps, pointwiseOps, nnOps, shapeOps];
  const total = parts.reduce((n, p) => n + Object.keys(p).length, 0);
  if (total !== Object.keys(OPS).length) throw new Error("autograd op table: an op name is defined twice");
}
