/**
 * `msae inspect` (src/cli/inspect.ts + src/lm/describe.ts) on the golden fixtures: the numbers it
 * prints are checked against the fixtures' config.json files and their known tensor counts.
 */
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Command } from "commander";
import { register } from "../../src/cli/inspect.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { type TensorToWrite, writeSafetensorsSync } from "../../src/io/safetensors-write.ts";

const ROOT = join(import.meta.dirname, "..", "golden", "lm");
const tmp = mkdtempSync(join(tmpdir(), "msae-lm-inspect-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function inspect(...args: string[]): Promise<{ out: string; exitCode: number }> {
  const program = new Command().exitOverride();
  register(program);
  let out = "";
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => {
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    await program.parseAsync(["node", "msae", "inspect", ...args]);
  } finally {
    process.stdout.write = write;
  }
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return { out, exitCode };
}

function field(out: string, label: string): string {
  const line = out.split("\n").find((l) => l.startsWith(`${label}:`));
  assert.ok(line, `no "${label}:" line in:\n${out}`);
  return line.slice(label.length + 1).trim();
}

test("inspect a Gemma-2 folder (sharded)", async () => {
  const { out, exitCode } = await inspect(join(ROOT, "gemma2-new"));
  assert.equal(exitCode, 0);
  assert.equal(field(out, "architecture"), "gemma2");
  // embed 288*32 + 3 layers * (48*32 + 2*12*32 + 32*48 + 3*64*32 + 4*32) + 32
  const params = 288 * 32 + 3 * (48 * 32 + 2 * 12 * 32 + 32 * 48 + 3 * 64 * 32 + 4 * 32) + 32;
  assert.match(field(out, "parameters"), new RegExp(`^${params.toLocaleString("en-US")} `));
  assert.equal(field(out, "layers"), "3");
  assert.equal(field(out, "d_model"), "32");
  assert.equal(field(out, "heads"), "4 query, 1 key/value, head_dim 12");
  assert.equal(field(out, "vocab"), "288");
  assert.equal(field(out, "context"), "64");
  assert.match(field(out, "sliding-window layers"), /^1, 2 \(window 4/);
  assert.equal(field(out, "global layers"), "0");
  assert.match(field(out, "hooks"), /hook_\{resid_pre\|attn_out\|mlp_out\|resid_post\}, L = 0\.\.2 \(12 hooks/);
  assert.match(field(out, "weights check"), /^OK/);
  assert.match(out, /layers\.2\.mlp\.down_proj\.weight\s+F32\s+\[32, 64\]\s+model-0000[12]-of-00002\.safetensors/);
  // natural order: layers.0 ... before layers.2 ...
  assert.ok(out.indexOf("layers.0.input_layernorm") < out.indexOf("layers.2.input_layernorm"));
});

test("inspect a GPT-2 folder (f16, mask buffers listed, not counted as parameters)", async () => {
  const { out } = await inspect(join(ROOT, "gpt2"));
  const cfg = JSON.parse(readFileSync(join(ROOT, "gpt2", "config.json"), "utf8"));
  const d = cfg.n_embd;
  const params = cfg.vocab_size * d + cfg.n_positions * d + cfg.n_layer * (12 * d * d + 13 * d) + 2 * d;
  assert.match(field(out, "parameters"), new RegExp(`^${params.toLocaleString("en-US")} `));
  assert.equal(field(out, "heads"), "4 query, 4 key/value, head_dim 8");
  assert.match(out, /h\.0\.attn\.bias\s+F32\s+\[1, 1, 32, 32\]/);
  assert.match(out, /h\.1\.mlp\.c_fc\.weight\s+F16\s+\[32, 128\]/);
});

test("inspect a bare .safetensors file: metadata and tensor table only", async () => {
  const { out } = await inspect(join(ROOT, "gemma2-old", "model.safetensors"));
  assert.ok(!out.includes("architecture:"));
  assert.equal(field(out, "metadata"), "format=pt");
  assert.match(out, /model\.embed_tokens\.weight\s+BF16\s+\[288, 48\]/);
});

test("inspect reports a shape problem and exits 1", async () => {
  const dir = join(tmp, "bad");
  cpSync(join(ROOT, "gemma2-old"), dir, { recursive: true });
  const file = join(dir, "model.safetensors");
  const f = SafetensorsFile.open(file);
  const tensors = new Map<string, TensorToWrite>();
  for (const n of f.names()) tensors.set(n, { dtype: f.info(n).dtype, shape: f.info(n).shape, data: f.read(n) });
  f.close();
  const w = tensors.get("model.norm.weight")!;
  tensors.set("model.norm.weight", { ...w, shape: [1, 48] });
  writeSafetensorsSync(file, tensors, { format: "pt" });
  const { out, exitCode } = await inspect(dir);
  assert.equal(exitCode, 1);
  assert.match(field(out, "weights check"), /model\.norm\.weight has shape \[1, 48\] but the config implies \[48\]/);
});
