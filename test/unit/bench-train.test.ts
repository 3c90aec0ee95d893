/**
 * `msae bench train` on the tiny golden Gemma-2 folder (no timing assertions): the JSON shape, the
 * skip line without torch, the table, and, when /usr/bin/python3 has torch, that the PyTorch peer
 * (bench/torch_train.py, autograd) computes the same first-step loss and gradient norm as msae's
 * hand-written forward and backward from the same weights on the same batch.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { formatTrainBench, runTrainBench } from "../../bench/train.ts";

const GOLDEN = join(import.meta.dirname, "..", "golden", "lm", "gemma2-new");
const hasTorch = spawnSync("/usr/bin/python3", ["-c", "import torch"]).status === 0;
const TINY = { modelDir: GOLDEN, batch: 3, seq: 16, warmup: 0, steps: 2 };

test("bench train: JSON shape with the torch side disabled", async () => {
  const r = await runTrainBench({ ...TINY, torch: false, profile: true });
  const json = JSON.parse(JSON.stringify(r));
  assert.equal(json.cases.length, 1);
  const c = json.cases[0];
  assert.equal(c.name, "gemma2-new");
  assert.ok(Number.isFinite(c.msae_tok_s) && c.msae_tok_s > 0);
  assert.equal(c.torch_tok_s, null);
  assert.equal(c.ratio, null);
  assert.equal(c.msae_step_s.length, 2);
  assert.ok(Number.isFinite(c.msae_first_loss) && c.msae_first_loss > 0);
  assert.ok(c.msae_first_grad_norm > 0);
  assert.ok(c.profile.some((l: string) => l.startsWith("gemm")));
  assert.match(json.skipped[0], /^torch column skipped: disabled/);
  assert.match(formatTrainBench(r), /gemma2-new\s+3x16/);
  assert.equal(c.msae_cpu_util.length, 2);
  assert.equal(json.load_average_before.length, 3);
});

test("bench train: the torch peer computes the same first step", { skip: !hasTorch && "no torch" }, async () => {
  const r = await runTrainBench({ ...TINY, torch: true });
  const c = r.cases[0];
  assert.ok(c.torch_tok_s !== null && c.torch_tok_s > 0 && c.ratio !== null);
  assert.ok(c.torch_core === null || typeof c.torch_core === "string");
  assert.ok(c.loss_abs_diff !== null && c.loss_abs_diff < 1e-5 * Math.max(1, c.msae_first_loss), `${c.loss_abs_diff}`);
  assert.ok(c.grad_norm_rel_diff !== null && c.grad_norm_rel_diff < 1e-4, `${c.grad_norm_rel_diff}`);
  assert.ok(c.torch_cpu_util?.every((u) => u > 0));
});
