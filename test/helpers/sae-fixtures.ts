/**
 * Fixtures of the SAE tests: hyperparameters through the real schema, modules with randomized
 * (non-trivial) parameters and state, inputs with non-zero per-token means.
 */

import { parseSaeHyper } from "../../src/config/sae.ts";
import type { Backend, FloatArray } from "../../src/core/backend.ts";
import { Rng } from "../../src/core/tensor.ts";
import { PAPER_FACTORIES } from "../../src/sae/paper/index.ts";
import type { PaperArch, SaeHyper, SaeModule } from "../../src/sae/types.ts";

export function paperHyper(arch: PaperArch, d: number, m: number, over: Record<string, unknown> = {}): SaeHyper {
  return parseSaeHyper({ arch, expansion: m / d, l1: 0.05, l2: 0.1, ...over }, d, "test");
}

/** x [rows, d]: N(0, 1) plus a per-token offset and a per-dimension offset (so mu_t, run stats matter). */
export function randomInput<A extends FloatArray>(rows: number, d: number, seed: number, type: "f32" | "f64"): A {
  const rng = new Rng(seed);
  const x = type === "f32" ? new Float32Array(rows * d) : new Float64Array(rows * d);
  const dimOff = Array.from({ length: d }, () => 0.3 * rng.normal());
  for (let r = 0; r < rows; r++) {
    const tokOff = 0.5 * rng.normal();
    const scale = 0.7 + 0.6 * rng.next();
    for (let j = 0; j < d; j++) x[r * d + j] = scale * rng.normal() + tokOff + dimOff[j];
  }
  return x as A;
}

/** Random non-trivial values for every parameter and buffer (the pins' golden recipe). */
export function randomize<A extends FloatArray>(sae: SaeModule<A>, seed: number): void {
  const rng = new Rng(seed);
  const { d, m } = sae.hyper;
  for (const [name, { param }] of sae.params) {
    const a = param.data;
    switch (name) {
      case "W_enc":
      case "W_dec":
        rng.fillNormal(a, 0.6 / Math.sqrt(d) + 0.1);
        break;
      case "ln_gamma":
      case "ms_gamma":
        for (let i = 0; i < a.length; i++) a[i] = 1 + 0.1 * rng.normal();
        break;
      case "attn_alpha":
        a[0] = 1 + 0.3 * rng.normal();
        break;
      case "adapt_rho":
      case "ms_w":
        rng.fillNormal(a, 1);
        break;
      case "attn_K":
      case "attn_WQ":
        rng.fillNormal(a, 0.8);
        break;
      default:
        rng.fillNormal(a, 0.1);
    }
  }
  for (const [name, buf] of sae.buffers) {
    const a = buf.data;
    if (name === "run_mean") rng.fillNormal(a, 0.1);
    else if (name === "run_var") rng.fillUniform(a, 0.5, 1.5);
    else if (name === "coact_ema") {
      for (let i = 0; i < m; i++)
        for (let j = 0; j <= i; j++) {
          const v = i === j ? 0 : -0.05 + 0.1 * rng.next();
          a[i * m + j] = v;
          a[j * m + i] = v;
        }
    }
  }
}

export function makePaper<A extends FloatArray>(
  arch: PaperArch,
  hyper: SaeHyper,
  backend: Backend,
  type: "f32" | "f64",
  seed = 1,
): SaeModule<A> {
  const first = randomInput<A>(6, hyper.d, seed + 100, type);
  return PAPER_FACTORIES[arch]<A>(hyper, backend, { arrayType: type, seed, firstBatch: first, rows: 6 });
}

export function zeroGrads(sae: SaeModule): void {
  for (const { param } of sae.params.values()) param.grad.fill(0);
}

/** Parameters and state as plain records (views on the module's arrays, not copies). */
export function tensorsOf(sae: SaeModule): { p: Record<string, FloatArray>; state: Record<string, FloatArray> } {
  const p: Record<string, FloatArray> = {};
  const state: Record<string, FloatArray> = {};
  for (const [name, { param }] of sae.params) p[name] = param.data;
  for (const [name, b] of sae.buffers) state[name] = b.data;
  return { p, state };
}
