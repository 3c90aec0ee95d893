// native float32 vs ref float64 for every baseline SAE, from identical (float32-representable)
// parameters and inputs: two training steps of different batch sizes (the workspaces resize),
// state updates, then inference. Selections must agree exactly (the shape is chosen so the TopK
// cuts and kinks are at least 1e-5 away, ~100x the float32 error: asserted), values to float32
// accuracy, normwise (parity-util.ts).
// m = 256 and B = 32 take the native TopK kernel's screened path (cols / 16 >= 4 k), not only its
// small-row fallback.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { FloatArray } from "../../src/core/backend.ts";
import { nativeBackend, refBackend } from "../../src/core/backends/index.ts";
import type { BaselineArch, SaeModule } from "../../src/sae/types.ts";
import { baselineHyper, deadMask, makeInput, paramsOf, randomModule, zeroGrads } from "../helpers/sae-baselines.ts";
import { naiveSae } from "../helpers/sae-baselines-naive.ts";

const native = nativeBackend();
const skip = native ? false : "the native addon is not built (npm run build:native)";
const D = 32;
const M = 256;
const TOL = 1e-4;

const ARCHS: Record<BaselineArch, { seed: number }> = {
  relu: { seed: 21 },
  topk: { seed: 22 },
  batchtopk: { seed: 23 },
  jumprelu: { seed: 24 },
  gated: { seed: 25 },
  matryoshka: { seed: 26 },
};

function normwise(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  let s = 1e-30;
  for (let i = 0; i < b.length; i++) {
    e = Math.max(e, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return e / s;
}

function support(a: ArrayLike<number>): string {
  let out = "";
  for (let i = 0; i < a.length; i++) out += a[i] !== 0 ? "1" : "0";
  return out;
}

for (const arch of Object.keys(ARCHS) as BaselineArch[]) {
  const { seed } = ARCHS[arch];
  test(`${arch}: native f32 matches ref f64 (train steps of 32 and 20 rows, state, inference)`, { skip }, () => {
    if (!native) return;
    const hp = baselineHyper(arch, D, M, { k: 4, auxK: 16, auxKCoef: 1 / 32, l1: 0.05 });
    const dead = deadMask(M, seed);
    const batches = [32, 20].map((rows, n) => ({ rows, x64: makeInput(rows, D, seed * 10 + n) as Float64Array }));
    const r = randomModule<FloatArray>(hp, refBackend, "f64", seed, batches[0].x64, 32);
    const x32 = batches.map((b) => Float32Array.from(b.x64));
    const n = randomModule<FloatArray>(hp, native, "f32", seed, x32[0], 32);
    const p0 = paramsOf(r);
    batches.forEach((b, i) => {
      const margin = naiveSae(arch, hp, p0, b.x64, b.rows, { dead }).margin;
      assert.ok(margin > 1e-5, `batch ${i}: kinks and ties far from the float32 error (margin ${margin})`);
    });
    const step = (sae: SaeModule<FloatArray>, x: FloatArray, rows: number) => {
      zeroGrads(sae);
      return sae.trainBatch(x, rows, { gradWeight: 0.5, deadMask: dead, updateState: true });
    };
    batches.forEach((b, i) => {
      const pr = step(r, b.x64, b.rows);
      const pn = step(n, x32[i], b.rows);
      for (const key of ["recon", "sparsity", "aux", "total", "l0"] as const) {
        const err = Math.abs(pn[key] - pr[key]) / Math.max(Math.abs(pr[key]), 1e-30);
        assert.ok(err < TOL, `step ${i} ${key}: native ${pn[key]} vs ref ${pr[key]}`);
      }
      assert.equal(support(n.codes()), support(r.codes()), `step ${i}: same selection`);
      assert.ok(normwise(n.codes(), r.codes()) < TOL, `step ${i}: codes`);
      for (const [name, { param }] of r.params) {
        const e = normwise(n.params.get(name)?.param.grad ?? [], param.grad);
        assert.ok(e < TOL, `step ${i} grad ${name}: normwise ${e.toExponential(2)}`);
      }
      for (const [name, buf] of r.buffers) {
        assert.ok(normwise(n.buffers.get(name)?.data ?? [], buf.data) < TOL, `step ${i} buffer ${name}`);
      }
      const rr = new Float64Array(b.rows * D);
      const rn = new Float32Array(b.rows * D);
      r.decoderResidual(rr);
      n.decoderResidual(rn);
      assert.ok(normwise(rn, rr) < TOL, `step ${i}: decoderResidual`);
    });
    const rows = 20;
    const cr = new Float64Array(rows * M);
    const xr = new Float64Array(rows * D);
    const cn = new Float32Array(rows * M);
    const xn = new Float32Array(rows * D);
    r.forward(batches[1].x64, rows, cr, xr);
    n.forward(x32[1], rows, cn, xn);
    assert.equal(support(cn), support(cr), "inference selection");
    assert.ok(normwise(cn, cr) < TOL, "inference codes");
    assert.ok(normwise(xn, xr) < TOL, "inference recon");
  });
}
