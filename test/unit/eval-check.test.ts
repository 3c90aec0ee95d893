/**
 * The loaded-SAE check (src/eval/check.ts) on an SAE trained here (a few hundred AdamW steps of
 * trainBatch on the tiny Gemma-2 fixture's blocks.2.hook_resid_post, Brown train), saved with its
 * training figures: quiet on the right hook and scale; one line naming the hook when measured on
 * another hook; naming normalization when the folder's scale is wrong (folded 10x too small: a ReLU
 * SAE with small biases is nearly scale-equivariant, so a too-large input scale is, rightly, not a
 * disagreement on this fixture); naming the
 * architecture when the folder is loaded as another one; nothing when no figures are recorded.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parseSaeHyper } from "../../src/config/sae.ts";
import { Rng } from "../../src/core/tensor.ts";
import { packDocuments } from "../../src/data/packing.ts";
import { openCorpus } from "../../src/data/spec.ts";
import { checkLoadedSae, figuresAgree, loadSaeChecked } from "../../src/eval/check.ts";
import { evaluateOnChunks } from "../../src/eval/stored.ts";
import { loadModel } from "../../src/lm/loader.ts";
import { AdamW } from "../../src/optim/adamw.ts";
import { BASELINE_FACTORIES } from "../../src/sae/baselines/index.ts";
import { SAE_FACTORIES } from "../../src/sae/registry.ts";
import { saveSae } from "../../src/sae/save.ts";
import type { SaeModule } from "../../src/sae/types.ts";

const FACTORIES = SAE_FACTORIES;
const FIXTURE = join(import.meta.dirname, "..", "golden", "lm", "gemma2-old");
const model = loadModel(FIXTURE);
const tok = model.tokenizer as unknown as { encode(t: string): Int32Array; bosId: number; padId: number };
const HOOK = "blocks.2.hook_resid_post";
const C = 32;
const d = model.dims.dModel;
const SPECIAL = new Set([0, 1, 2]);
const validation = openCorpus("brown:validation");
let dir = "";
let sae: SaeModule<Float32Array>;
let c = 1;
let figures = { l0: 0, explained_variance: 0 };

/** Non-special rows of HOOK over the first n contexts of Brown train. */
async function trainingRows(n: number): Promise<{ x: Float32Array; rows: number }> {
  const ids: number[] = [];
  let k = 0;
  for await (const ctx of packDocuments(openCorpus("brown:train").documents(), tok, { contextSize: C })) {
    ids.push(...ctx);
    if (++k === n) break;
  }
  const act = model.run(Int32Array.from(ids), { batch: n, capture: [HOOK], logits: false }).cache[HOOK].data;
  const keep = ids.map((_, r) => r).filter((r) => !SPECIAL.has(ids[r]));
  const x = new Float32Array(keep.length * d);
  keep.forEach((r, i) => {
    x.set(act.subarray(r * d, (r + 1) * d), i * d);
  });
  return { x, rows: keep.length };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "msae-check-"));
  const { x, rows } = await trainingRows(96);
  let norm = 0;
  for (let i = 0; i < x.length; i++) norm += x[i] * x[i];
  c = Math.sqrt(d / (norm / rows));
  const xs = x.map((v) => v * c);
  const hyper = parseSaeHyper({ arch: "relu", m: 2 * d, l1: 0.3 }, d, "test");
  sae = BASELINE_FACTORIES.relu<Float32Array>(hyper, model.backend, {
    arrayType: "f32",
    seed: 1,
    firstBatch: xs.subarray(0, 256 * d),
    rows: 256,
  });
  const params = [...sae.params.values()].map((p) => p.param);
  const opt = new AdamW([{ params }], { lr: 3e-3, backend: model.backend });
  const B = 256;
  const batch = new Float32Array(B * d);
  const rng = new Rng(7);
  for (let step = 0; step < 300; step++) {
    for (let b = 0; b < B; b++) {
      const r = Math.floor(rng.next() * rows);
      batch.set(xs.subarray(r * d, (r + 1) * d), b * d);
    }
    for (const p of params) p.zeroGrad();
    sae.trainBatch(batch, B, { gradWeight: 1, deadMask: null, updateState: true });
    opt.step();
  }
  const context = Int32Array.from({ length: rows }, (_, r) => Math.floor(r / C));
  const r = await evaluateOnChunks(
    [{ contexts: [0, 96], rows, acts: [x], token: new Int32Array(rows), context, position: new Int32Array(rows) }],
    sae,
    { scale: c, contextSize: C, d },
  );
  figures = { l0: r.metrics.l0, explained_variance: r.metrics.explained_variance };
  const info = { hook_name: HOOK, context_size: C, ...figures };
  saveSae(join(dir, "right"), sae, { scale: c, info });
  saveSae(join(dir, "scale01"), sae, { scale: c / 10, info });
  saveSae(join(dir, "nofigures"), sae, { scale: c, info: { hook_name: HOOK } });
  saveSae(join(dir, "topk"), sae, { scale: c, info });
  const cfgPath = join(dir, "topk", "cfg.json");
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
  cfg.metadata.msae_architecture = "topk";
  cfg.metadata.msae_hyper.k = 3;
  writeFileSync(cfgPath, JSON.stringify(cfg));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const check = (folder: string, hook?: string) =>
  loadSaeChecked(join(dir, folder), FACTORIES, model, validation, { contextSize: C, hook, name: folder });

test("the trained SAE is a real one (EV > 0.5, L0 well below m)", () => {
  assert.ok(figures.explained_variance > 0.5, `EV ${figures.explained_variance}`);
  assert.ok(figures.l0 > 3 && figures.l0 < d, `L0 ${figures.l0}`);
});

test("loaded-SAE check: quiet on the right hook and scale", async () => {
  const { check: r } = await check("right");
  assert.equal(r.line, null, r.line ?? "");
  assert.ok(r.agree && r.measured);
  assert.ok(figuresAgree(figures, r.measured));
});

test("loaded-SAE check: a wrong hook is one line naming the hook it was trained on", async () => {
  const { check: r } = await check("right", "blocks.2.hook_mlp_out");
  assert.equal(r.cause, "hook", r.line ?? "");
  assert.match(
    r.line!,
    /^loaded-SAE check: right was trained at EV [0-9.]+, L0 [0-9.]+ but measures .* on blocks\.2\.hook_mlp_out: likely cause: hook: it was trained on blocks\.2\.hook_resid_post, where it measures/,
  );
  assert.ok(!r.line!.includes("\n"));
});

test("loaded-SAE check: a wrong scale (folded 10x too small) names normalization", async () => {
  const { check: r } = await check("scale01");
  assert.equal(r.cause, "normalization", r.line ?? "");
  assert.match(
    r.line!,
    /likely cause: normalization: its inputs here are 0\.\d+ times the norm it was trained at .*rescaled it measures EV 0\.[89]/,
  );
});

test("loaded-SAE check: loaded as another architecture names the architecture; no recorded figures, no check", async () => {
  const { check: r } = await check("topk");
  assert.equal(r.cause, "architecture", r.line ?? "");
  assert.match(r.line!, /likely cause: architecture: .*runs here as msae arch topk/);
  const { check: none } = await check("nofigures");
  assert.equal(none.trained, null);
  assert.equal(none.line, null);
  // a measurement handed in (e.g. evaluateSae's) is compared as is, without a new one
  const { loaded } = await check("right");
  const given = await checkLoadedSae(model, loaded, validation, {
    measured: { l0: figures.l0, explained_variance: figures.explained_variance - 0.2 },
    contextSize: C,
  });
  assert.equal(given.agree, false);
  assert.equal(given.measured?.explained_variance, figures.explained_variance - 0.2);
  assert.ok(given.line?.startsWith("loaded-SAE check: the SAE was trained at"));
});
