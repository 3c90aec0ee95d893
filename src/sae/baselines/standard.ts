/**
 * Pieces shared by the six standard SAEs (DESIGN.md s.2 "Baselines", /work/notes/sae-pins.md):
 *
 *   encoder   pre = (x - b_dec) W_enc + b_enc        x [rows, d], W_enc [d, m], b_enc [m] -> pre [rows, m]
 *   decoder   x^  = h W_dec + b_dec                  h [rows, m], W_dec [m, d], b_dec [d] -> x^ [rows, d]
 *   recon     mean_b ||x - x^||^2
 *   init      W_dec ~ N(0, 1/d), W_enc = W_dec^T, b_enc = 0, b_dec = mean of the first batch (seeded)
 *
 * and their hand-written backward passes (llm.c style: flat row-major arrays, workspaces sized per
 * rows and reused, Backend kernels only for the O(rows m d) work), so one code path runs in float32
 * on `native` and float64 on `ref`. Gradients are accumulated into Parameter.grad with the
 * micro-batch's gradWeight folded into the upstream gradient (d x^, d h, ...), so every backward
 * GEMM adds with alpha 1.
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import { badOption, UsageError } from "../../core/errors.ts";
import { Parameter } from "../../core/parameter.ts";
import { Rng } from "../../core/tensor.ts";
import type {
  BaselineArch,
  FeatureAxis,
  LossParts,
  SaeHyper,
  SaeModule,
  SaeParam,
  TrainBatchOptions,
} from "../types.ts";

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

// ------------------------------------------------------------------ encoder / decoder kernels

/** xc = x - b_dec; out = xc W_enc (+ bias when given). x, xc [rows, d]; out [rows, m]; negBdec [d] scratch. */
export function encode(
  bk: Backend,
  x: FloatArray, // [rows, d]
  rows: number,
  d: number,
  m: number,
  W_enc: FloatArray, // [d, m]
  bias: FloatArray | null, // [m]
  b_dec: FloatArray, // [d]
  negBdec: FloatArray, // [d] scratch
  xc: FloatArray, // [rows, d] out
  out: FloatArray, // [rows, m] out
): void {
  bk.scale(b_dec, -1, negBdec);
  bk.addBias(x, negBdec, rows, d, xc);
  bk.gemm(false, false, rows, m, d, 1, xc, d, W_enc, m, 0, out, m);
  if (bias) bk.addBias(out, bias, rows, m, out);
}

/**
 * Backward of encode for dpre [rows, m] (already weighted): W_enc.grad += xc^T dpre;
 * biasGrad += colsum(dpre); b_dec.grad -= W_enc colsum(dpre) (the b_dec subtracted at the input).
 * colM [m] scratch.
 */
export function encodeBackward(
  bk: Backend,
  dpre: FloatArray, // [rows, m]
  xc: FloatArray, // [rows, d]
  rows: number,
  d: number,
  m: number,
  W_enc: Parameter<FloatArray>, // [d, m]
  biasGrad: FloatArray | null, // [m]
  b_decGrad: FloatArray, // [d]
  colM: FloatArray, // [m] scratch
): void {
  bk.gemm(true, false, d, m, rows, 1, xc, d, dpre, m, 1, W_enc.grad, m);
  bk.sumRows(dpre, rows, m, colM, false);
  if (biasGrad) bk.axpy(1, colM, biasGrad);
  bk.gemm(false, true, 1, d, m, -1, colM, m, W_enc.data, m, 1, b_decGrad, d);
}

/** xhat [rows, d] = h W_dec + b_dec. */
export function decode(
  bk: Backend,
  h: FloatArray, // [rows, m]
  rows: number,
  d: number,
  m: number,
  W_dec: FloatArray, // [m, d]
  b_dec: FloatArray, // [d]
  xhat: FloatArray, // [rows, d] out
): void {
  bk.gemm(false, false, rows, d, m, 1, h, m, W_dec, d, 0, xhat, d);
  bk.addBias(xhat, b_dec, rows, d, xhat);
}

/**
 * e = x - xhat (may alias xhat); returns mean_b ||e||^2. e [rows, d].
 */
export function residual(bk: Backend, x: FloatArray, xhat: FloatArray, rows: number, e: FloatArray): number {
  bk.scale(xhat, -1, e);
  bk.add(e, x, e);
  return bk.sumSquares(e) / rows;
}

/**
 * Backward of recon = mean_b ||e||^2, e = x - (h W_dec + b_dec): with g = d recon / d x^ * gw =
 * -2 gw e / rows (written into dxhat [rows, d]), W_dec.grad += h^T g, b_dec.grad += colsum(g),
 * dh [rows, m] = g W_dec^T (overwritten). colD [d] scratch.
 */
export function decodeBackward(
  bk: Backend,
  e: FloatArray, // [rows, d]
  h: FloatArray, // [rows, m]
  rows: number,
  d: number,
  m: number,
  gw: number,
  W_dec: Parameter<FloatArray>, // [m, d]
  b_decGrad: FloatArray, // [d]
  dxhat: FloatArray, // [rows, d] scratch/out
  dh: FloatArray, // [rows, m] out
  colD: FloatArray, // [d] scratch
): void {
  bk.scale(e, (-2 * gw) / rows, dxhat);
  bk.gemm(true, false, m, d, rows, 1, h, m, dxhat, d, 1, W_dec.grad, d);
  bk.sumRows(dxhat, rows, d, colD, false);
  bk.axpy(1, colD, b_decGrad);
  bk.gemm(false, true, rows, m, d, 1, dxhat, d, W_dec.data, d, 0, dh, m);
}

/** norms [m] = ||W_dec row i||_2. */
export function decoderNorms(W_dec: FloatArray, m: number, d: number, norms: FloatArray): void {
  for (let i = 0; i < m; i++) {
    let s = 0;
    const o = i * d;
    for (let j = 0; j < d; j++) s += W_dec[o + j] * W_dec[o + j];
    norms[i] = Math.sqrt(s);
  }
}

/**
 * Decoder-norm-weighted L1 (SAELens standard; gated on ReLU(pi_gate)), for a >= 0 [rows, m]:
 *   S = l1 * mean_b sum_i a_bi ||W_dec,i||
 * Returns S. Backward (weighted by gw): da += gw l1/rows ||W_dec,i|| (added into `da` [rows, m]),
 * W_dec.grad row i += gw l1/rows (sum_b a_bi) W_dec,i / ||W_dec,i|| (0 for a zero row).
 * norms, colM [m] scratch (norms is left holding the row norms, colM is clobbered).
 */
export function weightedL1(
  bk: Backend,
  a: FloatArray, // [rows, m]
  rows: number,
  d: number,
  m: number,
  l1: number,
  gw: number,
  W_dec: Parameter<FloatArray>, // [m, d]
  da: FloatArray, // [rows, m] accumulated
  norms: FloatArray, // [m] scratch
  colM: FloatArray, // [m] scratch
): number {
  decoderNorms(W_dec.data, m, d, norms);
  bk.sumRows(a, rows, m, colM, false);
  let s = 0;
  for (let i = 0; i < m; i++) s += colM[i] * norms[i];
  const c = (gw * l1) / rows;
  if (c !== 0) {
    const w = W_dec.data;
    const g = W_dec.grad;
    for (let i = 0; i < m; i++) {
      const n = norms[i];
      if (n === 0) continue;
      const f = (c * colM[i]) / n;
      const o = i * d;
      for (let j = 0; j < d; j++) g[o + j] += f * w[o + j];
    }
    // da += c * norms, broadcast over rows (colM is free again).
    bk.scale(norms, c, colM);
    bk.addBias(da, colM, rows, m, da);
  }
  return (l1 * s) / rows;
}

/** Number of nonzero entries of h divided by rows (mean L0 per token). */
export function meanL0(h: FloatArray, rows: number): number {
  let n = 0;
  for (let i = 0; i < h.length; i++) if (h[i] !== 0) n++;
  return n / rows;
}

// ------------------------------------------------------------------ batch top-k and its threshold

/**
 * BatchTopK: keep the k * rows largest entries of r [rows, m] over the whole batch (ties: lower
 * flat index first), zero elsewhere, into h [rows, m]; idx [k * rows] receives the flat indices.
 * One call of the per-row TopK kernel on the batch viewed as a single row of rows * m.
 */
export function batchTopK(
  bk: Backend,
  r: FloatArray,
  rows: number,
  m: number,
  k: number,
  h: FloatArray,
  idx: Int32Array,
): void {
  bk.topkRows(r, 1, rows * m, k * rows, h, idx);
}

/**
 * Threshold EMA (pins): for every feature i with at least one kept nonzero activation in the batch,
 * threshold_i <- beta threshold_i + (1 - beta) min over kept activations of feature i; others
 * unchanged. h [rows, m] the batch codes, idx [n] their flat kept indices, minKept [m] scratch.
 */
export function updateThresholdEma(
  h: FloatArray,
  idx: Int32Array,
  m: number,
  beta: number,
  threshold: FloatArray, // [m]
  minKept: Float64Array, // [m] scratch
): void {
  minKept.fill(Number.POSITIVE_INFINITY);
  for (let j = 0; j < idx.length; j++) {
    const f = idx[j];
    const v = h[f];
    if (v === 0) continue;
    const i = f % m;
    if (v < minKept[i]) minKept[i] = v;
  }
  for (let i = 0; i < m; i++) {
    if (minKept[i] !== Number.POSITIVE_INFINITY) threshold[i] = beta * threshold[i] + (1 - beta) * minKept[i];
  }
}

/** Inference JumpReLU in place: h = ReLU(pre) * [pre > threshold_i]. pre [rows, m], threshold [m]. */
export function jumpReluInPlace(pre: FloatArray, rows: number, m: number, threshold: FloatArray): void {
  for (let r = 0; r < rows; r++) {
    const o = r * m;
    for (let i = 0; i < m; i++) {
      const v = pre[o + i];
      pre[o + i] = v > 0 && v > threshold[i] ? v : 0;
    }
  }
}

// ------------------------------------------------------------------ module base

/** Empty loss parts with the total computed. */
export function lossParts(recon: number, sparsity: number, aux: number, l0: number): LossParts {
  return { recon, sparsity, ortho: 0, aux, total: recon + sparsity + aux, l0 };
}

/**
 * What every baseline module shares: hyperparameters, backend, the parameter and buffer maps, the
 * codes of the last call and the residual of the last trainBatch, input checks.
 */
export abstract class BaselineBase<A extends FloatArray> implements SaeModule<A> {
  readonly arch: BaselineArch;
  readonly hyper: Readonly<SaeHyper>;
  readonly backend: Backend;
  readonly params = new Map<string, SaeParam<A>>();
  readonly buffers = new Map<string, { data: A; shape: readonly number[]; inWeights: boolean }>();
  protected readonly d: number;
  protected readonly m: number;
  protected readonly make: MakeArray<A>;
  /** h' [rows, m] of the last trainBatch / forward. */
  protected lastCodes: A;
  /** e = x - x^ [rows, d] of the last trainBatch (null before the first). */
  protected lastResidual: A | null = null;

  constructor(arch: BaselineArch, hyper: SaeHyper, backend: Backend, make: MakeArray<A>) {
    this.arch = arch;
    this.hyper = Object.freeze({ ...hyper });
    this.backend = backend;
    this.d = hyper.d;
    this.m = hyper.m;
    this.make = make;
    this.lastCodes = make(0);
  }

  protected addParam(param: Parameter<A>, featureAxis: FeatureAxis): Parameter<A> {
    this.params.set(param.name, { param, featureAxis });
    return param;
  }

  /** Checks x [rows, d] (one line naming what is wrong). */
  protected checkBatch(what: string, x: A, rows: number): void {
    if (!Number.isInteger(rows) || rows < 1)
      throw new RangeError(`${this.arch} ${what}: rows must be an integer >= 1, got ${rows}`);
    if (x.length !== rows * this.d)
      throw new RangeError(`${this.arch} ${what}: x has ${x.length} entries, expected rows * d = ${rows} * ${this.d}`);
  }

  protected checkForwardOut(codes: A, recon: A, rows: number): void {
    if (codes.length !== rows * this.m)
      throw new RangeError(
        `${this.arch} forward: codes has ${codes.length} entries, expected rows * m = ${rows} * ${this.m}`,
      );
    if (recon.length !== rows * this.d)
      throw new RangeError(
        `${this.arch} forward: recon has ${recon.length} entries, expected rows * d = ${rows} * ${this.d}`,
      );
  }

  abstract trainBatch(x: A, rows: number, options: TrainBatchOptions): LossParts;
  abstract forward(x: A, rows: number, codes: A, recon: A): void;

  codes(): A {
    return this.lastCodes;
  }

  decoderResidual(out: A): void {
    const e = this.lastResidual;
    if (!e) throw new Error(`${this.arch}: decoderResidual needs a trainBatch first`);
    if (out.length !== e.length)
      throw new RangeError(
        `${this.arch} decoderResidual: out has ${out.length} entries, expected ${e.length} (rows * d of the last trainBatch)`,
      );
    out.set(e);
  }
}
