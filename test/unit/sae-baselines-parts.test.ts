// Hand-made cases of the baselines' pieces: AuxK against a hand-computed closed form, batchtopk's
// per-batch selection (ties included) and threshold EMA, JumpReLU inference, matryoshka prefixes,
// the init of DESIGN.md s.2, and one-line errors on bad hyperparameters.
import assert from "node:assert/strict";
import { test } from "node:test";
import { nativeBackend, refBackend } from "../../src/core/backends/index.ts";
import { UsageError } from "../../src/core/errors.ts";
import { Parameter } from "../../src/core/parameter.ts";
import { AuxK } from "../../src/sae/auxk.ts";
import { BASELINE_FACTORIES } from "../../src/sae/baselines/index.ts";
import { matryoshkaPrefixEnds } from "../../src/sae/baselines/matryoshka.ts";
import type { BaselineArch, SaeModule } from "../../src/sae/types.ts";
import { baselineHyper } from "../helpers/sae-baselines.ts";

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-12) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `[${i}] ${a[i]} vs ${b[i]}`);
};

// d = 2, m = 4, two tokens. Dead features 1 and 2.
//   W_dec rows: [1, 0], [0, 1], [1, 1], [2, 0];  e = x - x^ rows [1, 1], [0.5, -1]
//   pre rows [5, 0.5, 0.3, 1] and [0, -1, 2, 3]
function auxCase(auxK: number) {
  const W = new Parameter("W_dec", Float64Array.from([1, 0, 0, 1, 1, 1, 2, 0]), [4, 2]);
  const pre = Float64Array.from([5, 0.5, 0.3, 1, 0, -1, 2, 3]);
  const e = Float64Array.from([1, 1, 0.5, -1]);
  const dead = Uint8Array.from([0, 1, 1, 0]);
  const aux = new AuxK(refBackend, 2, 4, auxK, 0.5, (n) => new Float64Array(n));
  const dpre = new Float64Array(8).fill(1);
  const loss = aux.loss(pre, e, 2, dead, W, 1, dpre);
  return { W, loss, dpre };
}

test("AuxK: k_aux = auxK = 1 < n_dead = 2 (scale 1) matches the hand computation", () => {
  // token 0 picks dead feature 1 (0.5 > 0.3): e^ = [0, 0.5], e - e^ = [1, 0.5], |.|^2 = 1.25
  // token 1 picks dead feature 2 (2 > ReLU(-1)): e^ = [2, 2], e - e^ = [-1.5, -3], |.|^2 = 11.25
  // aux = 0.5 * min(2/1, 1) * (1.25 + 11.25) / 2 = 3.125
  const { W, loss, dpre } = auxCase(1);
  assert.ok(Math.abs(loss - 3.125) < 1e-12, `aux ${loss}`);
  // d aux / d e^_b = -2 * 0.5 / 2 * (e - e^)_b: g0 = [-0.5, -0.25], g1 = [0.75, 1.5]
  // dW_dec[1] = 0.5 g0 = [-0.25, -0.125]; dW_dec[2] = 2 g1 = [1.5, 3]
  close(W.grad, [0, 0, -0.25, -0.125, 1.5, 3, 0, 0]);
  // dpre[0, 1] = g0 . W_dec[1] = -0.25; dpre[1, 2] = g1 . W_dec[2] = 2.25 (added to the 1s already there)
  close(dpre, [1, 0.75, 1, 1, 1, 1, 3.25, 1]);
});

test("AuxK: auxK = 4 > n_dead = 2 takes both dead features and scales by n_dead / auxK", () => {
  // token 0: e^ = 0.5 [0, 1] + 0.3 [1, 1] = [0.3, 0.8], e - e^ = [0.7, 0.2], |.|^2 = 0.53
  // token 1: e^ = 0 [0, 1] + 2 [1, 1] = [2, 2], |.|^2 = 11.25
  // aux = 0.5 * (2/4) * (0.53 + 11.25) / 2 = 1.4725
  const { loss, dpre } = auxCase(4);
  assert.ok(Math.abs(loss - 1.4725) < 1e-12, `aux ${loss}`);
  // g = -2 * 0.25 / 2 * (e - e^): g0 = [-0.175, -0.05], g1 = [0.375, 0.75]
  // dpre[0,1] = g0.[0,1] = -0.05, dpre[0,2] = g0.[1,1] = -0.225, dpre[1,1] = 0 (ReLU(-1)), dpre[1,2] = 1.125
  close(dpre, [1, 0.95, 0.775, 1, 1, 1, 2.125, 1]);
});

test("AuxK: zero when nothing is dead, no mask, or coefficient 0", () => {
  const W = new Parameter("W_dec", new Float64Array(8).fill(1), [4, 2]);
  const pre = new Float64Array(8).fill(1);
  const e = new Float64Array(4).fill(1);
  const dpre = new Float64Array(8);
  const make = (n: number) => new Float64Array(n);
  assert.equal(new AuxK(refBackend, 2, 4, 2, 0.5, make).loss(pre, e, 2, new Uint8Array(4), W, 1, dpre), 0);
  assert.equal(new AuxK(refBackend, 2, 4, 2, 0.5, make).loss(pre, e, 2, null, W, 1, dpre), 0);
  assert.equal(new AuxK(refBackend, 2, 4, 2, 0, make).loss(pre, e, 2, new Uint8Array(4).fill(1), W, 1, dpre), 0);
  close(W.grad, new Float64Array(8));
  close(dpre, new Float64Array(8));
  assert.throws(
    () => new AuxK(refBackend, 2, 4, 2, 0.5, make).loss(pre, e, 2, new Uint8Array(3), W, 1, dpre),
    /deadMask has 3 entries, expected m = 4/,
  );
});

/** A d = m = 3 module with W_enc = W_dec = I and zero biases, so pre = x and x^ = h. */
function identitySae(arch: BaselineArch, k: number): SaeModule<Float64Array> {
  const hp = baselineHyper(arch, 3, 3, { k, auxKCoef: 0, matryoshkaFractions: [1 / 3, 2 / 3] });
  const first = new Float64Array(3);
  const sae = BASELINE_FACTORIES[arch](hp, refBackend, { arrayType: "f64", seed: 1, firstBatch: first, rows: 1 });
  const eye = Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  sae.params.get("W_enc")?.param.data.set(eye);
  sae.params.get("W_dec")?.param.data.set(eye);
  return sae;
}

const train = (sae: SaeModule<Float64Array>, x: number[], rows: number) =>
  sae.trainBatch(Float64Array.from(x), rows, { gradWeight: 1, deadMask: null, updateState: true });

test("batchtopk: keeps the k * B largest over the whole batch, not k per token", () => {
  const sae = identitySae("batchtopk", 1);
  // k * B = 2 entries of the batch: both from token 0; token 1 gets none.
  const parts = train(sae, [3, 2.5, 0.5, 1, 0.2, -1], 2);
  close(sae.codes(), [3, 2.5, 0, 0, 0, 0]);
  assert.equal(parts.l0, 1);
  // recon = (0.5^2 + 1 + 0.2^2 + 1) / 2
  assert.ok(Math.abs(parts.recon - (0.25 + 1 + 0.04 + 1) / 2) < 1e-12);
  // threshold from 0: features 0 and 1 kept (min 3 and 2.5) take that value (warm start), feature 2 untouched.
  const thr = sae.buffers.get("threshold")?.data ?? new Float64Array(0);
  close(thr, [3, 2.5, 0]);
  // Second batch, k = 1 still: keep 2 of [1, 1, 0 | 1, 0, 0]: ties go to the lower flat index.
  train(sae, [1, 1, 0, 1, 0, 0], 2);
  close(sae.codes(), [1, 1, 0, 0, 0, 0]);
  close(thr, [0.999 * 3 + 0.001 * 1, 0.999 * 2.5 + 0.001 * 1, 0]);
});

test("batchtopk: the threshold EMA takes the smallest kept activation of each feature", () => {
  const sae = identitySae("batchtopk", 2);
  // k * B = 4 of [3, 2.5, 0.5 | 1, 0.2, -1]: 3, 2.5, 1, 0.5. Feature 0 kept twice (3 and 1): min 1.
  train(sae, [3, 2.5, 0.5, 1, 0.2, -1], 2);
  close(sae.codes(), [3, 2.5, 0.5, 1, 0, 0]);
  close(sae.buffers.get("threshold")?.data ?? [], [1, 2.5, 0.5]); // first observations (warm start)
  // updateState false leaves it alone.
  sae.trainBatch(Float64Array.from([9, 9, 9, 9, 9, 9]), 2, { gradWeight: 1, deadMask: null, updateState: false });
  close(sae.buffers.get("threshold")?.data ?? [], [1, 2.5, 0.5]);
});

test("batchtopk / matryoshka inference: JumpReLU with the per-feature threshold", () => {
  for (const arch of ["batchtopk", "matryoshka"] as const) {
    const sae = identitySae(arch, 1);
    sae.buffers.get("threshold")?.data.set([0.5, 3, 0]);
    const codes = new Float64Array(6);
    const recon = new Float64Array(6);
    sae.forward(Float64Array.from([1, 2, 0.1, 0.4, 4, -2]), 2, codes, recon);
    close(codes, [1, 0, 0.1, 0, 4, 0]);
    close(recon, codes); // identity decoder, zero b_dec
  }
});

test("matryoshka: prefix ends from the group fractions; recon is the mean over prefixes", () => {
  const f = [1 / 32, 1 / 16, 1 / 8, 1 / 4, 17 / 32];
  assert.deepEqual(matryoshkaPrefixEnds(32, f), [1, 3, 7, 15, 32]);
  assert.deepEqual(matryoshkaPrefixEnds(64, f), [2, 6, 14, 30, 64]);
  assert.deepEqual(matryoshkaPrefixEnds(2304, f), [72, 216, 504, 1080, 2304]);
  assert.throws(() => matryoshkaPrefixEnds(48, f), UsageError);
  assert.throws(() => matryoshkaPrefixEnds(48, f), /m must be divisible by 32/);
  assert.throws(() => matryoshkaPrefixEnds(32, [0.5, 0.25]), /must add up to 1/);
  // d = m = 3, prefixes [1, 3]: one token x = [3, 2, 1], k * B = 3 keeps all.
  // prefix 1: x^ = [3, 0, 0], err 2^2 + 1 = 5; prefix 2: x^ = x, err 0; recon = 2.5.
  const sae = identitySae("matryoshka", 3);
  const parts = train(sae, [3, 2, 1], 1);
  assert.ok(Math.abs(parts.recon - 2.5) < 1e-12, `recon ${parts.recon}`);
  // d recon / d x^_1 = -(x - x^_1) = [0, -2, -1], d recon / d x^_2 = 0. Only h_0 is in prefix 1, and
  // d recon / d h_0 = [0, -2, -1] . W_dec[0] = 0; h_1, h_2 only reach the exact prefix 2: b_enc's
  // gradient is 0, W_dec's is h_0 [0, -2, -1] = [0, -6, -3] on row 0 only, b_dec's is [0, -2, -1].
  close(sae.params.get("b_enc")?.param.grad ?? [], [0, 0, 0]);
  close(sae.params.get("W_dec")?.param.grad ?? [], [0, -6, -3, 0, 0, 0, 0, 0, 0]);
  close(sae.params.get("b_dec")?.param.grad ?? [], [0, -2, -1]);
});

test("init (DESIGN.md s.2): W_dec ~ N(0, 1/d), W_enc = W_dec^T, b_enc = 0, b_dec = batch mean, seeded", () => {
  const d = 64;
  const m = 256;
  const rows = 3;
  const first = Float64Array.from({ length: rows * d }, (_, i) => (i % d) * 0.01 + Math.floor(i / d));
  for (const arch of Object.keys(BASELINE_FACTORIES) as BaselineArch[]) {
    const hp = baselineHyper(arch, d, m);
    const make = (seed: number) =>
      BASELINE_FACTORIES[arch](hp, refBackend, { arrayType: "f64", seed, firstBatch: first, rows });
    const sae = make(5);
    const p = (n: string) => sae.params.get(n)?.param.data ?? assert.fail(`${arch} has no ${n}`);
    const wdec = p("W_dec");
    const wenc = p("W_enc");
    let s2 = 0;
    for (const v of wdec) s2 += v * v;
    const variance = s2 / wdec.length;
    assert.ok(Math.abs(variance * d - 1) < 0.05, `${arch} var(W_dec) * d = ${variance * d}`);
    for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) assert.equal(wenc[j * m + i], wdec[i * d + j]);
    close(
      p("b_dec"),
      Array.from({ length: d }, (_, j) => j * 0.01 + 1),
    );
    const zeros = arch === "gated" ? ["b_gate", "b_mag", "r_mag"] : ["b_enc"];
    for (const n of zeros) close(p(n), new Float64Array(m));
    if (arch === "jumprelu") close(p("threshold"), new Float64Array(m).fill(0.001));
    if (arch === "batchtopk" || arch === "matryoshka")
      close(sae.buffers.get("threshold")?.data ?? [], new Float64Array(m));
    assert.deepEqual(make(5).params.get("W_dec")?.param.data, wdec, "same seed, same init");
    assert.notDeepEqual(make(6).params.get("W_dec")?.param.data, wdec, "another seed, another init");
    const axes = Object.fromEntries([...sae.params].map(([n, sp]) => [n, sp.featureAxis]));
    assert.equal(axes.W_enc, "col");
    assert.equal(axes.W_dec, "row");
    assert.equal(axes.b_dec, null);
    assert.equal(sae.params.get("W_enc")?.param.decay, true);
    assert.equal(sae.params.get("b_dec")?.param.decay, false);
  }
});

test("bad hyperparameters and inputs are one-line errors", () => {
  const first = new Float64Array(8 * 2);
  const opts = { arrayType: "f64" as const, seed: 1, firstBatch: first, rows: 2 };
  const bad = (arch: BaselineArch, over: object, re: RegExp) =>
    assert.throws(() => BASELINE_FACTORIES[arch](baselineHyper(arch, 8, 32, over), refBackend, opts), re);
  bad("topk", { k: 0 }, /k 0 is not valid: expected an integer >= 1/);
  bad("batchtopk", { k: 33 }, /k 33 is not valid: expected an integer in \[1, m = 32\]/);
  bad("topk", { auxK: 0 }, /auxK 0 is not valid/);
  bad("relu", { l1: -1 }, /l1 -1 is not valid/);
  bad("jumprelu", { jumpBandwidth: 0 }, /jumpBandwidth 0 is not valid/);
  bad("matryoshka", { m: 48 }, /m must be divisible by 32/);
  bad("batchtopk", { thresholdBeta: 1 }, /thresholdBeta 1 is not valid/);
  bad("relu", { arch: "topk" }, /the relu factory got hyperparameters for arch "topk"/);
  assert.throws(
    () => BASELINE_FACTORIES.relu(baselineHyper("relu", 8, 32), refBackend, { ...opts, rows: 3 }),
    /firstBatch has 16 entries, expected rows \* d = 3 \* 8/,
  );
  const native = nativeBackend();
  if (native) {
    assert.throws(
      () => BASELINE_FACTORIES.topk(baselineHyper("topk", 8, 32), native, opts),
      /the native backend computes in float32: use arrayType f32/,
    );
  }
  assert.throws(
    () => BASELINE_FACTORIES.topk(baselineHyper("topk", 8, 32), refBackend, { ...opts, arrayType: "f32" }),
    /firstBatch must be a Float32Array for arrayType f32/,
  );
  const sae = BASELINE_FACTORIES.relu(baselineHyper("relu", 8, 32), refBackend, opts);
  assert.throws(
    () => sae.trainBatch(first, 2, { gradWeight: Number.NaN, deadMask: null, updateState: false }),
    /gradWeight must be finite/,
  );
  assert.throws(() => sae.decoderResidual(new Float64Array(16)), /needs a trainBatch first/);
  assert.throws(
    () => sae.trainBatch(new Float64Array(15), 2, { gradWeight: 1, deadMask: null, updateState: false }),
    /relu trainBatch: x has 15 entries, expected rows \* d = 2 \* 8/,
  );
  assert.throws(() => sae.forward(first, 2, new Float64Array(63), new Float64Array(16)), /codes has 63 entries/);
});
