/**
 * Loader errors on broken copies of the golden fixtures (made here, in a temp dir): each is ONE
 * line naming the problem. Also: the tokenizer loaded with the model encodes and decodes.
 */
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { refBackend } from "../../src/core/backends/index.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { type TensorToWrite, writeSafetensorsSync } from "../../src/io/safetensors-write.ts";
import { loadModel } from "../../src/lm/loader.ts";

const ROOT = join(import.meta.dirname, "lm");
const tmp = mkdtempSync(join(tmpdir(), "msae-lm-errors-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
function copyFixture(name: string): string {
  const dir = join(tmp, `${name}-${counter++}`);
  cpSync(join(ROOT, name), dir, { recursive: true });
  return dir;
}

/** Rewrites dir/file with `edit` applied to its tensors (name -> stored tensor). */
function rewrite(file: string, edit: (t: Map<string, TensorToWrite>) => void): void {
  const f = SafetensorsFile.open(file);
  const tensors = new Map<string, TensorToWrite>();
  for (const n of f.names()) {
    const info = f.info(n);
    tensors.set(n, { dtype: info.dtype, shape: info.shape, data: f.read(n) });
  }
  const meta = { ...f.metadata };
  f.close();
  edit(tensors);
  writeSafetensorsSync(file, tensors, meta);
}

/** Loading `dir` throws a one-line error matching every pattern. */
function assertLoadError(dir: string, ...patterns: RegExp[]): string {
  let message = "";
  assert.throws(
    () => loadModel(dir, { backend: refBackend }),
    (e: Error) => {
      message = e.message;
      return true;
    },
  );
  assert.ok(!message.includes("\n"), `error is one line: ${message}`);
  for (const p of patterns) assert.match(message, p);
  return message;
}

describe("LM loader errors", () => {
  test("missing tensor names the tensor", () => {
    const dir = copyFixture("gemma2-old");
    rewrite(join(dir, "model.safetensors"), (t) => t.delete("model.layers.2.mlp.up_proj.weight"));
    assertLoadError(
      dir,
      /missing tensor model\.layers\.2\.mlp\.up_proj\.weight/,
      /also looked for layers\.2\.mlp\.up_proj\.weight/,
    );
  });

  test("wrong shape names the tensor and both shapes", () => {
    const dir = copyFixture("gpt2");
    rewrite(join(dir, "model.safetensors"), (t) => {
      const w = t.get("h.1.attn.c_attn.weight")!;
      t.set("h.1.attn.c_attn.weight", { ...w, shape: [w.shape[1], w.shape[0]] }); // [96, 32]: transposed Conv1D
    });
    assertLoadError(dir, /h\.1\.attn\.c_attn\.weight/, /shape \[96, 32\]/, /config implies \[32, 96\]/);
  });

  test("truncated shard names the shard", () => {
    const dir = copyFixture("gemma2-new");
    const shard = join(dir, "model-00002-of-00002.safetensors");
    const size = readFileSync(shard).byteLength;
    truncateSync(shard, size - 100);
    assertLoadError(dir, /model-00002-of-00002\.safetensors/, /truncated/);
  });

  test("shard listed in the index but absent", () => {
    const dir = copyFixture("gemma2-new");
    unlinkSync(join(dir, "model-00001-of-00002.safetensors"));
    assertLoadError(dir, /model-00001-of-00002\.safetensors/);
  });

  test("unknown architecture lists the supported ones", () => {
    const dir = copyFixture("gpt2");
    const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    cfg.model_type = "llama";
    cfg.architectures = ["LlamaForCausalLM"];
    writeFileSync(join(dir, "config.json"), JSON.stringify(cfg));
    assertLoadError(dir, /unsupported architecture/, /llama/, /gemma2/, /gpt2/);
  });

  test("missing files and folders", () => {
    assertLoadError(join(tmp, "nope"), /does not exist/);
    const noCfg = copyFixture("gpt2");
    unlinkSync(join(noCfg, "config.json"));
    assertLoadError(noCfg, /missing file .*config\.json/);
    const noTok = copyFixture("gpt2");
    unlinkSync(join(noTok, "tokenizer.json"));
    assertLoadError(noTok, /missing file .*tokenizer\.json/);
    const noWeights = copyFixture("gpt2");
    unlinkSync(join(noWeights, "model.safetensors"));
    assertLoadError(noWeights, /model\.safetensors/);
  });

  test("bad config values name the field", () => {
    const dir = copyFixture("gemma2-new");
    const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    cfg.layer_types = ["full_attention", "sliding_attention"];
    writeFileSync(join(dir, "config.json"), JSON.stringify(cfg));
    assertLoadError(dir, /layer_types/, /3 entries/);
  });

  test("the model's tokenizer encodes and decodes", () => {
    const model = loadModel(join(ROOT, "gemma2-old"), { backend: refBackend });
    const tok = model.tokenizer!;
    const ids = Array.from(tok.encode("the cat and the hat"));
    assert.ok(ids.length > 0 && ids.length < 19, `merges apply: ${ids}`);
    assert.ok(ids.every((i) => i >= 0 && i < model.dims.vocabSize));
    assert.equal(tok.decode(ids), "the cat and the hat");
    assert.equal(model.info.bosId, 2);
    assert.equal(model.info.architecture, "gemma2");
  });
});
