// Every baseline SAE on the ref backend in float64, against an independent naive model
// (test/helpers/sae-baselines-naive.ts): the loss parts and codes agree to 1e-12, and every parameter's
// gradient agrees with central finite differences of the naive loss (detached pieces frozen) to
// 1e-6. jumprelu's threshold gradient is straight-through, so it is checked against the pins'
// closed form instead, on a batch with pre-activations placed inside the kernel's band.
import assert from "node:assert/strict";
import { test } from "node:test";
import { refBackend } from "../../src/core/backends/index.ts";
import type { BaselineArch, SaeHyper } from "../../src/sae/types.ts";
import {
  baselineHyper,
  deadMask,
  makeInput,
  maxRelError,
  paramsOf,
  randomModule,
  zeroGrads,
} from "../helpers/sae-baselines.ts";
import { type NaiveParams, naiveSae } from "../helpers/sae-baselines-naive.ts";

interface Case {
  d: number;
  m: number;
  rows: number;
  seed: number;
  dead: boolean;
}

// Typed over the union: a baseline without a gradient check does not compile.
const CASES: Record<BaselineArch, Case> = {
  relu: { d: 8, m: 32, rows: 10, seed: 11, dead: false },
  topk: { d: 8, m: 32, rows: 10, seed: 12, dead: true },
  batchtopk: { d: 8, m: 32, rows: 10, seed: 13, dead: true },
  jumprelu: { d: 8, m: 32, rows: 10, seed: 14, dead: false },
  gated: { d: 12, m: 48, rows: 10, seed: 15, dead: false },
  matryoshka: { d: 16, m: 64, rows: 10, seed: 16, dead: true },
};

const EPS = 1e-6;
const TOL = 1e-6;

/** Puts the thresholds of several features within eps/4 of one of their pre-activations. */
function placeThresholdsNearPre(p: NaiveParams, pre: Float64Array, hp: SaeHyper, rows: number): number {
  const { m, jumpBandwidth: eps } = hp;
  let placed = 0;
  for (let i = 0; i < m && placed < 10; i++) {
    for (let b = 0; b < rows; b++) {
      const v = pre[b * m + i];
      if (v > 0.05 && v < 1.5) {
        p.threshold[i] = v + (placed % 2 === 0 ? 0.2 : -0.2) * eps;
        placed++;
        break;
      }
    }
  }
  return placed;
}

for (const arch of Object.keys(CASES) as BaselineArch[]) {
  const c = CASES[arch];
  test(`${arch}: loss parts and codes match the naive model; gradients match central differences (ref, f64)`, () => {
    const hp = baselineHyper(arch, c.d, c.m);
    const x = makeInput(c.rows, c.d, c.seed) as Float64Array;
    const sae = randomModule(hp, refBackend, "f64", c.seed, x, c.rows);
    const dead = c.dead ? deadMask(c.m, c.seed) : null;
    if (arch === "jumprelu") {
      const p = paramsOf(sae);
      const pre = naiveSae(arch, hp, p, x, c.rows, { dead }).pre;
      assert.ok(placeThresholdsNearPre(p, pre, hp, c.rows) >= 6, "enough features with a pre-activation in range");
      sae.params.get("threshold")?.param.data.set(p.threshold);
    }
    zeroGrads(sae);
    const parts = sae.trainBatch(x, c.rows, { gradWeight: 1, deadMask: dead, updateState: false });
    const p0 = paramsOf(sae);
    const base = naiveSae(arch, hp, p0, x, c.rows, { dead });
    assert.ok(base.margin > 2e-5, `inputs away from kinks and ties (margin ${base.margin})`);
    for (const key of ["recon", "sparsity", "aux", "total", "l0"] as const) {
      assert.ok(maxRelError([parts[key]], [base[key]]) < 1e-12, `${key}: module ${parts[key]} vs naive ${base[key]}`);
    }
    assert.equal(parts.ortho, 0);
    if (c.dead || arch === "gated") assert.ok(parts.aux > 1e-3, `aux is exercised (${parts.aux})`);
    if (arch === "relu" || arch === "gated" || arch === "jumprelu") assert.ok(parts.sparsity > 1e-3);
    assert.ok(maxRelError(sae.codes(), base.codes) < 1e-12, "codes");
    const residual = new Float64Array(c.rows * c.d);
    sae.decoderResidual(residual);
    assert.ok(
      maxRelError(
        residual,
        Float64Array.from(x, (v, i) => v - base.xhat[i]),
      ) < 1e-12,
      "decoderResidual = x - x^",
    );

    const frozen = {
      W_dec: p0.W_dec.slice(),
      b_dec: p0.b_dec.slice(),
      e: Float64Array.from(x, (v, i) => v - base.xhat[i]),
    };
    const loss = () => {
      const out = naiveSae(arch, hp, p0, x, c.rows, { dead, frozen });
      assert.equal(out.pattern, base.pattern, "a finite difference crossed a kink");
      return out.total;
    };
    for (const [name, { param }] of sae.params) {
      if (arch === "jumprelu" && name === "threshold") continue;
      const data = p0[name];
      let worst = 0;
      for (let j = 0; j < data.length; j++) {
        const keep = data[j];
        data[j] = keep + EPS;
        const up = loss();
        data[j] = keep - EPS;
        const down = loss();
        data[j] = keep;
        const numeric = (up - down) / (2 * EPS);
        const a = param.grad[j];
        const err = Math.abs(a - numeric) / Math.max(1, Math.abs(a), Math.abs(numeric));
        worst = Math.max(worst, err);
        assert.ok(err < TOL, `${arch} d/d${name}[${j}]: analytic ${a} vs numeric ${numeric}`);
      }
      let norm = 0;
      for (const g of param.grad) norm += g * g;
      assert.ok(norm > 0, `${arch} ${name}: gradient is not all zero`);
    }

    if (arch === "jumprelu") {
      // Closed form (pins): dL/dtheta_i = sum_b K_bi (dL/dh_bi * -(theta_i/eps) - l1 / (B eps)),
      // K_bi = [|pre_bi - theta_i| / eps < 1/2], dL/dh_bi = -2/B (x - x^)_b . W_dec,i.
      const { m, d, l1, jumpBandwidth: eps } = hp;
      const B = c.rows;
      const want = new Float64Array(m);
      let inBand = 0;
      for (let b = 0; b < B; b++)
        for (let i = 0; i < m; i++) {
          const t = p0.threshold[i];
          const u = (base.pre[b * m + i] - t) / eps;
          if (!(u > -0.5 && u < 0.5)) continue;
          inBand++;
          let dLdh = 0;
          for (let j = 0; j < d; j++) dLdh += (-2 / B) * (x[b * d + j] - base.xhat[b * d + j]) * p0.W_dec[i * d + j];
          want[i] += dLdh * (-t / eps) - l1 / (B * eps);
        }
      assert.ok(inBand >= 6, `entries inside the straight-through band (${inBand})`);
      const got = sae.params.get("threshold")?.param.grad ?? new Float64Array(0);
      assert.ok(
        maxRelError(got, want) < 1e-9,
        `threshold gradient ${Array.from(got).slice(0, 4)} vs ${want.slice(0, 4)}`,
      );
    }
  });

  test(`${arch}: gradWeight scales and accumulates (0.5 + 0.25 = 0.75 of one unit step)`, () => {
    const hp = baselineHyper(arch, c.d, c.m);
    const x = makeInput(c.rows, c.d, c.seed + 1) as Float64Array;
    const sae = randomModule(hp, refBackend, "f64", c.seed, x, c.rows);
    const dead = c.dead ? deadMask(c.m, c.seed) : null;
    const opts = (gradWeight: number) => ({ gradWeight, deadMask: dead, updateState: false });
    zeroGrads(sae);
    const one = sae.trainBatch(x, c.rows, opts(1));
    const unit = [...sae.params.values()].map(({ param }) => Float64Array.from(param.grad));
    zeroGrads(sae);
    const half = sae.trainBatch(x, c.rows, opts(0.5));
    sae.trainBatch(x, c.rows, opts(0.25));
    assert.deepEqual(half, one, "loss parts are unweighted");
    [...sae.params.values()].forEach(({ param }, n) => {
      assert.ok(
        maxRelError(
          param.grad,
          unit[n].map((g) => 0.75 * g),
        ) < 1e-12,
        `${param.name}`,
      );
    });
  });
}
