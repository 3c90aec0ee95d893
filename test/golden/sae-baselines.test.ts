// The six baseline SAEs against golden files of the independent float64 PyTorch reference
// (tools/golden/sae_reference.py on branch work-15b; format at the end of notes/sae-pins.md):
// d = 16, m = 64, B = 24, random parameters and state, one training step. Forward (codes, x^),
// every loss part, every gradient and the state after the step agree to 1e-9 relative in float64
// on `ref`, and within float32 tolerance on `native`; relu, topk and batchtopk with the decoder on
// sparse codes (sparse-codes.ts) forced on and off.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import type { Backend, FloatArray } from "../../src/core/backend.ts";
import { nativeBackend, refBackend } from "../../src/core/backends/index.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { BASELINE_FACTORIES } from "../../src/sae/baselines/index.ts";
import type { BaselineArch, LossParts, SaeHyper } from "../../src/sae/types.ts";
import { withDecoder } from "../helpers/sparse-decoder.ts";

const DIR = join(import.meta.dirname, "sae");
const native = nativeBackend();

// Typed over the union: a baseline without a golden case does not compile.
const FILES: Record<BaselineArch, string> = {
  relu: "relu.safetensors",
  topk: "topk.safetensors",
  batchtopk: "batchtopk.safetensors",
  jumprelu: "jumprelu.safetensors",
  gated: "gated.safetensors",
  matryoshka: "matryoshka.safetensors",
};

/** max |a - b| / max(max |b|, 1e-30): normwise relative error. */
function normwise(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  let s = 1e-30;
  for (let i = 0; i < b.length; i++) {
    e = Math.max(e, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return e / s;
}

function run(arch: BaselineArch, backend: Backend, arrayType: "f32" | "f64", tol: { loss: number; tensor: number }) {
  const f = SafetensorsFile.open(join(DIR, FILES[arch]));
  try {
    const read = (name: string) => {
      const v = f.read(name);
      assert.ok(v instanceof Float64Array, `${name} is F64`);
      return arrayType === "f64" ? v : Float32Array.from(v);
    };
    const hyper = JSON.parse(f.metadata.hyper) as SaeHyper;
    assert.equal(hyper.arch, arch);
    assert.equal(f.metadata.steps ?? "1", "1");
    const x = read("x");
    const rows = x.length / hyper.d;
    const sae = BASELINE_FACTORIES[arch]<FloatArray>(hyper, backend, { arrayType, seed: 1, firstBatch: x, rows });
    const golden = f
      .names()
      .filter((n) => n.startsWith("param."))
      .map((n) => n.slice(6));
    assert.deepEqual([...sae.params.keys()].sort(), golden.sort(), "parameter names are the DESIGN / SAELens names");
    for (const [name, { param }] of sae.params) {
      param.data.set(read(`param.${name}`));
      param.zeroGrad();
    }
    for (const [name, buf] of sae.buffers) buf.data.set(read(`state.${name}`));
    const dead = f.has("state.dead") ? Uint8Array.from(f.read("state.dead") as Float64Array) : null;
    const parts = sae.trainBatch(x, rows, { gradWeight: 1, deadMask: dead, updateState: true });
    for (const key of ["recon", "sparsity", "ortho", "aux", "total", "l0"] as (keyof LossParts)[]) {
      const want = (f.read(`loss.${key}`) as Float64Array)[0];
      const err = Math.abs(parts[key] - want) / Math.max(Math.abs(want), 1e-30);
      assert.ok(want === parts[key] || err < tol.loss, `${arch} loss.${key}: ${parts[key]} vs golden ${want}`);
    }
    if (arch !== "relu" && arch !== "jumprelu") assert.ok(parts.aux > 0, "aux is exercised");
    // Column sums and firing counts (the trainer's statistics; sparse codes answer from their
    // entries, before codes() materializes them) against the golden codes.
    const m = hyper.m;
    const colSum = new (x.constructor as { new (n: number): FloatArray })(m);
    const fired = new Int32Array(m);
    assert.equal(sae.codeColumnStats(colSum, fired), rows);
    const gc = read("out.codes");
    const wantSum = new Float64Array(m);
    const wantFired = new Int32Array(m);
    for (let i = 0; i < gc.length; i++) {
      wantSum[i % m] += gc[i];
      if (gc[i] > 0) wantFired[i % m]++;
    }
    assert.ok(normwise(colSum, wantSum) < tol.tensor, `${arch} codeColumnStats sums`);
    assert.deepEqual(fired, wantFired, `${arch} codeColumnStats firing counts`);
    assert.ok(normwise(sae.codes(), gc) < tol.tensor, `${arch} out.codes`);
    const res = new (x.constructor as { new (n: number): FloatArray })(x.length);
    sae.decoderResidual(res);
    const xhat = Float64Array.from(x, (v, i) => v - res[i]);
    assert.ok(normwise(xhat, read("out.recon")) < tol.tensor, `${arch} out.recon`);
    for (const [name, { param }] of sae.params) {
      const e = normwise(param.grad, read(`grad.${name}`));
      assert.ok(e < tol.tensor, `${arch} grad.${name}: normwise error ${e.toExponential(2)}`);
    }
    for (const [name, buf] of sae.buffers) {
      assert.ok(normwise(buf.data, read(`state_after.${name}`)) < tol.tensor, `${arch} state_after.${name}`);
    }
  } finally {
    f.close();
  }
}

for (const arch of Object.keys(FILES) as BaselineArch[]) {
  for (const decoder of ["dense", "sparse"] as const) {
    const on = decoder === "sparse";
    test(`${arch} (${decoder} decoder): forward, loss parts, gradients and state match the PyTorch golden file (ref, f64, 1e-9)`, () => {
      withDecoder(on, () => run(arch, refBackend, "f64", { loss: 1e-9, tensor: 1e-9 }));
    });
    test(`${arch} (${decoder} decoder): the same on native in float32`, {
      skip: native ? false : "the native addon is not built",
    }, () => {
      if (native) withDecoder(on, () => run(arch, native, "f32", { loss: 1e-5, tensor: 1e-5 }));
    });
  }
}
