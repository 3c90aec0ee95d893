/**
 * `msae bench lm` on tiny configs (no timing assertions): the JSON shape, the skip lines, the GEMM
 * FLOP count (analytic formula vs the FLOPs of the GEMM calls the forward actually made), and,
 * when /usr/bin/python3 has torch, that the PyTorch peer computes the same forward as msae
 * (a synthetic model and a golden HF folder with sharded weights and layer_types).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { type LmBenchOptions, runLmBench } from "../../bench/lm.ts";
import { gemma2Flops } from "../../bench/lm-profile.ts";
import { formatLmBench } from "../../src/cli/bench-lm.ts";

const TINY: Partial<LmBenchOptions> = {
  shape: { layers: 2, d: 32, heads: 4, kvHeads: 2, headDim: 8, ffn: 48, vocab: 64 },
  batch: 2,
  seq: 6,
  warmup: 0,
  reps: 1,
};
const MISSING = join(import.meta.dirname, "no-such-model-folder");
const GOLDEN = join(import.meta.dirname, "..", "golden", "lm", "gemma2-new");
const hasTorch = spawnSync("/usr/bin/python3", ["-c", "import torch"]).status === 0;

test("bench lm: JSON shape with the torch side disabled and the default model absent", async () => {
  const r = await runLmBench({ ...TINY, torch: false, modelDir: MISSING, profile: true });
  const json = JSON.parse(JSON.stringify(r));
  assert.equal(json.cases.length, 1);
  const c = json.cases[0];
  assert.equal(c.name, "gemma2-synthetic");
  assert.ok(Number.isFinite(c.msae_tok_s) && c.msae_tok_s > 0);
  assert.equal(c.torch_tok_s, null);
  assert.equal(c.ratio, null);
  assert.equal(c.batch * c.seq, 12);
  assert.equal(json.skipped.length, 2);
  assert.match(json.skipped[0], /^torch column skipped/);
  assert.match(json.skipped[1], /^default model case skipped: .*no-such-model-folder does not exist/);
  const text = formatLmBench(r);
  assert.match(text, /gemma2-synthetic/);
  assert.match(text, /default model case skipped/);
});

test("bench lm: the GEMM FLOP formula matches the GEMMs the forward runs", async () => {
  for (const headVocab of [null, 50]) {
    const r = await runLmBench({ ...TINY, torch: false, modelDir: MISSING, profile: true, headVocab });
    const c = r.cases[0];
    const measured = c.profile!.msae.reduce((s, k) => s + k.flops, 0);
    // hand count, tiny shape: rows 12, d 32, q 32, kv 16, ffn 48, scores 2*4*6*6
    const perLayer = 2 * 12 * 32 * (32 + 16 + 16) + 2 * 12 * 32 * 32 + 3 * 2 * 12 * 32 * 48 + 2 * 2 * 288 * 8;
    const expected = 2 * perLayer + (headVocab ? 2 * 12 * 32 * headVocab : 0);
    assert.equal(measured, expected);
    const f = gemma2Flops({
      batch: 2,
      seq: 6,
      layers: 2,
      d: 32,
      heads: 4,
      kvHeads: 2,
      headDim: 8,
      ffn: 48,
      headVocab: headVocab ?? 0,
    });
    assert.equal(f.gemm, expected);
    assert.ok(c.gemm_flop_share > 0.5 && c.gemm_flop_share < 1);
  }
});

test("bench lm: the torch peer computes the same forward as msae", { skip: !hasTorch && "no torch" }, async () => {
  const r = await runLmBench({ ...TINY, modelDir: GOLDEN, headVocab: 40 });
  assert.deepEqual(r.skipped, []);
  assert.deepEqual(
    r.cases.map((c) => c.name),
    ["gemma2-synthetic", "gemma2-new"],
  );
  for (const c of r.cases) {
    assert.ok(c.torch_tok_s !== null && c.torch_tok_s > 0);
    assert.ok(Math.abs(c.ratio! - c.msae_tok_s / c.torch_tok_s) < 1e-12);
    assert.ok(c.max_abs_value! > 0.1, `${c.name}: outputs are not all ~0`);
    assert.ok(c.max_abs_diff! < 1e-4, `${c.name}: max |torch - msae| = ${c.max_abs_diff}`);
  }
  // the golden model's context (64) caps the sequence
  assert.equal(r.cases[1].seq, 6);
});
