/**
 * Harvest and activation store, in-process on the tiny random Gemma-2 fixture: the stored rows equal
 * the model's own forward on the packed contexts (computed here, BOS dropped by a loop written here),
 * the recorded scale equals sqrt(d / mean ||x||^2) of those rows (float64 here), the paper's buffer
 * gives the same batches from the store and streaming from the model, an epoch visits every row once,
 * hooks share one permutation, and the layer mapping of --layers auto.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { packDocuments } from "../../src/data/packing.ts";
import { openCorpus } from "../../src/data/spec.ts";
import { specialIds } from "../../src/harvest/activations.ts";
import { type ActBatch, ActivationBuffer, ModelChunkSource } from "../../src/harvest/buffer.ts";
import { hookDir, runHarvest } from "../../src/harvest/harvest.ts";
import { paperLayers, resolveHooks } from "../../src/harvest/hooks.ts";
import { openStore, openStores } from "../../src/harvest/store.ts";
import { loadModel } from "../../src/lm/loader.ts";

const FIXTURE = join(import.meta.dirname, "..", "golden", "lm", "gemma2-old");
const HOOKS = ["blocks.1.hook_resid_post", "blocks.2.hook_mlp_out"];
const C = 32;
const CONTEXTS = 45;
let dir = "";
const model = loadModel(FIXTURE);
const tok = model.tokenizer as unknown as { encode(t: string): Int32Array; bosId: number; padId: number };
const corpus = openCorpus("brown:validation");

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "msae-harvest-"));
  await runHarvest(model, tok, {
    modelDir: FIXTURE,
    corpus,
    data: ["brown:validation"],
    hooks: HOOKS,
    tokens: CONTEXTS * C - 5,
    contextSize: C,
    llmBatch: 4,
    dtype: "f32",
    runDir: dir,
    keepSpecial: false,
    contextsPerShard: 8,
  });
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The contexts and each hook's activations computed directly, one context at a time. */
async function direct(): Promise<{ ids: Int32Array[]; acts: Float32Array[][] }> {
  const ids: Int32Array[] = [];
  for await (const c of packDocuments(corpus.documents(), tok, { contextSize: C })) {
    ids.push(c);
    if (ids.length === CONTEXTS) break;
  }
  const acts = ids.map((c) => {
    const { cache } = model.run([c], { capture: HOOKS, logits: false, copy: true });
    return HOOKS.map((h) => cache[h].data);
  });
  return { ids, acts };
}

test("--layers auto maps the paper's 5, 12, 19 of 26 to the same relative depths", () => {
  assert.deepEqual(paperLayers(26), [5, 12, 19]);
  assert.deepEqual(paperLayers(6), [1, 3, 4]);
  assert.deepEqual(paperLayers(12), [2, 6, 9]);
  assert.deepEqual(paperLayers(2), [0, 1]);
  assert.deepEqual(resolveHooks({ layers: "auto" }, 6), [
    "blocks.1.hook_resid_post",
    "blocks.3.hook_resid_post",
    "blocks.4.hook_resid_post",
  ]);
  assert.deepEqual(resolveHooks({ hooks: "blocks.2.hook_mlp_out,blocks.0.hook_resid_pre" }, 4), [
    "blocks.0.hook_resid_pre",
    "blocks.2.hook_mlp_out",
  ]);
  assert.throws(
    () => resolveHooks({ layers: "7" }, 6),
    /--layers "7" is not valid: expected auto or block numbers in 0\.\.5/,
  );
  assert.throws(() => resolveHooks({ hooks: "blocks.9.hook_resid_post" }, 6), /--hooks: unknown hook/);
});

test("stored rows equal the model's forward with BOS/EOS/PAD positions dropped; scale is sqrt(d / E||x||^2)", async () => {
  const { ids, acts } = await direct();
  const excluded = new Set(specialIds(model));
  assert.deepEqual([...excluded], [0, 1, 2]);
  const d = model.dims.dModel;
  for (const [h, hook] of HOOKS.entries()) {
    const store = openStore(hookDir(dir, hook));
    assert.equal(store.manifest.contexts_total, CONTEXTS);
    assert.equal(store.manifest.shards.length, 6);
    let row = 0;
    let sum = 0;
    let maxDiff = 0;
    for await (const chunk of store.chunks()) {
      for (let r = 0; r < chunk.rows; r++, row++) {
        const ctx = chunk.context[r];
        const pos = chunk.position[r];
        assert.equal(chunk.token[r], ids[ctx][pos]);
        for (let j = 0; j < d; j++) {
          const want = acts[ctx][h][pos * d + j];
          maxDiff = Math.max(maxDiff, Math.abs(chunk.acts[0][r * d + j] - want));
          sum += want * want;
        }
      }
    }
    let expectRows = 0;
    for (const c of ids) for (const t of c) if (!excluded.has(t)) expectRows++;
    assert.equal(row, expectRows);
    assert.equal(store.rows, expectRows);
    assert.ok(maxDiff < 1e-5, `max |stored - direct| = ${maxDiff}`);
    const c = Math.sqrt(d / (sum / expectRows));
    assert.ok(Math.abs(store.scale - c) / c < 1e-6, `scale ${store.scale} vs ${c}`);
  }
});

async function collect(buf: ActivationBuffer, epoch = 0): Promise<ActBatch[]> {
  const out: ActBatch[] = [];
  for await (const b of buf.epoch(epoch))
    out.push({
      ...b,
      acts: b.acts.map((a) => a.slice()),
      token: b.token.slice(),
      context: b.context.slice(),
      position: b.position.slice(),
    });
  return out;
}

test("the buffer yields identical batches from the store and streaming from the model; an epoch visits every row once", async () => {
  const opts = { bufferContexts: 16, batchSize: 100, seed: 7 };
  const stored = await collect(new ActivationBuffer(openStores(HOOKS.map((h) => hookDir(dir, h))), opts));
  const streaming = await collect(
    new ActivationBuffer(
      new ModelChunkSource(model, tok, corpus, {
        hooks: HOOKS,
        contexts: CONTEXTS,
        contextSize: C,
        llmBatch: 4,
        excludedIds: specialIds(model),
      }),
      opts,
    ),
  );
  assert.equal(stored.length, streaming.length);
  for (let b = 0; b < stored.length; b++) {
    assert.equal(stored[b].rows, streaming[b].rows);
    assert.deepEqual(stored[b].context, streaming[b].context);
    assert.deepEqual(stored[b].position, streaming[b].position);
    for (let h = 0; h < HOOKS.length; h++)
      assert.deepEqual(stored[b].acts[h], streaming[b].acts[h], `batch ${b} hook ${h}`);
  }
  // Every stored (context, position) exactly once; all batches full but the last.
  const store = openStore(hookDir(dir, HOOKS[0]));
  const seen = new Set<number>();
  for (const b of stored) for (let r = 0; r < b.rows; r++) seen.add(b.context[r] * C + b.position[r]);
  assert.equal(seen.size, store.rows);
  assert.equal(
    stored.reduce((n, b) => n + b.rows, 0),
    store.rows,
  );
  for (const b of stored.slice(0, -1)) assert.equal(b.rows, 100);
  // Rows are shuffled across contexts within a block, and the order depends on the seed and epoch.
  const first = stored[0].context;
  assert.ok(new Set(first).size > 8, "a batch mixes many contexts");
  const other = await collect(new ActivationBuffer(openStores([hookDir(dir, HOOKS[0])]), { ...opts, seed: 8 }));
  assert.notDeepEqual(other[0].context, stored[0].context);
  const epoch1 = await collect(new ActivationBuffer(openStores([hookDir(dir, HOOKS[0])]), opts), 1);
  assert.notDeepEqual(epoch1[0].context, stored[0].context);
});

test("both hooks of a multi-hook buffer get the same rows (same context and position, each its own activation)", async () => {
  const single = await collect(
    new ActivationBuffer(openStores([hookDir(dir, HOOKS[1])]), { bufferContexts: 16, batchSize: 64, seed: 3 }),
  );
  const multi = await collect(
    new ActivationBuffer(openStores(HOOKS.map((h) => hookDir(dir, h))), { bufferContexts: 16, batchSize: 64, seed: 3 }),
  );
  assert.equal(single.length, multi.length);
  for (let b = 0; b < single.length; b++) {
    assert.deepEqual(multi[b].context, single[b].context);
    assert.deepEqual(multi[b].acts[1], single[b].acts[0]);
  }
});
