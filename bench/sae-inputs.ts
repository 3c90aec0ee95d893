/**
 * The inputs of one `msae bench sae` case, generated here once and read by BOTH sides (msae's
 * module gets them copied into its parameters; bench/torch_sae.py reads the same float32 files),
 * so the two steps start from bit-identical tensors. Generator (Rng = src/core/tensor.ts, seeded):
 *
 *   x = (z + o) * s,  z ~ N(0, 1) [B, d], o ~ 0.5 N(0, 1) [d], s = exp(0.4 N(0, 1)) [B, 1],
 *       then scaled so that mean_b ||x||^2 = d  (DESIGN.md s.2's dataset scaling);
 *   W_dec ~ N(0, 1/d) [m, d], W_enc = W_dec^T [d, m], b_dec = mean_b x [d];
 *   attn_WQ ~ N(0, 1/d) [d, d/4], attn_K ~ N(0, 1/d) [m, d/4] (attention, multiscale);
 *   every other parameter and buffer at DESIGN.md s.2's init (gains 1, biases 0, run_var 1, ...).
 *   Density as a trained SAE has (non-TopK archs): b_enc (gated: b_gate and b_mag) = minus the
 *   0.9-quantile over the batch (linear interpolation, torch.quantile's rule) of each feature's
 *   pre-activation u W_enc with a zero bias, where u is the encoder input at the init:
 *     base, relu, jumprelu, gated:  u = x - b_dec
 *     layernorm:                    u = (x - mu_t) / sqrt(var_t + eps)
 *     adaptive, attention:          u = (x - mu) / sqrt(var + eps), mu = (mu_t + 0) / 2, var = (var_t + 1) / 2
 *                                   (a = sigmoid(0) mixes the token's statistics with run_mean 0, run_var 1)
 *     multiscale:                   u = sum_s 1/4 (x - mu) / sqrt(s var + eps), s in {0.1, 0.5, 1, 2}
 *   (mu_t, var_t the token's mean and biased variance over d), so each feature fires on ~10% of the
 *   tokens and L0 ~ 10% of m. TopK family: b_enc = 0, L0 = k, dead mask = features i % 4 == 3.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Backend } from "../src/core/backend.ts";
import { Rng } from "../src/core/tensor.ts";
import { TOPK_FAMILY } from "../src/sae/registry.ts";
import type { SaeArch } from "../src/sae/types.ts";

const MS_SCALES = [0.1, 0.5, 1, 2];
const EPS = 1e-5;

export interface SaeBenchInputs {
  arch: SaeArch;
  d: number;
  m: number;
  batch: number;
  /** x [batch, d] (input space). */
  x: Float32Array;
  /** Parameter overrides by tensor name (the rest stay at the module's init). */
  params: Record<string, Float32Array>;
  /** [m] 1 = dead (TopK family), null otherwise. */
  dead: Uint8Array | null;
}

/** The q-quantile of each column of v [rows, cols] (linear interpolation between order statistics). */
export function columnQuantile(v: Float32Array, rows: number, cols: number, q: number): Float64Array {
  const out = new Float64Array(cols);
  const col = new Float64Array(rows);
  const pos = q * (rows - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, rows - 1);
  const frac = pos - lo;
  for (let j = 0; j < cols; j++) {
    for (let r = 0; r < rows; r++) col[r] = v[r * cols + j];
    col.sort();
    out[j] = col[lo] + frac * (col[hi] - col[lo]);
  }
  return out;
}

/** The encoder input u [batch, d] at the init (file header), float32. */
export function encoderInput(
  arch: SaeArch,
  x: Float32Array,
  batch: number,
  d: number,
  bDec: Float32Array,
): Float32Array {
  const u = new Float32Array(batch * d);
  const normalized = arch === "layernorm" || arch === "adaptive" || arch === "attention" || arch === "multiscale";
  for (let r = 0; r < batch; r++) {
    const o = r * d;
    if (!normalized) {
      for (let j = 0; j < d; j++) u[o + j] = x[o + j] - bDec[j];
      continue;
    }
    let mean = 0;
    for (let j = 0; j < d; j++) mean += x[o + j];
    mean /= d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x[o + j] - mean) ** 2;
    v /= d;
    const mixed = arch !== "layernorm";
    const mu = mixed ? mean / 2 : mean;
    const va = mixed ? (v + 1) / 2 : v;
    let f = 1 / Math.sqrt(va + EPS);
    if (arch === "multiscale") {
      f = 0;
      for (const s of MS_SCALES) f += 0.25 / Math.sqrt(s * va + EPS);
    }
    for (let j = 0; j < d; j++) u[o + j] = (x[o + j] - mu) * f;
  }
  return u;
}

/** The case's inputs (file header); `backend` runs the one GEMM of the density trick. */
export function makeSaeBenchInputs(
  arch: SaeArch,
  d: number,
  m: number,
  batch: number,
  seed: number,
  backend: Backend,
): SaeBenchInputs {
  const rng = new Rng(seed);
  const x = new Float32Array(batch * d);
  rng.fillNormal(x);
  const o = rng.fillNormal(new Float64Array(d), 0.5);
  let sq = 0;
  for (let r = 0; r < batch; r++) {
    const s = Math.exp(0.4 * rng.normal());
    for (let j = 0; j < d; j++) {
      const v = (x[r * d + j] + o[j]) * s;
      x[r * d + j] = v;
    }
  }
  for (let i = 0; i < x.length; i++) sq += x[i] * x[i];
  const c = Math.sqrt(d / (sq / batch));
  for (let i = 0; i < x.length; i++) x[i] *= c;
  const wDec = rng.fillNormal(new Float32Array(m * d), 1 / Math.sqrt(d));
  const wEnc = new Float32Array(d * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) wEnc[j * m + i] = wDec[i * d + j];
  const bDec = new Float32Array(d);
  const acc = new Float64Array(d);
  for (let r = 0; r < batch; r++) for (let j = 0; j < d; j++) acc[j] += x[r * d + j];
  for (let j = 0; j < d; j++) bDec[j] = acc[j] / batch;
  const params: Record<string, Float32Array> = { W_enc: wEnc, W_dec: wDec, b_dec: bDec };
  if (arch === "attention" || arch === "multiscale") {
    params.attn_WQ = rng.fillNormal(new Float32Array(d * (d / 4)), 1 / Math.sqrt(d));
    params.attn_K = rng.fillNormal(new Float32Array(m * (d / 4)), 1 / Math.sqrt(d));
  }
  let dead: Uint8Array | null = null;
  if (TOPK_FAMILY.includes(arch)) {
    dead = new Uint8Array(m);
    for (let i = 0; i < m; i++) dead[i] = i % 4 === 3 ? 1 : 0;
  } else {
    const u = encoderInput(arch, x, batch, d, bDec);
    const pre = new Float32Array(batch * m);
    backend.gemm(false, false, batch, m, d, 1, u, d, wEnc, m, 0, pre, m);
    const q = columnQuantile(pre, batch, m, 0.9);
    const bias = Float32Array.from(q, (v) => -v);
    if (arch === "gated") {
      params.b_gate = bias;
      params.b_mag = bias.slice();
    } else {
      params.b_enc = bias;
    }
  }
  return { arch, d, m, batch, x, params, dead };
}

/** Writes x.f32, <param>.f32 and dead.u8 (raw little-endian) into dir, for bench/torch_sae.py. */
export function writeSaeBenchInputs(inputs: SaeBenchInputs, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const put = (name: string, a: Float32Array | Uint8Array) =>
    writeFileSync(join(dir, name), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  put("x.f32", inputs.x);
  for (const [name, a] of Object.entries(inputs.params)) put(`${name}.f32`, a);
  if (inputs.dead) put("dead.u8", inputs.dead);
}
