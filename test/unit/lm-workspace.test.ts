/**
 * The llm.c-style pieces (embed, block, head) driven directly with keepActivations = true, the
 * layout a backward pass will use: after one forward, every block's named buffers still hold that
 * block's activations, checked against the golden hooks of the PyTorch reference.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { refBackend } from "../../src/core/backends/index.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import type { Gemma2Model } from "../../src/lm/gemma2/forward.ts";
import type { Gpt2Model } from "../../src/lm/gpt2/forward.ts";
import { loadModel } from "../../src/lm/loader.ts";

const ROOT = join(import.meta.dirname, "..", "golden", "lm");

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const fx of ["gemma2-old", "gpt2"]) {
  test(`${fx}: keepActivations workspace keeps every block's buffers`, () => {
    const model = loadModel(join(ROOT, fx), { backend: refBackend, tokenizer: false });
    const arch = model.arch as Gemma2Model | Gpt2Model;
    const ids: number[][] = JSON.parse(readFileSync(join(ROOT, fx, "inputs.json"), "utf8")).input_ids;
    const [B, T] = [ids.length, ids[0].length];
    const ws = arch.createWorkspace(B, T, true);
    assert.notEqual(ws.blocks[0], ws.blocks[1], "one buffer set per block");
    // biome-ignore lint/suspicious/noExplicitAny: both workspace types share the fields used here
    const anyArch = arch as any;
    anyArch.embed(ws, Int32Array.from(ids.flat()));
    for (let l = 0; l < model.dims.nLayers; l++) anyArch.block(ws, l, null);
    const logits = anyArch.head(ws);
    const exp = SafetensorsFile.open(join(ROOT, fx, "expected.safetensors"));
    assert.ok(maxDiff(logits, exp.readF32("logits")) < 1e-4);
    for (let l = 0; l < model.dims.nLayers; l++) {
      const blk = ws.blocks[l];
      assert.ok(maxDiff(ws.resid(l), exp.readF32(`blocks.${l}.hook_resid_pre`)) < 1e-4, `resid ${l}`);
      assert.ok(maxDiff(blk.attnOut, exp.readF32(`blocks.${l}.hook_attn_out`)) < 1e-4, `attn_out ${l}`);
      assert.ok(maxDiff(blk.mlpOut, exp.readF32(`blocks.${l}.hook_mlp_out`)) < 1e-4, `mlp_out ${l}`);
      // attention probabilities: causal rows summing to 1
      const att = blk.att;
      for (let r = 0; r < att.length / T; r++) {
        const i = r % T;
        let s = 0;
        for (let j = 0; j < T; j++) {
          if (j > i) assert.equal(att[r * T + j], 0);
          s += att[r * T + j];
        }
        assert.ok(Math.abs(s - 1) < 1e-5);
      }
    }
    assert.ok(
      maxDiff(ws.resid(model.dims.nLayers), exp.readF32(`blocks.${model.dims.nLayers - 1}.hook_resid_post`)) < 1e-4,
    );
    exp.close();
  });
}
