/**
 * msae features: the streaming statistics against brute force on a store harvested here from the
 * tiny Gemma-2 fixture. The oracle runs every stored row through the SAE loaded in float64 on the
 * ref backend (the collector runs float32 on the default backend, in batches of whole contexts) and
 * sorts: top contexts (values, order, windows of token ids and activations), densities, band
 * counts and membership, quantile edges (within one log bucket), the histogram. Logit effects
 * against a float64 product with the embedding and final-norm weights read from the fixture's
 * safetensors here (Gemma-2 and GPT-2); neighbours against float64 cosines; the --model --data
 * source (the model streamed twice) against the same brute force, and its mismatch errors.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { getBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import type { ActivationStore } from "../../src/harvest/store.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { loadModel } from "../../src/lm/loader.ts";
import { collectFeatureStats, type FeatureStats } from "../../src/report/features/collect.ts";
import { decoderNeighbours } from "../../src/report/features/neighbours.ts";
import { featureRecord } from "../../src/report/features/records.ts";
import { tokenTextTable } from "../../src/report/features/run.ts";
import { openFeatureSource } from "../../src/report/features/source.ts";
import { DEFAULT_STATS_OPTIONS, type FeatureStatsOptions } from "../../src/report/features/types.ts";
import { logitEffects, unembeddingOf } from "../../src/report/features/unembed.ts";
import { loadSae } from "../../src/sae/load.ts";
import {
  type BruteForce,
  bruteForce,
  CONTEXT,
  CONTEXTS,
  DEAD,
  FACTORIES,
  FIXTURE,
  HOOK,
  harvestFixture,
  saveFixtureSae,
} from "../helpers/features-fixture.ts";

const root = mkdtempSync(join(tmpdir(), "msae-features-"));
after(() => rmSync(root, { recursive: true, force: true }));
const model = loadModel(FIXTURE);
const BOS = model.info.bosId!;
const backend = getBackend();
let store: ActivationStore;

const OPTIONS: FeatureStatsOptions = {
  ...DEFAULT_STATS_OPTIONS,
  top: 12,
  bandSamples: 5,
  before: 5,
  after: 3,
  histogramBins: 16,
  batchRows: 100, // several batches per shard, whole contexts each
};

before(async () => {
  store = await harvestFixture(join(root, "run"));
});

async function statsFor(folder: string): Promise<{ stats: FeatureStats; bf: BruteForce; scale: number }> {
  const loaded = loadSae<Float32Array>(folder, FACTORIES, backend, { arrayType: "f32" });
  const stats = await collectFeatureStats({
    source: store,
    hookIndex: 0,
    sae: loaded.sae,
    scale: loaded.scale,
    contexts: store.contextsTotal,
    contextSize: CONTEXT,
    bosId: BOS,
    options: OPTIONS,
  });
  return { stats, bf: await bruteForce(store, folder, BOS), scale: loaded.scale };
}

function column(bf: BruteForce, f: number): { v: number; r: number }[] {
  const out: { v: number; r: number }[] = [];
  for (let r = 0; r < bf.rows; r++) {
    const v = bf.codes[r * bf.m + f];
    if (v > 0) out.push({ v, r });
  }
  return out;
}

/** A token's page text: its decoded string, or for a lone byte-level piece (U+FFFD) its bytes. */
function shownAs(text: string, id: number): boolean {
  const decoded = model.tokenizer!.decode([id]);
  if (!decoded.includes("\uFFFD")) return text === decoded;
  return /\\x[89a-f][0-9a-f]/.test(text) && !text.includes("\uFFFD");
}

const close = (a: number, b: number, tol = 1e-4) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

for (const arch of ["relu", "multiscale"] as const) {
  test(`${arch}: top contexts, windows, densities, bands, quantiles and histogram equal brute force`, async () => {
    const folder = join(root, `sae-${arch}`);
    saveFixtureSae(folder, arch, 40, store.scale, 11);
    const { stats, bf, scale } = await statsFor(folder);
    if (arch === "multiscale") assert.equal(scale, store.scale, "the normalized arch records c");
    else assert.equal(scale, 1, "relu folds c into its weights");
    assert.equal(stats.tokens, store.rows);
    const tokenText = tokenTextTable(model);
    const none = { promoted: [], suppressed: [] };
    let bandsChecked = 0;
    for (let f = 0; f < bf.m; f++) {
      const col = column(bf, f);
      const rec = featureRecord(stats, f, OPTIONS, tokenText, none, []);
      assert.equal(rec.count, col.length, `feature ${f} count`);
      assert.equal(rec.density, col.length / bf.rows);
      if (DEAD.includes(f)) {
        assert.equal(rec.count, 0);
        assert.equal(rec.log10_density, null);
        assert.equal(rec.top.length, 0);
        continue;
      }
      assert.ok(close(rec.log10_density!, Math.log10(col.length / bf.rows), 1e-12));
      // Top: sorted by value, ties by (context, position).
      const sorted = [...col].sort((a, b) => b.v - a.v || a.r - b.r);
      const want = sorted.slice(0, OPTIONS.top);
      assert.equal(rec.top.length, want.length);
      rec.top.forEach((e, i) => {
        const w = want[i];
        assert.ok(close(e.value, w.v), `feature ${f} top ${i}: ${e.value} vs ${w.v}`);
        assert.equal(e.context, bf.context[w.r], `feature ${f} top ${i} context`);
        assert.equal(e.position, bf.position[w.r], `feature ${f} top ${i} position`);
      });
      assert.ok(close(rec.max, sorted[0].v));
      assert.ok(close(rec.mean_nonzero, col.reduce((s, x) => s + x.v, 0) / col.length));
      // Windows: token ids of the context and the feature's activation at each position.
      for (const e of [...rec.top, ...rec.bands.flatMap((b) => b.samples)]) {
        assert.equal(e.start, Math.max(0, e.position - OPTIONS.before));
        assert.equal(e.ids.length, Math.min(CONTEXT, e.position + OPTIONS.after + 1) - e.start);
        assert.deepEqual(e.ids, Array.from(bf.ids[e.context].subarray(e.start, e.start + e.ids.length)));
        for (const [k, t] of e.tokens.entries())
          assert.ok(shownAs(t, e.ids[k]), `token ${e.ids[k]} shown as ${JSON.stringify(t)}`);
        e.acts.forEach((a, k) => {
          const pos = e.start + k;
          let r = 0;
          while (r < bf.rows && !(bf.context[r] === e.context && bf.position[r] === pos)) r++;
          const v = r < bf.rows ? bf.codes[r * bf.m + f] : 0; // a dropped BOS position never fires
          assert.ok(close(a, v), `feature ${f} window act at ${e.context}:${pos}: ${a} vs ${v}`);
        });
        assert.ok(close(e.acts[e.at], e.value));
      }
      // Quantile edges: the lower edge of the log bucket holding the rank-th smallest value.
      const asc = col.map((x) => x.v).sort((a, b) => a - b);
      rec.bands.forEach((b, j) => {
        if (j === 0) {
          assert.equal(b.lo, 0);
          return;
        }
        const rank = Math.max(1, Math.ceil(b.levels[0] * asc.length));
        const below = asc.filter((v) => v < b.lo).length;
        const belowNext = asc.filter((v) => v < b.lo * 2 ** (1 / 8) * (1 + 1e-6)).length;
        assert.ok(below < rank && rank <= belowNext, `feature ${f} band ${j} edge ${b.lo}: rank ${rank}`);
      });
      // Bands: exact counts, samples inside the band, min(k, count) distinct samples.
      for (const b of rec.bands) {
        const inBand = col.filter((x) => x.v >= b.lo && (b.hi === null || x.v < b.hi));
        assert.equal(b.count, inBand.length, `feature ${f} band ${b.label} count`);
        assert.equal(b.samples.length, Math.min(OPTIONS.bandSamples, inBand.length));
        const keys = new Set(b.samples.map((e) => `${e.context}:${e.position}`));
        assert.equal(keys.size, b.samples.length, "distinct samples");
        for (const e of b.samples) {
          assert.ok(e.value >= b.lo * (1 - 1e-5) && (b.hi === null || e.value < b.hi * (1 + 1e-5)));
          assert.ok(
            inBand.some((x) => bf.context[x.r] === e.context && bf.position[x.r] === e.position),
            "a sample is a token of the band",
          );
        }
        if (b.count > OPTIONS.bandSamples) bandsChecked++;
      }
      assert.equal(
        rec.bands.reduce((s, b) => s + b.count, 0),
        col.length,
      );
      // Histogram on (0, max]: per-bin counts (a value exactly on a bin edge may land either side).
      const bins = new Array(OPTIONS.histogramBins).fill(0);
      for (const x of col) bins[Math.min(OPTIONS.histogramBins - 1, Math.floor((x.v / sorted[0].v) * bins.length))]++;
      const diff = rec.histogram.counts.reduce((s, c, i) => s + Math.abs(c - bins[i]), 0);
      assert.ok(diff <= 2, `feature ${f} histogram off by ${diff}`);
      assert.equal(
        rec.histogram.counts.reduce((s, c) => s + c, 0),
        col.length,
      );
    }
    assert.ok(bandsChecked > 20, `bands with more tokens than samples: ${bandsChecked}`);
  });
}

test("logit effects equal a float64 product with (1 + final norm) and the tied embedding read from the fixture", () => {
  const folder = join(root, "sae-multiscale");
  const loaded = loadSae<Float32Array>(folder, FACTORIES, backend, { arrayType: "f32" });
  const { d, m } = loaded.sae.hyper;
  const wDec = loaded.sae.params.get("W_dec")!.param.data;
  const file = SafetensorsFile.open(join(FIXTURE, "model.safetensors"));
  const name = (n: string) => (file.has(`model.${n}`) ? `model.${n}` : n);
  const E = file.readF32(name("embed_tokens.weight"));
  const g = file.readF32(name("norm.weight"));
  file.close();
  const V = E.length / d;
  const k = 7;
  const tokenText = tokenTextTable(model);
  const got = logitEffects(wDec, m, loaded.scale, unembeddingOf(model), k, backend, tokenText, 16);
  assert.equal(got.length, m);
  for (let f = 0; f < m; f++) {
    const eff = new Float64Array(V);
    for (let t = 0; t < V; t++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (wDec[f * d + j] / loaded.scale) * (1 + g[j]) * E[t * d + j];
      eff[t] = s;
    }
    const order = Array.from(eff.keys()).sort((a, b) => eff[b] - eff[a]);
    const promoted = order.slice(0, k);
    const suppressed = order.slice(-k).reverse();
    assert.deepEqual(
      got[f].promoted.map((e) => e.id),
      promoted,
      `feature ${f} promoted`,
    );
    assert.deepEqual(
      got[f].suppressed.map((e) => e.id),
      suppressed,
      `feature ${f} suppressed`,
    );
    for (const e of [...got[f].promoted, ...got[f].suppressed]) {
      assert.ok(close(e.value, eff[e.id], 1e-4), `feature ${f} token ${e.id}: ${e.value} vs ${eff[e.id]}`);
      assert.ok(shownAs(e.token, e.id));
    }
  }
});

test("nearest features by decoder cosine equal float64 brute force (block boundaries included)", () => {
  const loaded = loadSae<Float32Array>(join(root, "sae-relu"), FACTORIES, backend, { arrayType: "f32" });
  const { d, m } = loaded.sae.hyper;
  const w = loaded.sae.params.get("W_dec")!.param.data;
  const got = decoderNeighbours(w, m, d, 10, backend, 7);
  const norm = (i: number) => Math.sqrt(Array.from(w.subarray(i * d, (i + 1) * d)).reduce((s, v) => s + v * v, 0));
  for (let i = 0; i < m; i++) {
    const cos = Array.from({ length: m }, (_, j) => {
      let s = 0;
      for (let t = 0; t < d; t++) s += w[i * d + t] * w[j * d + t];
      return { id: j, cosine: s / (norm(i) * norm(j)) };
    }).filter((x) => x.id !== i);
    cos.sort((a, b) => b.cosine - a.cosine);
    assert.deepEqual(
      got[i].map((x) => x.id),
      cos.slice(0, 10).map((x) => x.id),
      `feature ${i}`,
    );
    for (const [r, x] of got[i].entries()) assert.ok(Math.abs(x.cosine - cos[r].cosine) < 1e-5);
  }
});

test("--model --data streams the same contexts as the store (counts and top values equal brute force); mismatches are one line", async () => {
  const folder = join(root, "sae-relu");
  const loaded = loadSae<Float32Array>(folder, FACTORIES, backend, { arrayType: "f32" });
  const request = {
    model: FIXTURE,
    data: ["brown:validation"],
    saeHook: HOOK,
    saeD: 48,
    tokens: CONTEXTS * CONTEXT,
    context: CONTEXT,
    saeContext: null,
    llmBatch: 4,
    backend,
  };
  const src = openFeatureSource(request);
  assert.equal(src.contexts, CONTEXTS);
  const stats = await collectFeatureStats({
    source: src.source,
    hookIndex: src.hookIndex,
    sae: loaded.sae,
    scale: loaded.scale,
    contexts: src.contexts,
    contextSize: src.contextSize,
    bosId: BOS,
    options: OPTIONS,
  });
  const bf = await bruteForce(store, folder, BOS);
  assert.equal(stats.tokens, bf.rows);
  for (let f = 0; f < bf.m; f++) {
    const col = column(bf, f).sort((a, b) => b.v - a.v || a.r - b.r);
    assert.equal(stats.count[f], col.length, `feature ${f}`);
    const top = stats.top.sorted(f);
    top.forEach((slot, i) => {
      assert.ok(close(stats.top.pool.value[slot], col[i].v));
      assert.equal(stats.top.pool.context[slot], bf.context[col[i].r]);
    });
  }
  const acts = join(root, "run", "acts", HOOK);
  assert.throws(
    () => openFeatureSource({ ...request, data: undefined, acts, saeHook: "blocks.0.hook_resid_post" }),
    /^Error: the SAE was trained on blocks.0.hook_resid_post but the store .* holds blocks.1.hook_resid_post$/,
  );
  assert.throws(
    () => openFeatureSource({ ...request, data: undefined, acts, model: join(FIXTURE, "..", "gemma2-new") }),
    /is not the one .* was harvested with \(content sha256 .*\): pass --model <that folder>$/,
  );
  assert.throws(
    () => openFeatureSource({ ...request, saeHook: null }),
    /the SAE's cfg.json names no hook_name: give --hook/,
  );
  assert.throws(() => openFeatureSource({ ...request, saeD: 64 }), /has d_model = 48 but the SAE expects d_in = 64/);
});

test("GPT-2 logit effects fold ln_f.weight into the tied wte (float64 product from the fixture's safetensors)", () => {
  const dir = join(FIXTURE, "..", "gpt2");
  const gpt2 = loadModel(dir);
  const file = SafetensorsFile.open(join(dir, "model.safetensors"));
  const name = (n: string) => (file.has(`transformer.${n}`) ? `transformer.${n}` : n);
  const E = file.readF32(name("wte.weight"));
  const g = file.readF32(name("ln_f.weight"));
  file.close();
  const d = gpt2.dims.dModel;
  const V = E.length / d;
  const m = 9;
  const wDec = new Float32Array(m * d);
  new Rng(3).fillNormal(wDec, 1);
  const scale = 0.7;
  const got = logitEffects(wDec, m, scale, unembeddingOf(gpt2), 5, backend, tokenTextTable(gpt2), 4);
  for (let f = 0; f < m; f++) {
    const eff = Array.from({ length: V }, (_, t) => {
      let s = 0;
      for (let j = 0; j < d; j++) s += (wDec[f * d + j] / scale) * g[j] * E[t * d + j];
      return s;
    });
    const order = Array.from(eff.keys()).sort((a, b) => eff[b] - eff[a]);
    assert.deepEqual(
      got[f].promoted.map((e) => e.id),
      order.slice(0, 5),
    );
    assert.deepEqual(
      got[f].suppressed.map((e) => e.id),
      order.slice(-5).reverse(),
    );
    for (const e of got[f].promoted) assert.ok(close(e.value, eff[e.id]));
  }
});
