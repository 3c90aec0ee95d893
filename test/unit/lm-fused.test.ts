/**
 * The fused LM-training kernels against the unfused path they replace, in float64 on the ref
 * backend (independent computations: the unfused side runs gemm, softcap, causalSoftmax,
 * softmaxBackward, gelu, mul, crossEntropy ... through attention.ts / attention-backward.ts):
 *   attentionForwardFused / attentionBackwardFused  vs  attentionForward / attentionBackward
 *   softcapCrossEntropy                              vs  softcap + crossEntropy (+ backward)
 *   geglu / gegluBackward                            vs  gelu, mul / mul, mul, geluBackward
 * and the training step Gemma2Backward.lossAndBackward (headRaw + the fused loss) against central
 * finite differences of the unfused forward's loss, against loss() + backward() (the unfused head),
 * and native float32 against float64 ref. Tolerance 1e-10 between two float64 paths.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { FloatArray } from "../../src/core/backend.ts";
import { nativeBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import { AttentionViews, attentionForward } from "../../src/lm/attention.ts";
import { attentionBackward } from "../../src/lm/attention-backward.ts";
import { Gemma2Backward } from "../../src/lm/gemma2/backward.ts";
import { Gemma2Model } from "../../src/lm/gemma2/forward.ts";
import { gemma2WeightSpecs, gemma2Weights } from "../../src/lm/gemma2/weights.ts";
import { createGemma2Params } from "../../src/lm/train/params.ts";
import {
  buildModel,
  f64Workspace,
  fdCheck,
  forward,
  randomParams,
  ref,
  someIndices,
  tinyConfig,
} from "./lm-backward-helpers.ts";

const randn = (n: number, seed: number, std = 1) => new Rng(seed).fillNormal(new Float64Array(n), std);

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1e-30;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    d = Math.max(d, Math.abs(a[i] - b[i]));
  }
  return d / scale;
}

const ATTN = [
  { B: 2, T: 6, H: 4, KV: 2, hd: 4, cap: 1.2, window: 3 },
  { B: 1, T: 9, H: 2, KV: 2, hd: 5, cap: null, window: 0 },
  { B: 1, T: 7, H: 3, KV: 1, hd: 2, cap: 0.8, window: 1 },
  { B: 2, T: 5, H: 2, KV: 1, hd: 3, cap: 3, window: 9 },
];

for (const c of ATTN) {
  test(`fused attention forward + backward = the per-head GEMM path: ${JSON.stringify(c)}`, () => {
    const { B, T, H, KV, hd, cap, window } = c;
    const rows = B * T;
    const q = randn(rows * H * hd, 1, 2);
    const k = randn(rows * KV * hd, 2, 2);
    const v = randn(rows * KV * hd, 3);
    const dy = randn(rows * H * hd, 4);
    const alpha = 0.6;
    const f64 = (n: number) => new Float64Array(n);
    const as32 = (a: Float64Array) => a as unknown as Float32Array;
    const dims = { batch: B, seq: T, nHeads: H, nKvHeads: KV, headDim: hd };
    const lay = (buf: Float64Array, stride: number) => ({ buf: as32(buf), stride, offset: 0 });
    // unfused
    const [pre, att, y] = [f64(B * H * T * T), f64(B * H * T * T), f64(rows * H * hd)];
    const views = new AttentionViews(
      dims,
      lay(q, H * hd),
      lay(k, KV * hd),
      lay(v, KV * hd),
      as32(pre),
      as32(att),
      lay(y, H * hd),
    );
    attentionForward(ref, views, as32(pre), as32(att), alpha, cap, window);
    const [dq, dk, dv, dS, dyU] = [f64(q.length), f64(k.length), f64(v.length), f64(B * H * T * T), dy.slice()];
    const grad = new AttentionViews(
      dims,
      lay(dq, H * hd),
      lay(dk, KV * hd),
      lay(dv, KV * hd),
      as32(dS),
      as32(dS),
      lay(dyU, H * hd),
    );
    attentionBackward(ref, views, grad, dS, pre, att, alpha, cap);
    // fused
    const [preF, attF, yF] = [f64(pre.length), f64(att.length), f64(y.length)];
    ref.attentionForwardFused(q, k, v, B, T, H, KV, hd, alpha, cap ?? 0, window, preF, attF, yF);
    const [dqF, dkF, dvF] = [f64(q.length).fill(7), f64(k.length).fill(7), f64(v.length).fill(7)];
    ref.attentionBackwardFused(q, k, v, B, T, H, KV, hd, alpha, cap ?? 0, window, preF, attF, dy, dqF, dkF, dvF);
    assert.ok(maxRelDiff(attF, att) < 1e-12, "probabilities");
    assert.ok(maxRelDiff(yF, y) < 1e-12, "y");
    assert.ok(maxRelDiff(dqF, dq) < 1e-10, "dq");
    assert.ok(maxRelDiff(dkF, dk) < 1e-10, "dk");
    assert.ok(maxRelDiff(dvF, dv) < 1e-10, "dv");
  });
}

test("softcapCrossEntropy = softcap + crossEntropy + crossEntropyBackward + softcapBackward", () => {
  for (const cap of [2.5, 0]) {
    const [rows, V] = [7, 11];
    const z = randn(rows * V, 5, 4);
    const targets = Int32Array.from({ length: rows }, (_, r) => (r === 2 ? -1 : (r * 5) % V));
    const dloss = randn(rows, 6);
    const c = cap > 0 ? new Float64Array(rows * V) : z.slice();
    if (cap > 0) ref.softcap(z, cap, c);
    const lossA = new Float64Array(rows);
    const countA = ref.crossEntropy(c, targets, rows, V, lossA);
    const dA = new Float64Array(rows * V);
    ref.crossEntropyBackward(c, targets, dloss, rows, V, dA);
    if (cap > 0) ref.softcapBackward(c, dA, cap, dA);
    const lossB = new Float64Array(rows);
    const dB = new Float64Array(rows * V);
    const countB = ref.softcapCrossEntropy(z, targets, rows, V, cap, dloss, lossB, dB);
    assert.equal(countB, countA);
    assert.ok(maxRelDiff(lossB, lossA) < 1e-12 && maxRelDiff(dB, dA) < 1e-12, `cap ${cap}`);
  }
});

test("geglu / gegluBackward = gelu * up / (mul, mul, geluBackward)", () => {
  const n = 301;
  const g = randn(n, 7, 3);
  const u = randn(n, 8);
  const d = randn(n, 9);
  const act = new Float64Array(n);
  ref.gelu(g, act);
  const hidden = new Float64Array(n);
  ref.mul(act, u, hidden);
  const out = new Float64Array(n);
  ref.geglu(g, u, out);
  assert.ok(maxRelDiff(out, hidden) < 1e-14);
  const dUp = new Float64Array(n);
  const dGate = new Float64Array(n);
  ref.mul(d, act, dUp);
  ref.mul(d, u, dGate);
  ref.geluBackward(g, dGate, dGate);
  const [dGateF, dUpF] = [new Float64Array(n), new Float64Array(n)];
  ref.gegluBackward(g, u, d, dGateF, dUpF);
  assert.ok(maxRelDiff(dUpF, dUp) < 1e-14 && maxRelDiff(dGateF, dGate) < 1e-13);
});

/** A tiny float64 model with random weights, ids and targets (-1 every 6th row). */
function trainCase(seed: number) {
  const cfg = tinyConfig();
  const params = randomParams(cfg, seed);
  const model = buildModel(cfg, params);
  const [B, T] = [2, 6];
  const rows = B * T;
  const ws = f64Workspace(model, B, T);
  const rng = new Rng(seed + 1);
  const ids = Int32Array.from({ length: rows }, () => rng.int(cfg.vocabSize));
  const targets = Int32Array.from({ length: rows }, (_, r) => (r % 6 === 5 ? -1 : rng.int(cfg.vocabSize)));
  const count = targets.filter((t) => t >= 0).length;
  const losses = new Float64Array(rows);
  const loss = () => {
    ref.crossEntropy(forward(model, ws, ids), targets, rows, cfg.vocabSize, losses);
    return losses.reduce((a, b) => a + b, 0) / count;
  };
  const step = (bw: Gemma2Backward, m: Gemma2Model, w: typeof ws, grads: typeof params.grads) => {
    m.embed(w, ids);
    for (let l = 0; l < cfg.numLayers; l++) m.block(w, l, null);
    m.headRaw(w);
    return bw.lossAndBackward(w, ids, targets, 1 / count, grads);
  };
  return { cfg, params, model, ws, ids, targets, count, loss, step };
}

test("lossAndBackward: loss and every parameter's gradient vs finite differences of the forward", () => {
  const c = trainCase(11);
  const want = c.loss();
  const r = c.step(new Gemma2Backward(c.model, ref), c.model, c.ws, c.params.grads);
  assert.equal(r.count, c.count);
  assert.ok(Math.abs(r.sum / c.count - want) < 1e-12, `${r.sum / c.count} vs ${want}`);
  let k = 0;
  for (const p of c.params.list) {
    const fd = fdCheck(p.name, p.data, p.grad, c.loss, someIndices(p.data.length, 4, 300 + k++));
    assert.ok(fd.maxError < 1e-6, fd.worst);
  }
});

test("lossAndBackward = loss() + backward() (fused vs unfused head), and native float32 agrees", (t) => {
  const c = trainCase(21);
  c.step(new Gemma2Backward(c.model, ref), c.model, c.ws, c.params.grads);
  const fused = c.params.list.map((p) => Float64Array.from(p.grad));
  for (const p of c.params.list) p.grad.fill(0);
  forward(c.model, c.ws, c.ids);
  const bw = new Gemma2Backward(c.model, ref);
  bw.loss(c.ws, c.targets);
  bw.backward(c.ws, c.ids, c.targets, 1 / c.count, c.params.grads);
  for (const [i, p] of c.params.list.entries()) assert.ok(maxRelDiff(fused[i], p.grad) < 1e-10, p.name);
  const native = nativeBackend();
  if (!native) {
    t.skip("native addon not built");
    return;
  }
  const p32 = createGemma2Params(c.cfg, "float32");
  for (let i = 0; i < p32.list.length; i++) p32.list[i].data.set(c.params.list[i].data);
  const model = new Gemma2Model(c.cfg, p32.weights, native);
  const ws = model.createWorkspace(2, 6, true);
  c.step(new Gemma2Backward(model, native), model, ws, p32.grads);
  p32.list.forEach((p, i) => {
    const err = maxRelDiff(p.grad as FloatArray, fused[i]);
    assert.ok(err < 2e-4, `${p.name}: ${err}`);
  });
});

test("packed q|k|v and gate|up GEMMs (flat parameters) = the separate GEMMs (weights in separate arrays)", () => {
  const c = trainCase(31);
  // the flat parameter buffer makes [Wq; Wk; Wv] and [Wg; Wu] (and their gradients) views
  assert.ok(c.model.packed.every((p) => p.wqkv !== null && p.wgu !== null));
  c.step(new Gemma2Backward(c.model, ref), c.model, c.ws, c.params.grads);
  const lossPacked = c.loss();
  const packedGrads = c.params.list.map((p) => Float64Array.from(p.grad));
  // the same numbers in one separate array per tensor: the forward and backward run the separate GEMMs
  const data = new Map<string, Float32Array>();
  const grad = new Map<string, Float32Array>();
  const specs = gemma2WeightSpecs(c.cfg);
  specs.forEach((s, i) => {
    data.set(s.name, Float64Array.from(c.params.list[i].data) as unknown as Float32Array);
    grad.set(s.name, new Float64Array(c.params.list[i].data.length) as unknown as Float32Array);
  });
  const sepW = gemma2Weights(c.cfg, data);
  const sepG = gemma2Weights(c.cfg, grad);
  const model = new Gemma2Model(c.cfg, sepW, ref);
  assert.ok(model.packed.every((p) => p.wqkv === null && p.wgu === null));
  const ws = f64Workspace(model, 2, 6);
  c.step(new Gemma2Backward(model, ref), model, ws, sepG);
  const sepLoss = forwardLoss(model, ws, c);
  assert.ok(Math.abs(sepLoss - lossPacked) < 1e-12, `${sepLoss} vs ${lossPacked}`);
  specs.forEach((s, i) => {
    const err = maxRelDiff(grad.get(s.name) as unknown as FloatArray, packedGrads[i]);
    assert.ok(err < 1e-12, `${s.name}: ${err}`);
  });
});

function forwardLoss(model: Gemma2Model, ws: ReturnType<typeof f64Workspace>, c: ReturnType<typeof trainCase>): number {
  const rows = ws.rows;
  const losses = new Float64Array(rows);
  ref.crossEntropy(forward(model, ws, c.ids), c.targets, rows, c.cfg.vocabSize, losses);
  return losses.reduce((a, b) => a + b, 0) / c.count;
}
