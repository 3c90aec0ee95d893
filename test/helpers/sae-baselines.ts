// Shared set-up of the baseline SAE tests: hyperparameters, a module with random non-trivial
// parameters (not the init, so b_enc, b_gate, r_mag, ... all matter), inputs and dead masks.
import type { Backend, FloatArray } from "../../src/core/backend.ts";
import { Rng } from "../../src/core/tensor.ts";
import { BASELINE_FACTORIES } from "../../src/sae/baselines/index.ts";
import type { BaselineArch, SaeHyper, SaeModule } from "../../src/sae/types.ts";
import type { NaiveParams } from "./sae-baselines-naive.ts";

export function baselineHyper(arch: BaselineArch, d: number, m: number, over: Partial<SaeHyper> = {}): SaeHyper {
  return {
    arch,
    d,
    m,
    l1: 0.3,
    l2: 0,
    k: 4,
    auxKCoef: 0.5,
    auxK: Math.max(1, d / 2),
    reconstruct: "denormalized",
    eps: 1e-5,
    coactBeta: 0.99,
    coactTau: 0.1,
    runBeta: 0.99,
    jumpBandwidth: 0.001,
    jumpInitThreshold: 0.001,
    thresholdBeta: 0.999,
    matryoshkaFractions: [1 / 32, 1 / 16, 1 / 8, 1 / 4, 17 / 32],
    ...over,
  };
}

/** Random values per tensor name (rounded to float32 so f32 and f64 modules hold the same numbers). */
export function randomValues(name: string, n: number, d: number, rng: Rng): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    if (name === "W_enc" || name === "W_dec") v = rng.normal() / Math.sqrt(d);
    else if (name === "threshold") v = 0.05 + 0.25 * rng.next();
    else if (name === "b_dec") v = 0.2 * rng.normal();
    else v = 0.1 * rng.normal();
    out[i] = Math.fround(v);
  }
  return out;
}

export function makeInput(rows: number, d: number, seed: number, arrayType: "f32" | "f64" = "f64"): FloatArray {
  const rng = new Rng(seed);
  const x = arrayType === "f64" ? new Float64Array(rows * d) : new Float32Array(rows * d);
  for (let i = 0; i < x.length; i++) x[i] = Math.fround(rng.normal());
  return x;
}

export function deadMask(m: number, seed: number, fraction = 0.25): Uint8Array {
  const rng = new Rng(seed);
  const dead = new Uint8Array(m);
  for (let i = 0; i < m; i++) dead[i] = rng.next() < fraction ? 1 : 0;
  if (!dead.includes(1)) dead[0] = 1;
  return dead;
}

/** A module with every parameter set to random values from `seed`. */
export function randomModule<A extends FloatArray>(
  hyper: SaeHyper,
  backend: Backend,
  arrayType: "f32" | "f64",
  seed: number,
  firstBatch: A,
  rows: number,
): SaeModule<A> {
  const arch = hyper.arch as BaselineArch;
  const sae = BASELINE_FACTORIES[arch](hyper, backend, { arrayType, seed, firstBatch, rows });
  const rng = new Rng(seed + 1000);
  for (const [name, { param }] of sae.params) param.data.set(randomValues(name, param.data.length, hyper.d, rng));
  return sae;
}

/** float64 copies of the module's parameters by name. */
export function paramsOf(sae: SaeModule): NaiveParams {
  const out: NaiveParams = {};
  for (const [name, { param }] of sae.params) out[name] = Float64Array.from(param.data);
  return out;
}

export function zeroGrads(sae: SaeModule): void {
  for (const { param } of sae.params.values()) param.zeroGrad();
}

/** |a - b| / max(1, |a|, |b|) over two arrays. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < a.length; i++)
    e = Math.max(e, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(a[i]), Math.abs(b[i])));
  return e;
}
