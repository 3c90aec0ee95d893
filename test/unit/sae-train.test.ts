// The SAE trainer (src/sae/train/) end to end on a real activation store of the tiny Gemma-2
// fixture (two hooks, several epochs) and on hand-made streams:
//   - an interrupted-and-resumed run of 4 archs x 2 hooks ends with sae_weights.safetensors and
//     train_log.jsonl (timings aside) byte-identical to an uninterrupted run;
//   - a NaN in the data stops training with one line naming the SAE, the step and the loss part,
//     and the last good checkpoint stays;
//   - the SAELens folder: cfg.json metadata (l0, explained_variance, dead_count recomputed here
//     from the saved weights), sparsity.safetensors, the folded dataset scale.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parseSaeTrainConfig } from "../../src/config/sae-train.ts";
import { refBackend } from "../../src/core/backends/index.ts";
import { openCorpus } from "../../src/data/spec.ts";
import { runHarvest } from "../../src/harvest/harvest.ts";
import { openStores } from "../../src/harvest/store.ts";
import { readJsonl } from "../../src/io/jsonl.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { loadModel } from "../../src/lm/loader.ts";
import { loadSae } from "../../src/sae/load.ts";
import { SAE_FACTORIES } from "../../src/sae/registry.ts";
import { syntheticSource } from "../../src/sae/synthetic.ts";
import { type BatchStream, bufferBatches, syntheticBatches } from "../../src/sae/train/batches.ts";
import { checkpointSteps } from "../../src/sae/train/checkpoint.ts";
import { jobDir, trainSaes } from "../../src/sae/train/trainer.ts";
import { withDecoderAsync } from "../helpers/sparse-decoder.ts";

const FIXTURE = join(import.meta.dirname, "..", "golden", "lm", "gemma2-old");
const HOOKS = ["blocks.1.hook_resid_post", "blocks.2.hook_resid_post"];
const root = mkdtempSync(join(tmpdir(), "msae-sae-train-"));
after(() => rmSync(root, { recursive: true, force: true }));
const storeRun = join(root, "store");

before(async () => {
  const model = loadModel(FIXTURE);
  const tok = model.tokenizer as unknown as { encode(t: string): Int32Array; bosId: number; padId: number };
  await runHarvest(model, tok, {
    modelDir: FIXTURE,
    corpus: openCorpus("brown:validation"),
    data: ["brown:validation"],
    hooks: HOOKS,
    tokens: 40 * 32,
    contextSize: 32,
    llmBatch: 8,
    dtype: "f32",
    runDir: storeRun,
    keepSpecial: false,
    contextsPerShard: 8,
  });
});

function storeStream(seed: number): BatchStream {
  const dirs = HOOKS.map((h) => join(storeRun, "acts", h));
  const source = openStores(dirs);
  const stores = dirs.map((d) => openStores([d]) as unknown as { rows: number; scale: number });
  return bufferBatches(source, {
    batchSize: 64,
    bufferContexts: 16,
    seed,
    rows: stores[0].rows,
    scales: stores.map((s) => s.scale),
    identity: { dirs },
  });
}

const ARCHS = ["multiscale", "topk", "gated", "jumprelu"] as const;
const config = parseSaeTrainConfig({
  tokens: 64 * 4 * 9,
  batchSize: 64,
  bufferContexts: 16,
  warmupSteps: 2,
  reactivateEvery: 3,
  checkpointEvery: 4,
  lr: 3e-3,
  deadTokens: 256,
  sae: { expansion: 2, k: 1, l1: 2 },
});
const quiet = () => {};

function logWithoutTimings(path: string): string {
  return readJsonl(path)
    .records.map((r) => {
      const { tokens_per_s: _a, elapsed_s: _b, job_seconds: _c, ...rest } = r as Record<string, number>;
      return JSON.stringify(rest);
    })
    .join("\n");
}

test("an interrupted-and-resumed run ends byte-identical to an uninterrupted one (4 archs x 2 hooks, 2 epochs)", async () => {
  const a = join(root, "a");
  const b = join(root, "b");
  const full = await trainSaes({ config, archs: ARCHS, stream: storeStream(1), out: a, log: quiet });
  assert.equal(full.step, 9);
  assert.ok(full.tokens > storeStream(1).epochRows, "the run spans two epochs");
  const part = await trainSaes({ config, archs: ARCHS, stream: storeStream(1), out: b, log: quiet, stopAfter: 5 });
  assert.equal(part.stopped, true);
  assert.equal(part.step, 5);
  assert.equal(existsSync(join(jobDir(b, "topk", HOOKS[0]), "cfg.json")), false, "no SAE folder before the end");
  assert.deepEqual(checkpointSteps(jobDir(b, "topk", HOOKS[0])), [5]);
  await assert.rejects(
    trainSaes({ config, archs: ARCHS, stream: storeStream(1), out: b, log: quiet }),
    /already holds a training run; pass --resume/,
  );
  await assert.rejects(
    trainSaes({
      config: { ...config, lr: 1e-3 },
      archs: ARCHS,
      stream: storeStream(1),
      out: b,
      log: quiet,
      resume: true,
    }),
    /checkpointed with config\.lr = 0\.003 but this run has 0\.001/,
  );
  const rest = await trainSaes({ config, archs: ARCHS, stream: storeStream(1), out: b, log: quiet, resume: true });
  assert.equal(rest.step, 9);
  let reactivated = 0;
  for (const arch of ARCHS)
    for (const hook of HOOKS) {
      const [da, db] = [jobDir(a, arch, hook), jobDir(b, arch, hook)];
      const wa = readFileSync(join(da, "sae_weights.safetensors"));
      assert.ok(wa.equals(readFileSync(join(db, "sae_weights.safetensors"))), `${arch}/${hook}: weights differ`);
      assert.equal(logWithoutTimings(join(db, "train_log.jsonl")), logWithoutTimings(join(da, "train_log.jsonl")));
      const log = readJsonl(join(da, "train_log.jsonl")).records as Record<string, number>[];
      assert.equal(log.length, 9);
      for (const k of ["loss", "recon", "sparsity", "ortho", "aux", "l0", "dead", "lr", "grad_norm", "tokens_per_s"])
        assert.ok(Number.isFinite(log[8][k]), `${arch}: ${k} logged`);
      reactivated += log.reduce((s, r) => s + r.reactivated, 0);
      assert.deepEqual(readdirSync(db).sort(), [
        "cfg.json",
        "checkpoint",
        "sae_weights.safetensors",
        "sparsity.safetensors",
        "train_config.json",
        "train_log.jsonl",
      ]);
    }
  assert.ok(reactivated > 0, "some features were reactivated on the way (the resume crosses reactivation rounds)");
});

test("the TopK family's sparse step (forced on) resumes byte-identical too (topk, batchtopk, matryoshka x 2 hooks)", async () => {
  const archs = ["topk", "batchtopk", "matryoshka"] as const;
  const a = join(root, "sparse-a");
  const b = join(root, "sparse-b");
  await withDecoderAsync(true, async () => {
    await trainSaes({ config, archs, stream: storeStream(2), out: a, log: quiet });
    await trainSaes({ config, archs, stream: storeStream(2), out: b, log: quiet, stopAfter: 5 });
    await trainSaes({ config, archs, stream: storeStream(2), out: b, log: quiet, resume: true });
  });
  for (const arch of archs)
    for (const hook of HOOKS) {
      const [da, db] = [jobDir(a, arch, hook), jobDir(b, arch, hook)];
      const wa = readFileSync(join(da, "sae_weights.safetensors"));
      assert.ok(wa.equals(readFileSync(join(db, "sae_weights.safetensors"))), `${arch}/${hook}: weights differ`);
      assert.equal(logWithoutTimings(join(db, "train_log.jsonl")), logWithoutTimings(join(da, "train_log.jsonl")));
    }
});

test("cfg.json records the training-time l0 / explained variance, recomputed here from the saved folder", async () => {
  const a = join(root, "a");
  const stores = HOOKS.map((h) => openStores([join(storeRun, "acts", h)]) as unknown as { scale: number });
  for (const arch of ["topk", "multiscale"] as const) {
    const dir = jobDir(a, arch, HOOKS[0]);
    const cfg = JSON.parse(readFileSync(join(dir, "cfg.json"), "utf8"));
    assert.equal(cfg.metadata.hook_name, HOOKS[0]);
    assert.equal(cfg.metadata.msae_architecture, arch);
    for (const k of ["l0", "explained_variance", "dead_count"]) assert.equal(typeof cfg.metadata[k], "number");
    assert.ok(cfg.metadata.l0 > 0 && cfg.metadata.l0 <= 2 * 48);
    if (arch === "multiscale") assert.equal(cfg.metadata.activation_norm_scaling_factor, stores[0].scale);
    const sp = SafetensorsFile.open(join(dir, "sparsity.safetensors"));
    const s = sp.readF32("sparsity");
    sp.close();
    assert.equal(s.length, 96);
    assert.ok(
      s.every((v) => v <= 0 && v >= -10),
      "log10 densities in [-10, 0]",
    );
    const loaded = loadSae<Float32Array>(dir, SAE_FACTORIES, refBackend, { arrayType: "f32" });
    assert.equal(loaded.sae.hyper.m, 96);
  }
});

test("a NaN stops training with one line naming the SAE, step and loss part; the last checkpoint stays", async () => {
  const src = syntheticSource({ d: 16, nFeatures: 32, meanActive: 2, seed: 3 });
  const inner = syntheticBatches(src, 64, { synthetic: 3 });
  const stream: BatchStream = {
    ...inner,
    scales: inner.scales,
    async *from(epoch: number, index: number) {
      for await (const b of inner.from(epoch, index)) {
        if (b.index === 9) (b.acts[0] as Float32Array)[5] = Number.NaN; // step 3, its 2nd micro-batch
        yield b;
      }
    },
  };
  const out = join(root, "nan");
  const c = parseSaeTrainConfig({ tokens: 64 * 4 * 6, batchSize: 64, checkpointEvery: 2, sae: { expansion: 2 } });
  await assert.rejects(trainSaes({ config: c, archs: ["relu"], stream, out, log: quiet }), (e: Error) => {
    assert.match(
      e.message,
      /^relu\/synthetic: loss part "recon" is NaN at optimizer step 3; training stopped \(the last good checkpoint, step 2, is kept\)$/,
    );
    assert.equal(e.message.includes("\n"), false);
    return true;
  });
  assert.deepEqual(checkpointSteps(jobDir(out, "relu", "synthetic")), [2]);
});

test("per-arch SAE overrides reach each job's hyperparameters; a bad one is one line naming the arch and field", async () => {
  const src = syntheticSource({ d: 16, nFeatures: 32, meanActive: 2, seed: 4 });
  const c = parseSaeTrainConfig({ tokens: 64 * 8, batchSize: 64, sae: { expansion: 2, l1: 0.3, k: 5 } });
  const out = join(root, "overrides");
  await trainSaes({
    config: c,
    archs: ["relu", "topk"],
    stream: syntheticBatches(src, 64, { seed: 4 }),
    out,
    log: quiet,
    saeOverrides: { topk: { k: 2 }, relu: { l1: 0.7 } },
  });
  const hyper = (arch: string) =>
    JSON.parse(readFileSync(join(jobDir(out, arch as "relu", "synthetic"), "cfg.json"), "utf8")).metadata.msae_hyper;
  assert.equal(hyper("topk").k, 2);
  assert.equal(hyper("topk").l1, 0.3);
  assert.equal(hyper("relu").l1, 0.7);
  assert.equal(hyper("relu").k, 5);
  await assert.rejects(
    trainSaes({
      config: c,
      archs: ["relu"],
      stream: syntheticBatches(src, 64, { seed: 4 }),
      out: join(root, "overrides-bad"),
      log: quiet,
      saeOverrides: { relu: { l1: -1 } },
    }),
    /^UsageError: msae train \(relu\): field "l1" is -1/,
  );
});
