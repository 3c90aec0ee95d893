/**
 * Pieces shared by the six standard SAEs (DESIGN.md s.2 "Baselines", /work/notes/sae-pins.md):
 *
 *   encoder   pre = (x - b_dec) W_enc + b_enc        x [rows, d], W_enc [d, m], b_enc [m] -> pre [rows, m]
 *   decoder   x^  = h W_dec + b_dec                  h [rows, m], W_dec [m, d], b_dec [d] -> x^ [rows, d]
 *   recon     mean_b ||x - x^||^2
 *   (init and hyperparameter checks: init.ts)
 *
 * and their hand-written backward passes (llm.c style: flat row-major arrays, workspaces sized per
 * rows and reused, Backend kernels only for the O(rows m d) work), so one code path runs in float32
 * on `native` and float64 on `ref`. Gradients are accumulated into Parameter.grad with the
 * micro-batch's gradWeight folded into the upstream gradient (d x^, d h, ...), so every backward
 * GEMM adds with alpha 1.
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import type { Parameter } from "../../core/parameter.ts";
import { denseColumnStats } from "../sparse-codes.ts";
import type {
  BaselineArch,
  FeatureAxis,
  LossParts,
  SaeHyper,
  SaeModule,
  SaeParam,
  TrainBatchOptions,
} from "../types.ts";
import type { MakeArray } from "./init.ts";

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

const l0Stats = new Float64Array(2);

/** Number of nonzero entries of h [rows, m] divided by rows (mean L0 per token). */
export function meanL0(bk: Backend, h: FloatArray, rows: number, m: number): number {
  bk.activeStats(h, rows, m, null, l0Stats);
  return l0Stats[0] / rows;
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
  thresholdEma(minKept, beta, threshold);
}

/** The EMA step of updateThresholdEma from minKept [m] (+inf: the feature kept nothing, unchanged). */
export function thresholdEma(minKept: Float64Array, beta: number, threshold: FloatArray): void {
  for (let i = 0; i < minKept.length; i++) {
    if (minKept[i] === Number.POSITIVE_INFINITY) continue;
    // Warm start: a feature's first observation sets its threshold (an EMA from 0 with beta 0.999
    // would sit near 0 for the first thousand steps and let every activation through at inference).
    threshold[i] = threshold[i] === 0 ? minKept[i] : beta * threshold[i] + (1 - beta) * minKept[i];
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

  codeColumnStats(colSum: A, fired: Int32Array): number {
    const h = this.codes();
    const rows = h.length / this.m;
    denseColumnStats(this.backend, h, rows, this.m, colSum, fired);
    return rows;
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
