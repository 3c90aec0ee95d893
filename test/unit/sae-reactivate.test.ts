// Dead-feature reactivation (src/sae/train/reactivate.ts, dead.ts) on a relu SAE with features
// forced dead (b_enc = -50): the dead tracker finds them, each gets the residual's leading right
// singular direction (computed here independently by power iteration on R^T R in float64) as a
// unit decoder row, the encoder column 0.2 * mean alive encoder norm along it, b_enc 0 and zeroed
// AdamW moments, and on the next batch the features fire again.
import assert from "node:assert/strict";
import { test } from "node:test";
import { refBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import { AdamW } from "../../src/optim/adamw.ts";
import { SAE_FACTORIES } from "../../src/sae/registry.ts";
import { DeadTracker } from "../../src/sae/train/dead.ts";
import { reactivateFeatures } from "../../src/sae/train/reactivate.ts";
import { baselineHyper } from "../helpers/sae-baselines.ts";

test("reactivation revives features forced dead along the residual's top singular direction", () => {
  const d = 16;
  const m = 32;
  const rows = 64;
  const rng = new Rng(4);
  const x = new Float64Array(rows * d);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal() * (1 + (i % d) / 4);
  const hyper = baselineHyper("relu", d, m, { l1: 0.1 });
  const sae = SAE_FACTORIES.relu<Float64Array>(hyper, refBackend, { arrayType: "f64", seed: 2, firstBatch: x, rows });
  const forced = [0, 3, 5, 6, 20, 31];
  const bEnc = sae.params.get("b_enc")!.param;
  for (const j of forced) bEnc.data[j] = -50;
  const opt = new AdamW(
    [...sae.params.values()].map((p) => p.param),
    { lr: 1e-3, backend: refBackend },
  );
  const dead = new DeadTracker(m, 1000);
  for (let t = 1; t <= 5; t++) {
    for (const { param } of sae.params.values()) param.grad.fill(0);
    sae.trainBatch(x, rows, { gradWeight: 1, deadMask: null, updateState: true });
    const codes = sae.codes();
    const fired = new Int32Array(m); // counted here, independently of backend.activeStats
    for (let b = 0; b < rows; b++) for (let j = 0; j < m; j++) if (codes[b * m + j] > 0) fired[j]++;
    dead.update(fired, rows, t);
    opt.step();
  }
  const deadNow = dead.deadForReactivation(5, 5);
  for (const j of forced) assert.ok(deadNow.includes(j), `feature ${j} is found dead`);
  for (const j of forced) for (let b = 0; b < rows; b++) assert.equal(sae.codes()[b * m + j], 0);

  const residual = new Float64Array(rows * d);
  sae.decoderResidual(residual);
  // Independent: the top eigenvector of R^T R by power iteration.
  const g = new Float64Array(d * d);
  for (let b = 0; b < rows; b++)
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) g[i * d + j] += residual[b * d + i] * residual[b * d + j];
  let v = new Float64Array(d).fill(1);
  for (let it = 0; it < 2000; it++) {
    const w = new Float64Array(d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) w[i] += g[i * d + j] * v[j];
    const n = Math.hypot(...w);
    v = w.map((z) => z / n);
  }
  const wEnc = sae.params.get("W_enc")!.param;
  const wDec = sae.params.get("W_dec")!.param;
  const isDead = new Set(deadNow);
  let alive = 0;
  let normSum = 0;
  for (let i = 0; i < m; i++) {
    if (isDead.has(i)) continue;
    let s = 0;
    for (let r = 0; r < d; r++) s += wEnc.data[r * m + i] ** 2;
    normSum += Math.sqrt(s);
    alive++;
  }
  const encNorm = (0.2 * normSum) / alive;

  const n = reactivateFeatures(sae, opt, deadNow, residual, rows, 77, {
    rank: 32,
    oversample: 8,
    powerIterations: 2,
    noise: 0.01,
    encoderScale: 0.2,
  });
  assert.equal(n, deadNow.length);
  const st = opt.state();
  const first = deadNow[0];
  const row = (j: number) => wDec.data.subarray(j * d, (j + 1) * d);
  let cos = 0;
  for (let c = 0; c < d; c++) cos += row(first)[c] * v[c];
  assert.ok(
    Math.abs(cos) > 0.995,
    `the first dead feature's direction has |cos| ${Math.abs(cos)} with the top singular vector`,
  );
  for (const j of deadNow) {
    assert.ok(Math.abs(Math.hypot(...row(j)) - 1) < 1e-12, "unit decoder row");
    for (let c = 0; c < d; c++) {
      assert.ok(Math.abs(wEnc.data[c * m + j] - encNorm * row(j)[c]) < 1e-12, "encoder column along the decoder row");
      assert.equal(st.m.W_enc[c * m + j], 0);
      assert.equal(st.v.W_dec[j * d + c], 0);
    }
    assert.equal(bEnc.data[j], 0);
    assert.equal(st.m.b_enc[j], 0);
  }
  // an alive feature is untouched
  const aliveOne = [...Array(m).keys()].find((i) => !isDead.has(i))!;
  assert.notEqual(st.m.W_dec[aliveOne * d], 0);

  for (const { param } of sae.params.values()) param.grad.fill(0);
  sae.trainBatch(x, rows, { gradWeight: 1, deadMask: null, updateState: true });
  for (const j of forced) {
    let fired = 0;
    for (let b = 0; b < rows; b++) if (sae.codes()[b * m + j] > 0) fired++;
    assert.ok(fired > 0, `revived feature ${j} fires on ${fired} of ${rows} tokens`);
  }
});
