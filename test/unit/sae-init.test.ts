// The paper's init (DESIGN.md s.2), the running-statistics update and the decoder residual,
// against values computed here from their definitions.
import assert from "node:assert/strict";
import { test } from "node:test";
import { refBackend } from "../../src/core/backends/index.ts";
import { PAPER_FACTORIES } from "../../src/sae/paper/index.ts";
import type { PaperArch } from "../../src/sae/types.ts";
import { paperHyper, randomInput } from "../helpers/sae-fixtures.ts";

function build(
  arch: PaperArch,
  d: number,
  m: number,
  reconstruct: "paper" | "denormalized",
  seed: number,
  x: Float64Array,
  rows: number,
) {
  return PAPER_FACTORIES[arch]<Float64Array>(paperHyper(arch, d, m, { reconstruct }), refBackend, {
    arrayType: "f64",
    seed,
    firstBatch: x,
    rows,
  });
}

function tokenStats(x: Float64Array, b: number, d: number): [number, number] {
  let s = 0;
  for (let j = 0; j < d; j++) s += x[b * d + j];
  const mu = s / d;
  let v = 0;
  for (let j = 0; j < d; j++) v += (x[b * d + j] - mu) ** 2;
  return [mu, v / d];
}

test("init: W_dec ~ N(0, 1/d), W_enc = W_dec^T, b_enc = 0, gains 1, seeded", () => {
  const d = 64;
  const m = 256;
  const x = randomInput<Float64Array>(20, d, 1, "f64");
  const sae = build("multiscale", d, m, "denormalized", 7, x, 20);
  const w = sae.params.get("W_dec")!.param.data;
  const we = sae.params.get("W_enc")!.param.data;
  let ss = 0;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < d; j++) {
      assert.equal(we[j * m + i], w[i * d + j]);
      ss += w[i * d + j] ** 2;
    }
  const std = Math.sqrt(ss / (m * d));
  assert.ok(Math.abs(std * Math.sqrt(d) - 1) < 0.03, `std * sqrt(d) = ${std * Math.sqrt(d)}`);
  assert.ok(sae.params.get("b_enc")!.param.data.every((v) => v === 0));
  assert.ok(sae.params.get("ms_gamma")!.param.data.every((v) => v === 1));
  assert.ok(sae.params.get("ms_w")!.param.data.every((v) => v === 0));
  assert.equal(sae.params.get("attn_alpha")!.param.data[0], 1);
  assert.equal(sae.params.get("adapt_rho")!.param.data[0], 0);
  const kq = sae.params.get("attn_K")!.param.data;
  const kstd = Math.sqrt(kq.reduce((s, v) => s + v * v, 0) / kq.length);
  assert.ok(Math.abs(kstd * Math.sqrt(d) - 1) < 0.08, `K std * sqrt(d) = ${kstd * Math.sqrt(d)}`);
  assert.deepEqual(build("multiscale", d, m, "denormalized", 7, x, 20).params.get("attn_K")!.param.data, kq);
  assert.notDeepEqual(build("multiscale", d, m, "denormalized", 8, x, 20).params.get("W_dec")!.param.data, w);
  assert.deepEqual([...sae.buffers.keys()], ["run_mean", "run_var", "coact_ema"]);
});

test("init: b_dec is the first batch's mean in the space the decoder writes", () => {
  const d = 8;
  const rows = 7;
  const eps = 1e-5;
  const x = randomInput<Float64Array>(rows, d, 3, "f64");
  const mean = (f: (b: number, j: number) => number) =>
    Array.from(
      { length: d },
      (_, j) => Array.from({ length: rows }, (_, b) => f(b, j)).reduce((s, v) => s + v, 0) / rows,
    );
  const raw = mean((b, j) => x[b * d + j]);
  const ln = mean((b, j) => {
    const [mu, v] = tokenStats(x, b, d);
    return (x[b * d + j] - mu) / Math.sqrt(v + eps);
  });
  // adaptive at init: a = sigmoid(0) = 1/2, run_mean = 0, run_var = 1.
  const ad = mean((b, j) => {
    const [mu, v] = tokenStats(x, b, d);
    return (x[b * d + j] - 0.5 * mu) / Math.sqrt(0.5 * v + 0.5 + eps);
  });
  const cases: [PaperArch, "paper" | "denormalized", number[]][] = [
    ["base", "denormalized", raw],
    ["layernorm", "paper", raw],
    ["layernorm", "denormalized", ln],
    ["adaptive", "denormalized", ad],
    ["multiscale", "denormalized", ad],
    ["multiscale", "paper", raw],
  ];
  for (const [arch, rec, want] of cases) {
    const got = build(arch, d, 16, rec, 1, x, rows).params.get("b_dec")!.param.data;
    for (let j = 0; j < d; j++) assert.ok(Math.abs(got[j] - want[j]) < 1e-12, `${arch} ${rec} b_dec[${j}]`);
  }
});

test("run_mean / run_var move 1% toward the batch mean and biased variance after the step", () => {
  const d = 8;
  const rows = 9;
  const x = randomInput<Float64Array>(rows, d, 4, "f64");
  const sae = build("adaptive", d, 16, "denormalized", 1, x, rows);
  const rm = sae.buffers.get("run_mean")!.data;
  const rv = sae.buffers.get("run_var")!.data;
  sae.trainBatch(x, rows, { gradWeight: 1, deadMask: null, updateState: false });
  assert.ok(rm.every((v) => v === 0) && rv.every((v) => v === 1), "updateState false leaves the state alone");
  const e = sae.buffers.get("coact_ema")!.data;
  assert.ok(e.every((v) => v === 0));
  sae.trainBatch(x, rows, { gradWeight: 1, deadMask: null, updateState: true });
  for (let j = 0; j < d; j++) {
    let s = 0;
    for (let b = 0; b < rows; b++) s += x[b * d + j];
    const mu = s / rows;
    let v = 0;
    for (let b = 0; b < rows; b++) v += (x[b * d + j] - mu) ** 2;
    assert.ok(Math.abs(rm[j] - 0.01 * mu) < 1e-14);
    assert.ok(Math.abs(rv[j] - (0.99 + (0.01 * v) / rows)) < 1e-14);
  }
  assert.ok(
    e.some((v) => v !== 0),
    "coact_ema updated",
  );
});

test("decoderResidual: x - x^ (base, paper) or (x - x^) / sqrt(var + eps) (de-normalized)", () => {
  const d = 8;
  const rows = 5;
  const x = randomInput<Float64Array>(rows, d, 5, "f64");
  for (const [arch, rec] of [
    ["base", "denormalized"],
    ["layernorm", "paper"],
    ["layernorm", "denormalized"],
  ] as const) {
    const sae = build(arch, d, 16, rec, 2, x, rows);
    sae.trainBatch(x, rows, { gradWeight: 1, deadMask: null, updateState: true });
    const codes = new Float64Array(rows * 16);
    const recon = new Float64Array(rows * d);
    sae.forward(x, rows, codes, recon);
    sae.trainBatch(x, rows, { gradWeight: 1, deadMask: null, updateState: false });
    const r = new Float64Array(rows * d);
    sae.decoderResidual(r);
    for (let b = 0; b < rows; b++) {
      const sig = arch === "layernorm" && rec === "denormalized" ? Math.sqrt(tokenStats(x, b, d)[1] + 1e-5) : 1;
      for (let j = 0; j < d; j++) {
        const want = (x[b * d + j] - recon[b * d + j]) / sig;
        assert.ok(Math.abs(r[b * d + j] - want) < 1e-12, `${arch} ${rec} R[${b}, ${j}]`);
      }
    }
  }
});
