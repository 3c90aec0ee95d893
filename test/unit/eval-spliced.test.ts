/**
 * evaluateSae on the tiny random Gemma-2 fixture against a direct computation written here: the
 * contexts packed here, the clean / SAE-spliced / zeroed forwards run here with splices written here,
 * log-softmax, cross-entropy and KL(clean || patched) in float64, targets and special positions by
 * loops written here, the reconstruction metrics by the naive formulas on the captured activations.
 * Plus the zero-ablation identities: an SAE returning x exactly scores 1, one returning 0 scores 0.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseSaeHyper } from "../../src/config/sae.ts";
import type { FloatArray } from "../../src/core/backend.ts";
import { Parameter } from "../../src/core/parameter.ts";
import { packDocuments } from "../../src/data/packing.ts";
import { openCorpus } from "../../src/data/spec.ts";
import { evaluateSae, evaluateSaes } from "../../src/eval/evaluate.ts";
import { ALL_METRICS, RECON_METRICS } from "../../src/eval/metrics.ts";
import { loadModel } from "../../src/lm/loader.ts";
import { BASELINE_FACTORIES } from "../../src/sae/baselines/index.ts";
import type { SaeModule } from "../../src/sae/types.ts";
import { type NaiveGroup, naiveKl, naiveLogSoftmax, naiveRecon, rowsOf } from "../helpers/eval-naive.ts";

const FIXTURE = join(import.meta.dirname, "..", "golden", "lm", "gemma2-old");
const model = loadModel(FIXTURE);
const tok = model.tokenizer as unknown as { encode(t: string): Int32Array; bosId: number; padId: number };
// Short documents, so contexts hold BOS separators mid-context (special positions the SAE leaves alone).
const tmp = mkdtempSync(join(tmpdir(), "msae-eval-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const WORDS =
  "the jury said it did find that the city executive committee which had over-all charge of the election".split(" ");
const docs = Array.from({ length: 40 }, (_, i) => WORDS.slice(i % 7, (i % 7) + 2 + (i % 5)).join(" "));
writeFileSync(join(tmp, "short.jsonl"), docs.map((text) => JSON.stringify({ text })).join("\n"));
const corpus = openCorpus(join(tmp, "short.jsonl"));
const HOOK = "blocks.1.hook_resid_post";
const C = 16;
const N = 5;
const SPECIAL = new Set([0, 1, 2]); // the fixture's PAD, EOS, BOS
const d = model.dims.dModel;
const V = model.dims.vocabSize;

async function contexts(): Promise<Int32Array[]> {
  const out: Int32Array[] = [];
  for await (const c of packDocuments(corpus.documents(), tok, { contextSize: C })) {
    out.push(c);
    if (out.length === N) break;
  }
  return out;
}

/** The direct computation over contexts in batches of B, with recon(x [d]) -> x^ [d] in model units. */
async function direct(
  B: number,
  recon: (x: Float32Array, rows: number) => { xhat: FloatArray; codes: FloatArray },
  m: number,
) {
  const ctxs = await contexts();
  let ce = { clean: 0, sae: 0, zero: 0 };
  let kl = { sae: 0, zero: 0 };
  let ceN = 0;
  let klN = 0;
  const groups: NaiveGroup[] = [];
  for (let b0 = 0; b0 < N; b0 += B) {
    const batch = ctxs.slice(b0, b0 + B);
    const ids = batch.map((c) => Array.from(c));
    const flat = ids.flat();
    const keep = flat.map((t) => !SPECIAL.has(t));
    const clean = model.run(ids, { copy: true, capture: [HOOK] });
    const x = clean.cache[HOOK].data;
    const kept = flat.map((_, r) => r).filter((r) => keep[r]);
    const xs = new Float32Array(kept.length * d);
    kept.forEach((r, i) => {
      xs.set(x.subarray(r * d, (r + 1) * d), i * d);
    });
    const { xhat, codes } = recon(xs, kept.length);
    groups.push({
      x: rowsOf(xs, kept.length, d),
      xhat: rowsOf(xhat, kept.length, d),
      codes: rowsOf(codes, kept.length, m),
    });
    const saeRun = model.run(ids, {
      copy: true,
      splice: {
        [HOOK]: (act) =>
          kept.forEach((r, i) => {
            for (let j = 0; j < d; j++) act[r * d + j] = xhat[i * d + j];
          }),
      },
    });
    const zeroRun = model.run(ids, {
      copy: true,
      splice: {
        [HOOK]: (act) => {
          for (const r of kept) act.fill(0, r * d, (r + 1) * d);
        },
      },
    });
    for (let r = 0; r < flat.length; r++) {
      const lp = naiveLogSoftmax(clean.logits!.data.subarray(r * V, (r + 1) * V));
      const ls = naiveLogSoftmax(saeRun.logits!.data.subarray(r * V, (r + 1) * V));
      const lz = naiveLogSoftmax(zeroRun.logits!.data.subarray(r * V, (r + 1) * V));
      const t = r % C;
      const next = t === C - 1 ? -1 : flat[r + 1];
      if (next >= 0 && next !== 2) {
        ce = { clean: ce.clean - lp[next], sae: ce.sae - ls[next], zero: ce.zero - lz[next] };
        ceN++;
      }
      if (keep[r]) {
        kl = { sae: kl.sae + naiveKl(lp, ls), zero: kl.zero + naiveKl(lp, lz) };
        klN++;
      }
    }
  }
  const ceClean = ce.clean / ceN;
  const ceSae = ce.sae / ceN;
  const ceZero = ce.zero / ceN;
  return {
    metrics: {
      ...naiveRecon(groups, m),
      ce_clean: ceClean,
      ce_sae: ceSae,
      ce_zero: ceZero,
      ce_loss_score: (ceZero - ceSae) / (ceZero - ceClean),
      kl_div_score: (kl.zero / klN - kl.sae / klN) / (kl.zero / klN),
    },
    ceN,
    tokens: groups.reduce((s, g) => s + g.x.length, 0),
  };
}

test("evaluateSae (relu SAE, scale c = 0.7, batches of 2 with a partial last one) equals the direct float64 computation", async () => {
  const m = 96;
  const hyper = parseSaeHyper({ arch: "relu", m, l1: 0.1 }, d, "test");
  const ctx0 = (await contexts())[0];
  const first = model.run([Array.from(ctx0)], { capture: [HOOK], logits: false, copy: true }).cache[HOOK].data;
  const c = 0.7;
  const sae = BASELINE_FACTORIES.relu(hyper, model.backend, {
    arrayType: "f32",
    seed: 3,
    firstBatch: first.map((v) => v * c),
    rows: C,
  });
  const r = await evaluateSae(model, sae, corpus, { hook: HOOK, scale: c, tokens: N * C, contextSize: C, batch: 2 });
  const want = await direct(
    2,
    (xs, rows) => {
      const xin = xs.map((v) => v * c);
      const codes = new Float32Array(rows * m);
      const recon = new Float32Array(rows * d);
      sae.forward(xin, rows, codes, recon);
      return { xhat: recon.map((v) => v / c), codes };
    },
    m,
  );
  assert.deepEqual(Object.keys(r.metrics).sort(), [...ALL_METRICS].sort());
  for (const k of ALL_METRICS) {
    const g = r.metrics[k];
    const w = (want.metrics as Record<string, number>)[k];
    assert.ok(Number.isFinite(w), `naive ${k} = ${w}`);
    assert.ok(Math.abs(g - w) <= 1e-9 * Math.max(1, Math.abs(w)), `${k}: ${g}, direct ${w}`);
  }
  assert.equal(r.tokens, want.tokens);
  assert.equal(r.ceTokens, want.ceN);
  assert.equal(r.contexts, N);
  const ids = (await contexts()).flatMap((c) => Array.from(c.subarray(1)));
  assert.ok(ids.filter((t) => t === 2).length >= 2, "mid-context BOS positions exist");
  assert.notEqual(r.metrics.ce_sae, r.metrics.ce_clean);
});

/** An SAE stub: x^ = f(x) with one code per feature = x (so l0 counts nonzero entries). */
function stubSae(f: (x: number) => number): SaeModule {
  const wDec = new Parameter("W_dec", new Float32Array(d * d), [d, d]);
  return {
    arch: "relu",
    hyper: parseSaeHyper({ arch: "relu", m: d }, d, "stub"),
    backend: model.backend,
    params: new Map([["W_dec", { param: wDec, featureAxis: "row" as const }]]),
    buffers: new Map(),
    trainBatch: () => {
      throw new Error("stub");
    },
    codes: () => new Float32Array(0),
    forward(x: FloatArray, rows: number, codes: FloatArray, recon: FloatArray) {
      for (let i = 0; i < rows * d; i++) {
        recon[i] = f(x[i]);
        codes[i] = x[i];
      }
    },
    decoderResidual: () => {},
  } as unknown as SaeModule;
}

test("zero-ablation identities: an SAE returning x scores ce_loss_score = kl_div_score = 1, one returning 0 scores 0", async () => {
  const o = { hook: HOOK, tokens: 3 * C, contextSize: C, batch: 2 };
  const perfect = await evaluateSae(
    model,
    stubSae((v) => v),
    corpus,
    o,
  );
  assert.equal(perfect.metrics.ce_sae, perfect.metrics.ce_clean);
  assert.equal(perfect.metrics.ce_loss_score, 1);
  assert.equal(perfect.metrics.kl_div_score, 1);
  assert.equal(perfect.metrics.explained_variance, 1);
  assert.equal(perfect.metrics.mse, 0);
  assert.equal(perfect.metrics.cossim, 1);
  assert.ok(Math.abs(perfect.metrics.l2_ratio - 1) < 1e-12);
  assert.notEqual(perfect.metrics.ce_zero, perfect.metrics.ce_clean); // (a random model: either may be larger)
  const zero = await evaluateSae(
    model,
    stubSae(() => 0),
    corpus,
    o,
  );
  assert.equal(zero.metrics.ce_sae, zero.metrics.ce_zero);
  assert.equal(zero.metrics.ce_loss_score, 0);
  assert.equal(zero.metrics.kl_div_score, 0);
  assert.equal(zero.metrics.cossim, 0);
  assert.equal(zero.metrics.l2_ratio, 0);
  // zeroing every position (BOS too) is a different, stronger ablation
  const all = await evaluateSae(
    model,
    stubSae(() => 0),
    corpus,
    { ...o, zeroAllPositions: true },
  );
  assert.notEqual(all.metrics.ce_zero, zero.metrics.ce_zero);
  assert.equal(all.metrics.ce_clean, zero.metrics.ce_clean);
});

test("evaluateSae: spliced false gives the reconstruction metrics only, equal to the spliced run's; bad options are one line", async () => {
  const hyper = parseSaeHyper({ arch: "topk", m: 96, k: 8 }, d, "test");
  const sae = BASELINE_FACTORIES.topk(hyper, model.backend, {
    arrayType: "f32",
    seed: 9,
    firstBatch: new Float32Array(d),
    rows: 1,
  });
  const o = { hook: HOOK, tokens: 3 * C, contextSize: C, batch: 2 };
  const full = await evaluateSae(model, sae, corpus, o);
  const recon = await evaluateSae(model, sae, corpus, { ...o, spliced: false });
  assert.deepEqual(Object.keys(recon.metrics).sort(), [...RECON_METRICS].sort());
  for (const k of RECON_METRICS) assert.equal(recon.metrics[k], full.metrics[k], k);
  assert.equal(recon.metrics.l0, 8);
  await assert.rejects(
    evaluateSae(model, sae, corpus, { ...o, hook: "blocks.9.hook_resid_post" }),
    /unknown hook "blocks.9.hook_resid_post": valid hooks are/,
  );
  const small = BASELINE_FACTORIES.topk(parseSaeHyper({ arch: "topk", m: 16, k: 2 }, 8, "t"), model.backend, {
    arrayType: "f32",
    seed: 1,
    firstBatch: new Float32Array(8),
    rows: 1,
  });
  await assert.rejects(
    evaluateSae(model, small, corpus, o),
    /the SAE reads d_in = 8 values per token but blocks.1.hook_resid_post .* has 48/,
  );
  await assert.rejects(
    evaluateSae(model, sae, corpus, { ...o, contextSize: 999 }),
    /context size 999 is not valid: expected an integer in \[2, 64\]/,
  );
});

test("evaluateSaes: three SAEs on two hooks in one pass give exactly what evaluateSae gives for each alone", async () => {
  const make = (arch: "relu" | "topk", seed: number) =>
    BASELINE_FACTORIES[arch](parseSaeHyper({ arch, m: 96, k: 5 }, d, "test"), model.backend, {
      arrayType: "f32",
      seed,
      firstBatch: new Float32Array(d),
      rows: 1,
    });
  const entries = [
    { sae: make("relu", 1), hook: HOOK, scale: 0.5 },
    { sae: make("topk", 2), hook: "blocks.2.hook_mlp_out" },
    { sae: make("topk", 3), hook: HOOK, scale: 2 },
  ];
  const o = { tokens: 3 * C, contextSize: C, batch: 2 };
  const together = await evaluateSaes(model, entries, corpus, o);
  for (const [i, e] of entries.entries()) {
    const alone = await evaluateSae(model, e.sae, corpus, { ...o, hook: e.hook, scale: e.scale });
    assert.deepEqual(together[i], alone, `entry ${i}`);
  }
  assert.notEqual(together[0].metrics.ce_zero, together[1].metrics.ce_zero);
  assert.equal(together[0].metrics.ce_zero, together[2].metrics.ce_zero);
});
