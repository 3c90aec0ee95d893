// The paper architectures in float32 on the native backend against the same module in float64 on
// the ref backend (identical parameters, state and input): loss parts, codes, reconstruction,
// every gradient and the state after one training step (normwise relative error, see parity-util).
import assert from "node:assert/strict";
import { test } from "node:test";
import { refBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import { symmetricGram } from "../../src/sae/ortho.ts";
import { PAPER_ARCHS } from "../../src/sae/types.ts";
import { makePaper, paperHyper, randomInput, randomize, zeroGrads } from "../helpers/sae-fixtures.ts";
import { native, skip } from "./parity-util.ts";

const TOL = 2e-5;

function normwise(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1e-30;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

for (const arch of PAPER_ARCHS)
  for (const reconstruct of ["denormalized", "paper"] as const) {
    if (arch === "base" && reconstruct === "paper") continue;
    test(`${arch} (${reconstruct}): native float32 matches ref float64`, { skip }, () => {
      const d = 32;
      const m = 64;
      const rows = 48;
      const hyper = paperHyper(arch, d, m, { reconstruct });
      const r = makePaper<Float64Array>(arch, hyper, refBackend, "f64");
      const n = makePaper<Float32Array>(arch, hyper, native, "f32");
      randomize(r, 21);
      for (const [name, s] of r.params) n.params.get(name)?.param.data.set(s.param.data);
      for (const [name, b] of r.buffers) n.buffers.get(name)?.data.set(b.data);
      // Round the parameters and state of the float64 module to float32 too, so both see identical values.
      for (const [name, s] of n.params) r.params.get(name)?.param.data.set(s.param.data);
      for (const [name, b] of n.buffers) r.buffers.get(name)?.data.set(b.data);
      const x32 = randomInput<Float32Array>(rows, d, 8, "f32");
      const x64 = Float64Array.from(x32);
      zeroGrads(r);
      zeroGrads(n);
      const opts = { gradWeight: 1, deadMask: null, updateState: true };
      const pr = r.trainBatch(x64, rows, opts);
      const pn = n.trainBatch(x32, rows, opts);
      for (const k of ["recon", "sparsity", "ortho", "total"] as const)
        assert.ok(Math.abs(pn[k] - pr[k]) <= TOL * Math.max(1, Math.abs(pr[k])), `${k}: ${pn[k]} vs ${pr[k]}`);
      assert.equal(pn.l0, pr.l0);
      assert.ok(normwise(n.codes(), r.codes()) < TOL, "codes");
      for (const [name, s] of r.params) {
        const e = normwise(n.params.get(name)!.param.grad, s.param.grad);
        assert.ok(e < TOL, `grad ${name}: normwise error ${e}`);
      }
      for (const [name, b] of r.buffers) {
        const e = normwise(n.buffers.get(name)!.data, b.data);
        assert.ok(e < TOL, `state ${name}: normwise error ${e}`);
      }
      const cr = new Float64Array(rows * m);
      const xr = new Float64Array(rows * d);
      const cn = new Float32Array(rows * m);
      const xn = new Float32Array(rows * d);
      r.forward(x64, rows, cr, xr);
      n.forward(x32, rows, cn, xn);
      assert.ok(normwise(cn, cr) < TOL && normwise(xn, xr) < TOL, "inference forward");
    });
  }

test("symmetricGram on native (blocked, strided sub-views) matches the ref full product", { skip }, () => {
  const n = 1601;
  const k = 8;
  const x = new Rng(3).fillNormal(new Float32Array(n * k));
  for (const trans of [false, true]) {
    const got = new Float32Array(n * n);
    symmetricGram(native, trans, n, k, x, trans ? n : k, got);
    const want = new Float32Array(n * n);
    refBackend.gemm(trans, !trans, n, n, k, 1, x, trans ? n : k, x, trans ? n : k, 0, want, n);
    assert.ok(normwise(got, want) < 1e-6, `trans ${trans}: ${normwise(got, want)}`);
  }
});
