/**
 * An SAE folder whose weights hold a NaN or an Inf is refused on load with one line naming the file,
 * the tensor and the entry (issue 13); allowNonFinite loads it anyway for forensics.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseSaeHyper } from "../../src/config/sae.ts";
import { getBackend } from "../../src/core/backends/index.ts";
import { loadSae } from "../../src/sae/load.ts";
import { SAE_FACTORIES } from "../../src/sae/registry.ts";
import { saveSae } from "../../src/sae/save.ts";

const dir = mkdtempSync(join(tmpdir(), "msae-sae-finite-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("loadSae refuses NaN / Inf weights with one line naming the tensor; allowNonFinite loads them", () => {
  const be = getBackend();
  const d = 8;
  const sae = SAE_FACTORIES.relu<Float32Array>(parseSaeHyper({ arch: "relu", expansion: 2 }, d), be, {
    arrayType: "f32",
    seed: 1,
    firstBatch: new Float32Array(d),
    rows: 1,
  });
  const folder = join(dir, "relu");
  saveSae(folder, sae);
  // Poison W_dec[1][2] in the file itself: find the tensor's bytes from the header.
  const file = join(folder, "sae_weights.safetensors");
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
  const at = 8 + n + header.W_dec.data_offsets[0] + 4 * (1 * d + 2);
  bytes.writeFloatLE(Number.NaN, at);
  writeFileSync(file, bytes);
  assert.throws(
    () => loadSae(folder, SAE_FACTORIES, be, { arrayType: "f32" }),
    (e: Error) => /tensor "W_dec" has NaN at index 10 \(\[1, 2\]\)/.test(e.message) && !e.message.includes("\n"),
  );
  const loaded = loadSae<Float32Array>(folder, SAE_FACTORIES, be, { arrayType: "f32", allowNonFinite: true });
  assert.ok(Number.isNaN(loaded.sae.params.get("W_dec")!.param.data[10]));
  bytes.writeFloatLE(Number.POSITIVE_INFINITY, at);
  writeFileSync(file, bytes);
  assert.throws(() => loadSae(folder, SAE_FACTORIES, be, { arrayType: "f32" }), /tensor "W_dec" has \+Inf/);
});

test("msae eval refuses an SAE with NaN weights in one line; --allow-nonfinite loads it with a warning", async () => {
  const { msae } = await import("../helpers/cli.ts");
  const be = getBackend();
  const d = 48; // the gemma2-old fixture's width
  const sae = SAE_FACTORIES.relu<Float32Array>(parseSaeHyper({ arch: "relu", expansion: 1 }, d), be, {
    arrayType: "f32",
    seed: 2,
    firstBatch: new Float32Array(d),
    rows: 1,
  });
  const folder = join(dir, "relu-cli");
  saveSae(folder, sae, { info: { hook_name: "blocks.1.hook_resid_post" } });
  const file = join(folder, "sae_weights.safetensors");
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
  bytes.writeFloatLE(Number.NaN, 8 + n + header.b_enc.data_offsets[0]);
  writeFileSync(file, bytes);
  const model = join(import.meta.dirname, "..", "golden", "lm", "gemma2-old");
  const args = ["eval", "--sae", folder, "--model", model, "--tokens", "64", "--context", "32", "--no-check", "--json"];
  const r = msae(args);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /tensor "b_enc" has NaN at index 0/);
  const f = msae([...args, "--allow-nonfinite"]);
  assert.match(f.stderr, /--allow-nonfinite: non-finite weights are not refused/);
});
