// `msae sae inspect` through commander on a folder written by saveSae and on a hand-made
// SAELens v5 folder whose tensors disagree with cfg.json (exit code 1, the problem printed);
// and the modules' one-line errors on bad inputs.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Command } from "commander";
import { registerSae } from "../../src/cli/sae.ts";
import { refBackend } from "../../src/core/backends/index.ts";
import { writeSafetensorsSync } from "../../src/io/safetensors-write.ts";
import { PAPER_FACTORIES } from "../../src/sae/paper/index.ts";
import { saveSae } from "../../src/sae/save.ts";
import { makePaper, paperHyper, randomInput } from "../helpers/sae-fixtures.ts";
import { native } from "../parity/parity-util.ts";

const dir = mkdtempSync(join(tmpdir(), "msae-sae-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerSae(program);
  let out = "";
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(["node", "msae", ...args]);
  } finally {
    process.stdout.write = write;
  }
  return out;
}

test("sae inspect: a saved attention SAE", async () => {
  const sae = makePaper<Float32Array>("attention", paperHyper("attention", 8, 16), refBackend, "f32");
  const folder = join(dir, "attn");
  saveSae(folder, sae, { scale: 1.5, info: { hook_name: "blocks.0.hook_resid_post", explained_variance: 0.91 } });
  process.exitCode = 0;
  const out = await run(["sae", "inspect", folder]);
  assert.equal(process.exitCode, 0);
  assert.match(out, /architecture\s+standard \(SAELens\) -> attention/);
  assert.match(out, /d_in x d_sae\s+8 x 16 \(expansion 2\)/);
  assert.match(out, /activation scale\s+1\.5/);
  assert.match(out, /explained_variance\s+0\.91/);
  assert.match(out, /attn_K\s+F32\s+\[16, 2\]/);
  assert.match(out, /no sparsity\.safetensors/);
  const json = JSON.parse(await run(["sae", "inspect", folder, "--json"]));
  assert.equal(json.msaeArch, "attention");
  assert.equal(json.cfg.layout, "v6");
});

test("sae inspect: a v5 folder whose W_dec disagrees with cfg.json exits 1 naming it", async () => {
  const folder = join(dir, "v5");
  mkdirSync(folder);
  const z = (n: number) => new Float32Array(n);
  writeSafetensorsSync(join(folder, "sae_weights.safetensors"), {
    W_enc: { dtype: "F32", shape: [4, 8], data: z(32) },
    W_dec: { dtype: "F32", shape: [4, 8], data: z(32) },
    b_enc: { dtype: "F32", shape: [8], data: z(8) },
    b_dec: { dtype: "F32", shape: [4], data: z(4) },
  });
  writeFileSync(
    join(folder, "cfg.json"),
    JSON.stringify({
      d_in: 4,
      d_sae: 8,
      hook_point: "blocks.2.hook_resid_pre",
      model_name: "gpt2-small",
      dtype: "torch.float32",
    }),
  );
  process.exitCode = 0;
  const out = await run(["sae", "inspect", folder]);
  assert.equal(process.exitCode, 1);
  process.exitCode = 0;
  assert.match(out, /cfg\.json layout\s+SAELens v5/);
  assert.match(out, /standard \(SAELens\) -> relu/);
  assert.match(out, /hook_name\s+"blocks\.2\.hook_resid_pre"/);
  assert.match(out, /PROBLEM: tensor W_dec has shape \[4, 8\]; cfg\.json implies \[8, 4\]/);
});

test("modules: wrong input type, length or rows are one-line errors; f64 on native is refused", () => {
  const hyper = paperHyper("layernorm", 8, 16);
  const sae = makePaper<Float32Array>("layernorm", hyper, refBackend, "f32");
  const opts = { gradWeight: 1, deadMask: null, updateState: false };
  const cases: [() => unknown, RegExp][] = [
    [
      () => sae.trainBatch(new Float64Array(16) as unknown as Float32Array, 2, opts),
      /x is a Float64Array; expected a Float32Array/,
    ],
    [() => sae.trainBatch(new Float32Array(15), 2, opts), /x has 15 values; expected rows \* d = 2 \* 8/],
    [() => sae.trainBatch(new Float32Array(0), 0, opts), /x rows 0; expected an integer >= 1/],
    [() => sae.decoderResidual(new Float32Array(3)), /residual buffer has 3 values/],
    [
      () => sae.forward(new Float32Array(16), 2, new Float32Array(31), new Float32Array(16)),
      /forward output buffers have 31 and 16 values; expected rows \* m = 32 and rows \* d = 16/,
    ],
    [
      () =>
        PAPER_FACTORIES.base(paperHyper("layernorm", 8, 16), refBackend, {
          arrayType: "f32",
          seed: 1,
          firstBatch: randomInput(2, 8, 1, "f32"),
          rows: 2,
        }),
      /the base factory was given hyperparameters of arch layernorm/,
    ],
  ];
  if (native.name === "native")
    cases.push([
      () => makePaper<Float64Array>("base", paperHyper("base", 8, 16), native, "f64"),
      /native backend computes in float32 only/,
    ]);
  for (const [f, re] of cases)
    assert.throws(f, (e: unknown) => e instanceof Error && re.test(e.message) && !e.message.includes("\n"), String(re));
});
