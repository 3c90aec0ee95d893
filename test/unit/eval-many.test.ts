/**
 * evaluateSaes (one clean forward per batch, one zero forward per hook, one spliced forward per SAE)
 * gives each SAE exactly the metrics evaluateSae gives it alone (three forwards per SAE), for SAEs of
 * different architectures on two hooks of the tiny random Gemma-2 fixture.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { parseSaeHyper } from "../../src/config/sae.ts";
import { getBackend } from "../../src/core/backends/index.ts";
import { openCorpus } from "../../src/data/spec.ts";
import { evaluateSae, evaluateSaes } from "../../src/eval/evaluate.ts";
import { ALL_METRICS } from "../../src/eval/metrics.ts";
import { loadModel } from "../../src/lm/loader.ts";
import { SAE_FACTORIES } from "../../src/sae/registry.ts";
import type { SaeArch } from "../../src/sae/types.ts";

const FIXTURE = join(import.meta.dirname, "..", "golden", "lm", "gemma2-old");

test("evaluateSaes equals evaluateSae per SAE (shared clean and zero forwards)", async () => {
  const model = loadModel(FIXTURE);
  const be = getBackend();
  const d = model.dims.dModel;
  const corpus = openCorpus("brown:validation");
  const first = new Float32Array(16 * d).map((_, i) => Math.sin(i));
  const make = (arch: SaeArch, seed: number) =>
    SAE_FACTORIES[arch]<Float32Array>(parseSaeHyper({ arch, expansion: 2, k: 8 }, d), be, {
      arrayType: "f32",
      seed,
      firstBatch: first,
      rows: 16,
    });
  const jobs = [
    { sae: make("relu", 1), hook: "blocks.1.hook_resid_post", scale: 0.7 },
    { sae: make("multiscale", 2), hook: "blocks.1.hook_resid_post", scale: 0.7 },
    { sae: make("topk", 3), hook: "blocks.2.hook_resid_post", scale: 1.3 },
  ];
  const opts = { tokens: 5 * 32, contextSize: 32, batch: 2 };
  const many = await evaluateSaes(model, jobs, corpus, opts);
  for (const [j, job] of jobs.entries()) {
    const one = await evaluateSae(model, job.sae, corpus, { ...opts, hook: job.hook, scale: job.scale });
    for (const k of ALL_METRICS) assert.equal(many[j].metrics[k], one.metrics[k], `SAE ${j} ${k}`);
    assert.equal(many[j].tokens, one.tokens);
    assert.ok(Number.isFinite(one.metrics.kl_div_score));
  }
  assert.notEqual(many[0].metrics.ce_sae, many[2].metrics.ce_sae);
});
