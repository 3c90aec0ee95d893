// Saving and loading SAE folders: byte-identical weights and identical forward after a round
// trip, the cfg.json fields SAELens reads, the dataset scale folded (base) or recorded
// (normalized), foreign SAELens folders (apply_b_dec_to_input false), and one-line errors.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { FloatArray } from "../../src/core/backend.ts";
import { getBackend, refBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import { writeSafetensorsSync } from "../../src/io/safetensors-write.ts";
import { describeSaeFolder, formatSaeFolder } from "../../src/sae/describe.ts";
import { loadSae } from "../../src/sae/load.ts";
import { PAPER_FACTORIES } from "../../src/sae/paper/index.ts";
import { PaperSae } from "../../src/sae/paper/model.ts";
import { saveSae } from "../../src/sae/save.ts";
import { PAPER_ARCHS, type SaeFactory } from "../../src/sae/types.ts";
import { makePaper, paperHyper, randomInput, randomize } from "../helpers/sae-fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "msae-sae-io-"));
after(() => rmSync(root, { recursive: true, force: true }));

function bytes(a: FloatArray): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

const backend = getBackend();

for (const arch of PAPER_ARCHS) {
  test(`${arch}: save -> load gives byte-identical weights and the same forward`, () => {
    const d = 16;
    const m = 32;
    const hyper = paperHyper(arch, d, m, { reconstruct: arch === "layernorm" ? "paper" : "denormalized", l1: 0.3 });
    const sae = makePaper<Float32Array>(arch, hyper, backend, "f32", 4);
    randomize(sae, 5);
    const folder = join(root, `rt-${arch}`);
    const sparsity = Float32Array.from({ length: m }, (_, i) => (i % 5 === 0 ? Number.NEGATIVE_INFINITY : -1 - i / m));
    saveSae(folder, sae, {
      scale: 1,
      sparsity,
      info: { hook_name: "blocks.1.hook_resid_post", model_name: "tiny", l0: 3.5 },
    });
    assert.deepEqual(readdirSync(folder).sort(), ["cfg.json", "sae_weights.safetensors", "sparsity.safetensors"]);
    saveSae(folder, sae, { scale: 1, sparsity }); // replacing an existing folder works too
    assert.deepEqual(
      readdirSync(root).filter((n) => n.startsWith(".")),
      [],
      "no temp or old folders left behind",
    );
    const loaded = loadSae<Float32Array>(folder, PAPER_FACTORIES, backend, { arrayType: "f32" });
    assert.deepEqual(loaded.sae.hyper, sae.hyper);
    assert.equal(loaded.scale, 1);
    assert.deepEqual(loaded.sparsity, sparsity);
    for (const [name, { param }] of sae.params)
      assert.ok(bytes(loaded.sae.params.get(name)!.param.data).equals(bytes(param.data)), `param ${name}`);
    for (const [name, b] of sae.buffers)
      if (b.inWeights) assert.ok(bytes(loaded.sae.buffers.get(name)!.data).equals(bytes(b.data)), `buffer ${name}`);
    const rows = 7;
    const x = randomInput<Float32Array>(rows, d, 9, "f32");
    const out = [sae, loaded.sae].map((s) => {
      const codes = new Float32Array(rows * m);
      const recon = new Float32Array(rows * d);
      s.forward(x, rows, codes, recon);
      return [codes, recon];
    });
    assert.ok(bytes(out[0][0]).equals(bytes(out[1][0])) && bytes(out[0][1]).equals(bytes(out[1][1])), "forward");
    const cfg = JSON.parse(readFileSync(join(folder, "cfg.json"), "utf8"));
    assert.equal(cfg.architecture, "standard");
    assert.equal(cfg.d_in, d);
    assert.equal(cfg.d_sae, m);
    assert.equal(cfg.dtype, "float32");
    assert.equal(cfg.apply_b_dec_to_input, arch === "base");
    assert.equal(cfg.normalize_activations, "none");
    assert.equal(cfg.metadata.msae_architecture, arch);
    assert.equal(cfg.metadata.sae_lens_version, "6.0.0");
    assert.equal(cfg.metadata.reconstruct, hyper.reconstruct);
    const text = formatSaeFolder(describeSaeFolder(folder));
    assert.match(text, new RegExp(`standard \\(SAELens\\) -> ${arch}`));
    assert.match(text, /standard tensors match cfg\.json/);
    assert.match(text, /32 features, 7 never active/);
  });
}

test("dataset scale: base folds it (raw-unit forward equals the scaled one), multiscale records it", () => {
  const d = 8;
  const m = 16;
  const c = 2.5;
  const rows = 5;
  const x = randomInput<Float64Array>(rows, d, 3, "f64");
  const xs = x.map((v) => v * c) as Float64Array;
  for (const arch of ["base", "multiscale"] as const) {
    const sae = makePaper<Float64Array>(arch, paperHyper(arch, d, m), refBackend, "f64", 2);
    randomize(sae, 6);
    const folder = join(root, `scale-${arch}`);
    saveSae(folder, sae, { scale: c });
    const loaded = loadSae<Float64Array>(folder, PAPER_FACTORIES, refBackend, { arrayType: "f64" });
    const cfg = JSON.parse(readFileSync(join(folder, "cfg.json"), "utf8"));
    assert.equal(cfg.dtype, "float64");
    const want = { codes: new Float64Array(rows * m), recon: new Float64Array(rows * d) };
    sae.forward(xs, rows, want.codes, want.recon);
    const got = { codes: new Float64Array(rows * m), recon: new Float64Array(rows * d) };
    loaded.sae.forward(
      arch === "base" ? x : (x.map((v) => v * loaded.scale) as Float64Array),
      rows,
      got.codes,
      got.recon,
    );
    if (arch === "base") {
      assert.equal(loaded.scale, 1);
      assert.equal(cfg.metadata.msae_folded_scaling_factor, c);
      for (let i = 0; i < rows * d; i++) assert.ok(Math.abs(got.recon[i] - want.recon[i] / c) < 1e-12);
    } else {
      assert.equal(loaded.scale, c);
      assert.equal(cfg.metadata.activation_norm_scaling_factor, c);
      for (let i = 0; i < rows * d; i++) assert.ok(Math.abs(got.recon[i] - want.recon[i]) < 1e-12);
    }
    for (let i = 0; i < rows * m; i++) assert.ok(Math.abs(got.codes[i] - want.codes[i]) < 1e-12);
  }
});

test("a save that fails midway leaves the old folder as it was and no temp folder", () => {
  const sae = makePaper<Float32Array>("base", paperHyper("base", 4, 8), refBackend, "f32", 1);
  const folder = join(root, "failing");
  saveSae(folder, sae, { info: { model_name: "first" } });
  const before = readFileSync(join(folder, "cfg.json"), "utf8");
  const w0 = sae.params.get("W_dec")!.param.data[0];
  sae.params.get("W_dec")!.param.data[0] += 1;
  // cfg.json is written after the weights: an unserializable field fails it with the new weights already in the temp folder.
  assert.throws(() => saveSae(folder, sae, { info: { model_name: "second", bad: 1n } }), /BigInt/);
  assert.equal(readFileSync(join(folder, "cfg.json"), "utf8"), before);
  const loaded = loadSae<Float32Array>(folder, PAPER_FACTORIES, refBackend, { arrayType: "f32" });
  assert.equal(loaded.sae.params.get("W_dec")!.param.data[0], w0);
  assert.deepEqual(
    readdirSync(root).filter((n) => n.startsWith(".")),
    [],
  );
});

// A stand-in `relu` factory for loader tests (its forward is the standard SAE's; the baselines live elsewhere).
const reluStandIn: SaeFactory = (hyper, be, init) =>
  new PaperSae(hyper, be, { normalize: null, attention: false, coactMask: false }, init);

test("a foreign SAELens v6 folder with apply_b_dec_to_input false loads exactly", () => {
  const d = 6;
  const m = 10;
  const rng = new Rng(8);
  const t = (n: number, s: number) => rng.fillNormal(new Float32Array(n), s);
  const w = { W_enc: t(d * m, 0.5), W_dec: t(m * d, 0.5), b_enc: t(m, 0.3), b_dec: t(d, 0.3) };
  const folder = join(root, "foreign");
  rmSync(folder, { recursive: true, force: true });
  saveFolder(folder, w, d, m, { apply_b_dec_to_input: false });
  const loaded = loadSae<Float64Array>(folder, { relu: reluStandIn }, refBackend, { arrayType: "f64" });
  assert.equal(loaded.sae.arch, "relu");
  assert.match(loaded.notes[0], /b_enc \+= b_dec W_enc/);
  const rows = 4;
  const x = randomInput<Float64Array>(rows, d, 1, "f64");
  const codes = new Float64Array(rows * m);
  const recon = new Float64Array(rows * d);
  loaded.sae.forward(x, rows, codes, recon);
  for (let b = 0; b < rows; b++) {
    // SAELens with apply_b_dec_to_input false: h = ReLU(x W_enc + b_enc), x^ = h W_dec + b_dec.
    const h = Array.from({ length: m }, (_, i) => {
      let s = w.b_enc[i];
      for (let j = 0; j < d; j++) s += x[b * d + j] * w.W_enc[j * m + i];
      return Math.max(0, s);
    });
    for (let j = 0; j < d; j++) {
      let s = w.b_dec[j];
      for (let i = 0; i < m; i++) s += h[i] * w.W_dec[i * d + j];
      assert.ok(Math.abs(recon[b * d + j] - s) < 1e-6, `recon[${b}, ${j}] ${recon[b * d + j]} vs ${s}`);
    }
  }
});

test("rescale_acts_by_decoder_norm: the decoder norms are folded in (codes scaled by |W_dec,i|, same reconstruction)", () => {
  const d = 5;
  const m = 7;
  const rng = new Rng(12);
  const t = (n: number, s: number) => rng.fillNormal(new Float32Array(n), s);
  const w = { W_enc: t(d * m, 0.5), W_dec: t(m * d, 0.8), b_enc: t(m, 0.3), b_dec: t(d, 0.3) };
  const folder = join(root, "rescale");
  rmSync(folder, { recursive: true, force: true });
  saveFolder(folder, w, d, m, { rescale_acts_by_decoder_norm: true });
  const loaded = loadSae<Float64Array>(folder, { relu: reluStandIn }, refBackend, { arrayType: "f64" });
  assert.match(loaded.notes.join(" "), /decoder norms folded/);
  const rows = 3;
  const x = randomInput<Float64Array>(rows, d, 2, "f64");
  const codes = new Float64Array(rows * m);
  const recon = new Float64Array(rows * d);
  loaded.sae.forward(x, rows, codes, recon);
  for (let b = 0; b < rows; b++) {
    // SAELens: h = ReLU(((x - b_dec) W_enc + b_enc) o n), x^ = (h / n) W_dec + b_dec, n_i = |W_dec,i|.
    const n = Array.from({ length: m }, (_, i) => Math.hypot(...w.W_dec.subarray(i * d, (i + 1) * d)));
    const h = Array.from({ length: m }, (_, i) => {
      let s = w.b_enc[i];
      for (let j = 0; j < d; j++) s += (x[b * d + j] - w.b_dec[j]) * w.W_enc[j * m + i];
      return Math.max(0, s * n[i]);
    });
    for (let i = 0; i < m; i++) assert.ok(Math.abs(codes[b * m + i] - h[i]) < 1e-6, `codes[${b}, ${i}]`);
    for (let j = 0; j < d; j++) {
      let s = w.b_dec[j];
      for (let i = 0; i < m; i++) s += (h[i] / n[i]) * w.W_dec[i * d + j];
      assert.ok(Math.abs(recon[b * d + j] - s) < 1e-6, `recon[${b}, ${j}]`);
    }
  }
});

function saveFolder(
  folder: string,
  w: Record<string, Float32Array>,
  d: number,
  m: number,
  over: Record<string, unknown>,
) {
  mkdirSync(folder, { recursive: true });
  const shapes: Record<string, number[]> = { W_enc: [d, m], W_dec: [m, d] };
  writeSafetensorsSync(
    join(folder, "sae_weights.safetensors"),
    Object.fromEntries(
      Object.entries(w).map(([k, v]) => [k, { dtype: "F32" as const, shape: shapes[k] ?? [v.length], data: v }]),
    ),
  );
  const cfg = {
    d_in: d,
    d_sae: m,
    dtype: "float32",
    device: "cpu",
    apply_b_dec_to_input: true,
    normalize_activations: "none",
    reshape_activations: "none",
    metadata: { sae_lens_version: "6.3.0", model_name: "gemma-2-2b", hook_name: "blocks.12.hook_resid_post" },
    architecture: "standard",
    ...over,
  };
  writeFileSync(join(folder, "cfg.json"), JSON.stringify(cfg));
}

test("load errors: unknown / missing tensors, wrong shape, unsupported architecture or normalization", () => {
  const d = 4;
  const m = 8;
  const z = (n: number) => new Float32Array(n);
  const base = { W_enc: z(d * m), W_dec: z(m * d), b_enc: z(m), b_dec: z(d) };
  const cases: [Record<string, Float32Array>, Record<string, unknown>, RegExp][] = [
    [{ ...base, extra: z(2) }, {}, /tensor extra unknown to arch relu/],
    [{ W_enc: base.W_enc, W_dec: base.W_dec, b_dec: base.b_dec }, {}, /arch relu needs tensor b_enc/],
    [{ ...base, b_enc: z(m + 1) }, {}, /tensor b_enc has shape \[9\]; expected \[8\]/],
    [base, { architecture: "transcoder" }, /SAELens architecture "transcoder" is not supported/],
    [base, { normalize_activations: "layer_norm" }, /normalize_activations "layer_norm" is not supported/],
    [base, { architecture: "topk", k: 3 }, /no SAE implementation for arch topk here \(have: relu\)/],
  ];
  cases.forEach(([w, over, re], i) => {
    const folder = join(root, `bad-${i}`);
    rmSync(folder, { recursive: true, force: true });
    saveFolder(folder, w, d, m, over);
    assert.throws(
      () => loadSae(folder, { relu: reluStandIn }, refBackend, { arrayType: "f32" }),
      (e: unknown) => e instanceof Error && re.test(e.message) && !e.message.includes("\n"),
      String(re),
    );
  });
  assert.throws(
    () => loadSae(join(root, "nowhere"), PAPER_FACTORIES, refBackend, { arrayType: "f32" }),
    /no such file/,
  );
});
