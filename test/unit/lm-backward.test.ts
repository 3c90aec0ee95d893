/**
 * Gemma-2 backward (src/lm/gemma2/backward.ts, src/lm/attention-backward.ts) against central finite
 * differences of the unchanged forward, in float64 on the ref backend. Each stage is checked alone
 * (attention core, RoPE, MLP half, attention half on a sliding and a global layer, head with
 * soft-capped logits + cross-entropy, embedding lookup), then the whole model on random parameter
 * entries. Tolerance 1e-6 on |a - n| / max(1, |a|, |n|): float64 central differences with eps 1e-5
 * are accurate to ~1e-9 here; each "wrong backward" below must exceed 1e-3, so the check can fail.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { nativeBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import { AttentionViews, attentionForward } from "../../src/lm/attention.ts";
import { attentionBackward } from "../../src/lm/attention-backward.ts";
import { Gemma2Backward } from "../../src/lm/gemma2/backward.ts";
import { Gemma2Model } from "../../src/lm/gemma2/forward.ts";
import { createGemma2Params } from "../../src/lm/train/params.ts";
import {
  buildModel,
  dot,
  f64Workspace,
  fdCheck,
  forward,
  randomParams,
  ref,
  someIndices,
  tinyConfig,
} from "./lm-backward-helpers.ts";

const TOL = 1e-6;
const WRONG = 1e-3;

function randn(n: number, seed: number, std = 1): Float64Array {
  return new Rng(seed).fillNormal(new Float64Array(n), std);
}

interface AttnCase {
  B: number;
  T: number;
  H: number;
  KV: number;
  hd: number;
  cap: number | null;
  window: number;
}

/** Attention core on float64 buffers; returns a loss closure and the analytic dq, dk, dv. */
function attentionCase(c: AttnCase, wrong: { cap?: boolean; alpha?: boolean } = {}) {
  const { B, T, H, KV, hd } = c;
  const rows = B * T;
  const q = randn(rows * H * hd, 1);
  const k = randn(rows * KV * hd, 2);
  const v = randn(rows * KV * hd, 3);
  const w = randn(rows * H * hd, 4);
  const fwdBufs = { preatt: new Float64Array(B * H * T * T), att: new Float64Array(B * H * T * T) };
  const y = new Float64Array(rows * H * hd);
  const dims = { batch: B, seq: T, nHeads: H, nKvHeads: KV, headDim: hd };
  const as32 = (a: Float64Array) => a as unknown as Float32Array;
  const views = new AttentionViews(
    dims,
    { buf: as32(q), stride: H * hd, offset: 0 },
    { buf: as32(k), stride: KV * hd, offset: 0 },
    { buf: as32(v), stride: KV * hd, offset: 0 },
    as32(fwdBufs.preatt),
    as32(fwdBufs.att),
    { buf: as32(y), stride: H * hd, offset: 0 },
  );
  const alpha = 0.6;
  const loss = () => {
    attentionForward(ref, views, as32(fwdBufs.preatt), as32(fwdBufs.att), alpha, c.cap, c.window);
    return dot(w, y);
  };
  loss();
  const dq = new Float64Array(q.length).fill(7); // garbage: the backward must overwrite
  const dk = new Float64Array(k.length).fill(7);
  const dv = new Float64Array(v.length).fill(7);
  const dScores = new Float64Array(B * H * T * T);
  const dy = w.slice();
  const grad = new AttentionViews(
    dims,
    { buf: as32(dq), stride: H * hd, offset: 0 },
    { buf: as32(dk), stride: KV * hd, offset: 0 },
    { buf: as32(dv), stride: KV * hd, offset: 0 },
    as32(dScores),
    as32(dScores),
    { buf: as32(dy), stride: H * hd, offset: 0 },
  );
  const cap = wrong.cap ? null : c.cap;
  attentionBackward(ref, views, grad, dScores, fwdBufs.preatt, fwdBufs.att, wrong.alpha ? 1 : alpha, cap);
  return { q, k, v, dq, dk, dv, loss };
}

const ATTN_CASES: AttnCase[] = [
  { B: 2, T: 6, H: 4, KV: 2, hd: 4, cap: 1.2, window: 3 },
  { B: 1, T: 5, H: 2, KV: 2, hd: 6, cap: null, window: 0 },
  { B: 1, T: 7, H: 3, KV: 1, hd: 2, cap: 0.8, window: 1 },
];

for (const c of ATTN_CASES) {
  test(`attention core backward vs finite differences: ${JSON.stringify(c)}`, () => {
    const r = attentionCase(c);
    for (const [name, x, g] of [
      ["q", r.q, r.dq],
      ["k", r.k, r.dk],
      ["v", r.v, r.dv],
    ] as const) {
      const res = fdCheck(name, x, g, r.loss);
      assert.ok(res.maxError < TOL, res.worst);
    }
  });
}

test("attention core: a backward that forgets the soft-cap or the scale fails the check", () => {
  const c = ATTN_CASES[0];
  const noCap = attentionCase(c, { cap: true });
  assert.ok(fdCheck("q", noCap.q, noCap.dq, noCap.loss).maxError > WRONG, "missing softcapBackward must be caught");
  const badAlpha = attentionCase(c, { alpha: true });
  assert.ok(fdCheck("k", badAlpha.k, badAlpha.dk, badAlpha.loss).maxError > WRONG, "wrong scale must be caught");
});

test("RoPE backward is RoPE with inverse = true (and the forward rotation is not)", () => {
  const [n, heads, hd] = [5, 3, 6];
  const x = randn(n * heads * hd, 11);
  const w = randn(n * heads * hd, 12);
  const pos = Int32Array.from([0, 3, 1, 7, 2]);
  const out = new Float64Array(x.length);
  const loss = () => {
    ref.rope(x, pos, n, heads, hd, 10000, false, out);
    return dot(w, out);
  };
  for (const inverse of [true, false]) {
    const g = new Float64Array(x.length);
    ref.rope(w, pos, n, heads, hd, 10000, inverse, g);
    const res = fdCheck("x", x, g, loss);
    if (inverse) assert.ok(res.maxError < TOL, res.worst);
    else assert.ok(res.maxError > WRONG, "the forward rotation is not the backward");
  }
});

/** A tiny model forwarded once on random ids, with its backward and a fresh gradient set. */
function setup(seed: number, over = {}) {
  const cfg = tinyConfig(over);
  const params = randomParams(cfg, seed);
  const model = buildModel(cfg, params);
  const [B, T] = [2, 6];
  const ws = f64Workspace(model, B, T);
  const rng = new Rng(seed + 100);
  const ids = Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize));
  forward(model, ws, ids);
  const bw = new Gemma2Backward(model, ref);
  return { cfg, params, model, ws, ids, bw, rows: B * T };
}

for (const layer of [0, 1]) {
  test(`MLP half of block ${layer}: d residMid and every MLP parameter vs finite differences`, () => {
    const { cfg, params, model, ws, bw, rows } = setup(21 + layer);
    const w = randn(rows * cfg.hiddenSize, 5);
    const blk = ws.blocks[layer];
    const loss = () => {
      model.mlpBlock(ws, layer, null);
      return dot(w, ws.resid(layer + 1));
    };
    loss();
    const s = bw.scratchFor(ws);
    s.dx.set(w);
    bw.mlpBackward(ws, layer, params.grads);
    const dResidMid = Float64Array.from(s.dx);
    const res = fdCheck("residMid", blk.residMid, dResidMid, loss);
    assert.ok(res.maxError < TOL, res.worst);
    const pw = params.weights.layers[layer];
    const pg = params.grads.layers[layer];
    for (const key of ["wGate", "wUp", "wDown", "preFfNorm", "postFfNorm"] as const) {
      const r = fdCheck(key, pw[key], pg[key], loss);
      assert.ok(r.maxError < TOL, r.worst);
    }
  });

  test(`attention half of block ${layer} (${layer === 0 ? "sliding window 3" : "global"}): d resid and every attention parameter`, () => {
    const { cfg, params, model, ws, bw, rows } = setup(31 + layer);
    const w = randn(rows * cfg.hiddenSize, 6);
    const blk = ws.blocks[layer];
    const loss = () => {
      model.attentionBlock(ws, layer, null);
      return dot(w, blk.residMid);
    };
    loss();
    // the caps must bend: some capped scores well inside tanh's curved range
    let maxScore = 0;
    for (const s of blk.preatt) maxScore = Math.max(maxScore, Math.abs(s));
    assert.ok(maxScore > 0.5 * cfg.attnSoftcap!, `scores reach ${maxScore}; the soft-cap would be untested`);
    const s = bw.scratchFor(ws);
    s.dx.set(w);
    bw.attentionBackward(ws, layer, params.grads);
    const dx = Float64Array.from(s.dx);
    const res = fdCheck("resid", ws.resid(layer), dx, loss);
    assert.ok(res.maxError < TOL, res.worst);
    const pw = params.weights.layers[layer];
    const pg = params.grads.layers[layer];
    for (const key of ["wq", "wk", "wv", "wo", "inputNorm", "postAttnNorm"] as const) {
      const r = fdCheck(key, pw[key], pg[key], loss);
      assert.ok(r.maxError < TOL, r.worst);
    }
  });
}

test("head: soft-capped tied unembedding + weighted cross-entropy (ignored targets included)", () => {
  const { cfg, params, model, ws, bw, rows } = setup(41);
  const rng = new Rng(3);
  const targets = Int32Array.from({ length: rows }, (_, r) => (r % 5 === 4 ? -1 : rng.int(cfg.vocabSize)));
  const dloss = randn(rows, 8, 1).map((x) => 0.2 + Math.abs(x));
  const losses = new Float64Array(rows);
  const loss = () => {
    const logits = model.head(ws);
    ref.crossEntropy(logits, targets, rows, cfg.vocabSize, losses);
    return dot(dloss, losses);
  };
  loss();
  let maxLogit = 0;
  for (const z of ws.logits()) maxLogit = Math.max(maxLogit, Math.abs(z));
  assert.ok(maxLogit > 0.5 * cfg.finalSoftcap!, `logits reach ${maxLogit}; the final soft-cap would be untested`);
  bw.headBackward(ws, targets, dloss, params.grads);
  const dx = Float64Array.from(bw.scratchFor(ws).dx);
  let r = fdCheck("resid(L)", ws.resid(cfg.numLayers), dx, loss);
  assert.ok(r.maxError < TOL, r.worst);
  r = fdCheck("finalNorm", params.weights.finalNorm, params.grads.finalNorm, loss);
  assert.ok(r.maxError < TOL, r.worst);
  r = fdCheck("lmHead (= embed)", params.weights.lmHead, params.grads.lmHead, loss);
  assert.ok(r.maxError < TOL, r.worst);
});

test("embedding lookup scaled by fround(sqrt(d)), repeated ids accumulate", () => {
  const { cfg, params, model, ws, bw, rows } = setup(51);
  const ids = Int32Array.from({ length: rows }, (_, i) => [3, 5, 3, 0, 12, 5][i % 6]);
  const w = randn(rows * cfg.hiddenSize, 9);
  const loss = () => {
    model.embed(ws, ids);
    return dot(w, ws.resid(0));
  };
  const dx0 = w.slice();
  bw.embedBackward(ids, dx0, params.grads);
  const r = fdCheck("embed", params.weights.embed, params.grads.embed, loss);
  assert.ok(r.maxError < TOL, r.worst);
});

/** Token-mean cross-entropy of the full model over targets (the training loss). */
function fullCase(seed: number, over = {}) {
  const c = setup(seed, over);
  const { cfg, rows } = c;
  const rng = new Rng(seed + 7);
  const targets = Int32Array.from({ length: rows }, (_, r) => (r % 6 === 5 ? -1 : rng.int(cfg.vocabSize)));
  let count = 0;
  for (const t of targets) if (t >= 0) count++;
  const losses = new Float64Array(rows);
  const loss = () => {
    const logits = forward(c.model, c.ws, c.ids);
    ref.crossEntropy(logits, targets, rows, cfg.vocabSize, losses);
    let s = 0;
    for (const x of losses) s += x;
    return s / count;
  };
  const value = loss();
  const { sum } = c.bw.loss(c.ws, targets);
  assert.ok(Math.abs(sum / count - value) < 1e-12, "Gemma2Backward.loss agrees with a plain sum");
  return { ...c, targets, count, loss };
}

for (const tied of [true, false]) {
  test(`full model (${tied ? "tied" : "untied"} embeddings): gradient of random entries of every parameter`, () => {
    const c = fullCase(61, { tieEmbeddings: tied });
    c.bw.backward(c.ws, c.ids, c.targets, 1 / c.count, c.params.grads);
    let k = 0;
    for (const p of c.params.list) {
      const entries = someIndices(p.data.length, 4, 100 + k++);
      const r = fdCheck(p.name, p.data, p.grad, c.loss, entries);
      assert.ok(r.maxError < TOL, r.worst);
    }
  });
}

test("full model: accumulating two backward passes doubles the gradient", () => {
  const c = fullCase(71);
  c.bw.backward(c.ws, c.ids, c.targets, 1 / c.count, c.params.grads);
  const once = c.params.list.map((p) => Float64Array.from(p.grad));
  forward(c.model, c.ws, c.ids);
  c.bw.backward(c.ws, c.ids, c.targets, 1 / c.count, c.params.grads);
  c.params.list.forEach((p, i) => {
    for (let j = 0; j < p.grad.length; j++) assert.ok(Math.abs(p.grad[j] - 2 * once[i][j]) < 1e-12);
  });
});

test("full model: a tied embedding that misses the unembedding gradient fails the check", () => {
  const c = fullCase(81);
  // wrong: the head's gradient goes to a separate buffer, as if the embedding were untied
  const grads = { ...c.params.grads, lmHead: new Float64Array(c.params.grads.embed.length) as unknown as Float32Array };
  c.bw.backward(c.ws, c.ids, c.targets, 1 / c.count, grads);
  const embed = c.params.list[0];
  assert.equal(embed.name, "model.embed_tokens.weight");
  const r = fdCheck(embed.name, embed.data, embed.grad, c.loss);
  assert.ok(r.maxError > WRONG, `the missing unembedding gradient must be caught (${r.worst})`);
});

test("native float32 backward matches the float64 ref backward (the kernels training runs on)", (t) => {
  const native = nativeBackend();
  if (!native) {
    t.skip("native addon not built");
    return;
  }
  const c = fullCase(91);
  c.bw.backward(c.ws, c.ids, c.targets, 1 / c.count, c.params.grads);
  const p32 = createGemma2Params(c.cfg, "float32");
  for (let i = 0; i < p32.list.length; i++) p32.list[i].data.set(c.params.list[i].data);
  const model = new Gemma2Model(c.cfg, p32.weights, native);
  const ws = model.createWorkspace(2, 6, true);
  forward(model, ws, c.ids);
  new Gemma2Backward(model, native).backward(ws, c.ids, c.targets, 1 / c.count, p32.grads);
  p32.list.forEach((p, i) => {
    const want = c.params.list[i].grad;
    let scale = 0;
    let worst = 0;
    for (let j = 0; j < want.length; j++) {
      scale = Math.max(scale, Math.abs(want[j]));
      worst = Math.max(worst, Math.abs(p.grad[j] - want[j]));
    }
    assert.ok(scale > 0 && worst < 2e-4 * scale, `${p.name}: max |diff| ${worst} vs max |grad| ${scale}`);
  });
});
