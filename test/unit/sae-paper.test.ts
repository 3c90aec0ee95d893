// The paper architectures on the ref backend in float64: the forward and every loss part against
// an independent naive evaluation of the equations (test/helpers/sae-naive.ts), and every gradient
// of every parameter against central finite differences of that naive loss.
import assert from "node:assert/strict";
import { test } from "node:test";
import { refBackend } from "../../src/core/backends/index.ts";
import { PAPER_ARCHS, type PaperArch } from "../../src/sae/types.ts";
import { makePaper, paperHyper, randomInput, randomize, tensorsOf, zeroGrads } from "../helpers/sae-fixtures.ts";
import { naivePaper } from "../helpers/sae-naive.ts";

const CASES: { arch: PaperArch; reconstruct: "paper" | "denormalized"; d: number; m: number }[] = [];
for (const arch of PAPER_ARCHS)
  for (const reconstruct of arch === "base" ? (["denormalized"] as const) : (["denormalized", "paper"] as const))
    CASES.push({
      arch,
      reconstruct,
      d: arch === "base" || arch === "layernorm" ? 12 : 8,
      m: arch === "multiscale" ? 24 : 32,
    });

const ROWS = 10;

for (const c of CASES) {
  test(`${c.arch} (${c.reconstruct}): forward and loss parts match the naive float64 evaluation`, () => {
    const hyper = paperHyper(c.arch, c.d, c.m, { reconstruct: c.reconstruct });
    const sae = makePaper<Float64Array>(c.arch, hyper, refBackend, "f64");
    randomize(sae, 11);
    const x = randomInput<Float64Array>(ROWS, c.d, 5, "f64");
    const { p, state } = tensorsOf(sae);
    const want = naivePaper({ ...hyper, arch: c.arch, p, state, x, rows: ROWS });
    const parts = sae.trainBatch(x, ROWS, { gradWeight: 1, deadMask: null, updateState: false });
    const close = (a: number, b: number, what: string) =>
      assert.ok(Math.abs(a - b) <= 1e-10 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
    close(parts.recon, want.reconLoss, "recon");
    close(parts.sparsity, want.sparsity, "sparsity");
    close(parts.ortho, want.ortho, "ortho");
    close(parts.total, want.total, "total");
    assert.equal(parts.l0, want.l0);
    assert.ok(parts.l0 > 0 && parts.l0 < c.m, `l0 ${parts.l0} should be strictly between 0 and m`);
    const codes = new Float64Array(ROWS * c.m);
    const recon = new Float64Array(ROWS * c.d);
    sae.forward(x, ROWS, codes, recon);
    for (let b = 0; b < ROWS; b++) {
      for (let i = 0; i < c.m; i++) close(codes[b * c.m + i], want.codes[b][i], `codes[${b}, ${i}]`);
      for (let j = 0; j < c.d; j++) close(recon[b * c.d + j], want.recon[b][j], `recon[${b}, ${j}]`);
    }
  });

  test(`${c.arch} (${c.reconstruct}): every parameter's gradient matches central differences`, () => {
    const hyper = paperHyper(c.arch, c.d, c.m, { reconstruct: c.reconstruct });
    const sae = makePaper<Float64Array>(c.arch, hyper, refBackend, "f64");
    randomize(sae, 12);
    const x = randomInput<Float64Array>(ROWS, c.d, 6, "f64");
    zeroGrads(sae);
    const gw = 0.75; // gradients are ADDED, times gradWeight
    sae.trainBatch(x, ROWS, { gradWeight: gw, deadMask: null, updateState: false });
    const { p, state } = tensorsOf(sae);
    const loss = () => naivePaper({ ...hyper, arch: c.arch, p, state, x, rows: ROWS }).total;
    const eps = 1e-6;
    let worst = 0;
    for (const [name, { param }] of sae.params) {
      const data = param.data;
      let nonzero = 0;
      for (let j = 0; j < data.length; j++) {
        const keep = data[j];
        data[j] = keep + eps;
        const up = loss();
        data[j] = keep - eps;
        const down = loss();
        data[j] = keep;
        const numeric = (gw * (up - down)) / (2 * eps);
        const analytic = param.grad[j];
        if (analytic !== 0) nonzero++;
        const err = Math.abs(analytic - numeric) / Math.max(1, Math.abs(analytic), Math.abs(numeric));
        worst = Math.max(worst, err);
        assert.ok(err < 1e-6, `${c.arch} d/d${name}[${j}]: analytic ${analytic} vs numeric ${numeric}`);
      }
      assert.ok(nonzero > 0, `${name}: the gradient is identically zero`);
    }
    assert.ok(worst < 1e-6);
  });
}

test("gradients accumulate: two calls add, scaled by gradWeight", () => {
  const hyper = paperHyper("multiscale", 8, 16);
  const sae = makePaper<Float64Array>("multiscale", hyper, refBackend, "f64");
  randomize(sae, 3);
  const x = randomInput<Float64Array>(5, 8, 9, "f64");
  zeroGrads(sae);
  sae.trainBatch(x, 5, { gradWeight: 1, deadMask: null, updateState: false });
  const once = [...sae.params.values()].map((s) => Float64Array.from(s.param.grad));
  sae.trainBatch(x, 5, { gradWeight: 0.5, deadMask: null, updateState: false });
  [...sae.params.values()].forEach((s, k) => {
    for (let j = 0; j < once[k].length; j++)
      assert.ok(Math.abs(s.param.grad[j] - 1.5 * once[k][j]) <= 1e-12 * Math.max(1, Math.abs(once[k][j])));
  });
});
