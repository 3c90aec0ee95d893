/**
 * bench/lm-bf16-error.ts (the README's bf16 activation-error figures) on 2 contexts of the shipped
 * model: a relative error per `--layers auto` hook and for the logits, each within bf16's precision
 * (below 2e-2) and not zero (above 1e-5: the bf16 forward ran), and the two cross-entropies within
 * 1e-2 nats of each other. Positions: every non-special position of the contexts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { measureBf16Error } from "../../bench/lm-bf16-error.ts";

test("bf16 activation error per hook on tiny-gemma2 (2 contexts)", async () => {
  const r = await measureBf16Error({ contexts: 2, llmBatch: 2 });
  assert.equal(r.contexts, 2);
  assert.ok(r.positions > 200 && r.positions <= 256, `positions ${r.positions}`);
  assert.deepEqual(Object.keys(r.rel_err), [
    "blocks.1.hook_resid_post",
    "blocks.3.hook_resid_post",
    "blocks.4.hook_resid_post",
    "logits",
  ]);
  for (const [h, e] of Object.entries(r.rel_err)) assert.ok(e > 1e-5 && e < 2e-2, `${h}: ${e}`);
  assert.ok(Math.abs(r.ce_bf16 - r.ce_f32) < 1e-2 && r.ce_f32 > 1 && r.ce_f32 < 9);
});
