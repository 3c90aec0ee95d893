/**
 * Init and hyperparameter checks of the standard SAEs (DESIGN.md s.2 "Training protocol"):
 *
 *   W_dec [m, d] ~ N(0, 1/d) (drawn row-major from Rng(seed)), W_enc = W_dec^T, b_enc = 0,
 *   b_dec = mean of the first batch.
 *
 * The same draws as the paper architectures' init (src/sae/paper), so `base` and `relu` with one
 * seed start from the same dictionary.
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import { badOption, UsageError } from "../../core/errors.ts";
import { Parameter } from "../../core/parameter.ts";
import { Rng } from "../../core/tensor.ts";
import type { BaselineArch, SaeHyper } from "../types.ts";

/** What every SaeFactory receives besides the hyperparameters. */
export interface FactoryOptions<A extends FloatArray> {
  arrayType: "f32" | "f64";
  seed: number;
  /** [rows, d], sets b_dec. */
  firstBatch: A;
  rows: number;
}

export type MakeArray<A extends FloatArray> = (n: number) => A;

// ------------------------------------------------------------------ validation and init

function positiveInt(option: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw badOption(option, v, "an integer >= 1");
}

function nonNegative(option: string, v: number): void {
  if (!Number.isFinite(v) || v < 0) throw badOption(option, v, "a finite number >= 0");
}

/** Checks the fields every baseline reads, the arch, the array type and the first batch. */
export function checkCommon<A extends FloatArray>(
  arch: BaselineArch,
  hyper: SaeHyper,
  backend: Backend,
  options: FactoryOptions<A>,
): void {
  if (hyper.arch !== arch) throw new UsageError(`the ${arch} factory got hyperparameters for arch "${hyper.arch}"`);
  positiveInt("d", hyper.d);
  positiveInt("m", hyper.m);
  nonNegative("l1", hyper.l1);
  if (options.arrayType !== "f32" && options.arrayType !== "f64")
    throw badOption("arrayType", options.arrayType, '"f32" or "f64"');
  if (options.arrayType === "f64" && backend.name === "native")
    throw new UsageError("the native backend computes in float32: use arrayType f32, or the ref backend for f64");
  const want = options.arrayType === "f64" ? Float64Array : Float32Array;
  if (!(options.firstBatch instanceof want))
    throw new TypeError(`firstBatch must be a ${want.name} for arrayType ${options.arrayType}`);
  positiveInt("rows of the first batch", options.rows);
  if (options.firstBatch.length !== options.rows * hyper.d)
    throw new RangeError(
      `firstBatch has ${options.firstBatch.length} entries, expected rows * d = ${options.rows} * ${hyper.d}`,
    );
}

/** The TopK family's fields: k in [1, m], auxKCoef >= 0, auxK >= 1 when AuxK is on. */
export function checkTopK(hyper: SaeHyper): void {
  positiveInt("k", hyper.k);
  if (hyper.k > hyper.m) throw badOption("k", hyper.k, `an integer in [1, m = ${hyper.m}]`);
  nonNegative("auxKCoef", hyper.auxKCoef);
  if (hyper.auxKCoef > 0) positiveInt("auxK", hyper.auxK);
}

/** batchtopk / matryoshka threshold EMA decay in [0, 1). */
export function checkThresholdBeta(hyper: SaeHyper): void {
  const b = hyper.thresholdBeta;
  if (!Number.isFinite(b) || b < 0 || b >= 1) throw badOption("thresholdBeta", b, "a number in [0, 1)");
}

export function arrayMaker<A extends FloatArray>(arrayType: "f32" | "f64"): MakeArray<A> {
  return (n: number) => (arrayType === "f64" ? new Float64Array(n) : new Float32Array(n)) as A;
}

/** The standard parameters, initialized per DESIGN.md s.2 from `seed` and the first batch. */
export interface StandardParams<A extends FloatArray> {
  W_enc: Parameter<A>; // [d, m]
  W_dec: Parameter<A>; // [m, d]
  b_dec: Parameter<A>; // [d]
}

/**
 * W_dec [m, d] ~ N(0, 1/d) drawn row-major from Rng(seed); W_enc [d, m] = W_dec^T;
 * b_dec [d] = column mean of firstBatch [rows, d].
 */
export function initStandard<A extends FloatArray>(
  d: number,
  m: number,
  make: MakeArray<A>,
  options: FactoryOptions<A>,
): StandardParams<A> {
  const wdec = new Rng(options.seed).fillNormal(make(m * d), 1 / Math.sqrt(d));
  const wenc = make(d * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) wenc[j * m + i] = wdec[i * d + j];
  const bdec = make(d);
  const x = options.firstBatch;
  const acc = new Float64Array(d);
  for (let r = 0; r < options.rows; r++) for (let j = 0; j < d; j++) acc[j] += x[r * d + j];
  for (let j = 0; j < d; j++) bdec[j] = acc[j] / options.rows;
  return {
    W_enc: new Parameter("W_enc", wenc, [d, m]),
    W_dec: new Parameter("W_dec", wdec, [m, d]),
    b_dec: new Parameter("b_dec", bdec, [d]),
  };
}

/** A bias / per-feature vector parameter [n] filled with `value` (no weight decay). */
export function vectorParam<A extends FloatArray>(
  name: string,
  n: number,
  make: MakeArray<A>,
  value = 0,
): Parameter<A> {
  const data = make(n);
  if (value !== 0) data.fill(value);
  return new Parameter(name, data, [n], false);
}
