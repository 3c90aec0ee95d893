/**
 * Dead-feature reactivation (DESIGN.md s.2), every `reactivateEvery` optimizer steps:
 *
 *   R = the residual of the current batch in the space the decoder writes (SaeModule.decoderResidual) [rows, d]
 *   v_1..v_r = R's leading right singular vectors, randomized SVD (src/sae/rsvd.ts; rank 32,
 *              8 extra columns, 2 power iterations; r = min(32, rows, d) or R's rank if lower)
 *   the k-th dead feature j (k = 0, 1, ... in feature order):
 *     W_dec[j]    = (v_(k mod r) + noise * z) / ||...||, z ~ N(0, I_d)   (noise 0.01 per entry)
 *     W_enc[:, j] = 0.2 * (mean ||W_enc[:, i]|| over the alive features i) * W_dec[j]^T
 *     b_enc[j]    = 0, and the other per-feature vectors at their init: b_gate, b_mag, r_mag = 0,
 *                   jumprelu threshold = jumpInitThreshold
 *     AdamW moments of W_dec row j, W_enc column j and those entries zeroed.
 * The sketch and the noise come from an Rng seeded by (run seed, SAE index, step), so a resumed
 * run reactivates identically. "k-th dead feature" (not feature index j) picks v so that the first
 * r dead features get r different directions.
 */
import type { FloatArray } from "../../core/backend.ts";
import { Rng } from "../../core/tensor.ts";
import type { AdamW } from "../../optim/adamw.ts";
import { randomizedSvd } from "../rsvd.ts";
import type { SaeModule } from "../types.ts";

export interface ReactivateOptions {
  rank: number;
  oversample: number;
  powerIterations: number;
  noise: number;
  encoderScale: number;
}

/** Deterministic seed of one reactivation round. */
export function reactivationSeed(seed: number, saeIndex: number, step: number): number {
  let h =
    (Math.imul(seed + 0x51ed27, 0x9e3779b1) ^ Math.imul(saeIndex + 1, 0x85ebca77) ^ Math.imul(step, 0xc2b2ae3d)) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  return (h ^ (h >>> 12)) >>> 0;
}

/**
 * Revives `dead` features of `sae` from the residual [rows, d] (see the header). Returns how
 * many were revived (0 when the residual is 0).
 */
export function reactivateFeatures(
  sae: SaeModule,
  optimizer: AdamW,
  dead: readonly number[],
  residual: FloatArray,
  rows: number,
  rngSeed: number,
  o: ReactivateOptions,
): number {
  if (dead.length === 0) return 0;
  const { d, m } = sae.hyper;
  const rng = new Rng(rngSeed);
  const svd = randomizedSvd(residual, rows, d, rng, {
    rank: o.rank,
    oversample: o.oversample,
    powerIterations: o.powerIterations,
  });
  if (svd.rank === 0) return 0;
  const wDec = sae.params.get("W_dec")!.param;
  const wEnc = sae.params.get("W_enc")!.param;
  const isDead = new Uint8Array(m);
  for (const j of dead) isDead[j] = 1;
  let normSum = 0;
  let alive = 0;
  let allSum = 0;
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let r = 0; r < d; r++) s += wEnc.data[r * m + i] ** 2;
    const n = Math.sqrt(s);
    allSum += n;
    if (!isDead[i]) {
      normSum += n;
      alive++;
    }
  }
  const meanNorm = alive > 0 ? normSum / alive : allSum / m;
  const encNorm = o.encoderScale * (meanNorm > 0 ? meanNorm : 1);
  const dir = new Float64Array(d);
  dead.forEach((j, k) => {
    const v = svd.vectors.subarray((k % svd.rank) * d, ((k % svd.rank) + 1) * d);
    let nrm = 0;
    for (let c = 0; c < d; c++) {
      dir[c] = v[c] + o.noise * rng.normal();
      nrm += dir[c] * dir[c];
    }
    nrm = Math.sqrt(nrm);
    for (let c = 0; c < d; c++) {
      const u = dir[c] / nrm;
      wDec.data[j * d + c] = u;
      wEnc.data[c * m + j] = encNorm * u;
    }
  });
  optimizer.resetRows(wDec, dead);
  optimizer.resetCols(wEnc, dead);
  for (const [name, { param, featureAxis }] of sae.params) {
    if (featureAxis !== "elem") continue;
    const value = name === "threshold" ? sae.hyper.jumpInitThreshold : 0;
    for (const j of dead) param.data[j] = value;
    optimizer.resetRows(param, dead);
  }
  return dead.length;
}
