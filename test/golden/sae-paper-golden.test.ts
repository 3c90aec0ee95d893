// The paper architectures against the independent float64 PyTorch reference
// (tools/golden/sae_reference.py on branch work-15b; files copied to test/golden/sae/): with the
// golden parameters and state loaded, the training step's loss parts, codes, reconstruction,
// gradients and state after it match, in float64 on ref (1e-9) and float32 on native.
// adaptive-3step carries the state over three micro-batches (x0, x1, x2); out/loss/grad are x2's.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import type { Backend, FloatArray } from "../../src/core/backend.ts";
import { nativeBackend, refBackend } from "../../src/core/backends/index.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { PAPER_FACTORIES } from "../../src/sae/paper/index.ts";
import { isSaeArch, type PaperArch, type SaeHyper, type SaeModule } from "../../src/sae/types.ts";
import { withDecoder } from "../helpers/sparse-decoder.ts";

const DIR = join(import.meta.dirname, "sae");
const CASES = [
  "base",
  "layernorm",
  "layernorm-paper",
  "adaptive",
  "adaptive-paper",
  "adaptive-3step",
  "attention",
  "attention-paper",
  "multiscale",
  "multiscale-paper",
];
const native = nativeBackend();

interface Golden {
  arch: PaperArch;
  hyper: SaeHyper;
  steps: number;
  t: (name: string) => Float64Array;
  names: string[];
}

function readGolden(c: string): Golden {
  const f = SafetensorsFile.open(join(DIR, `${c}.safetensors`));
  const names = f.names();
  const cache = new Map(names.map((n) => [n, f.read(n) as Float64Array]));
  f.close();
  const arch = f.metadata.arch;
  if (!isSaeArch(arch)) throw new Error(`${c}: bad arch ${arch}`);
  return {
    arch: arch as PaperArch,
    hyper: JSON.parse(f.metadata.hyper) as SaeHyper,
    steps: Number(f.metadata.steps ?? "1"),
    t: (n) => {
      const v = cache.get(n);
      if (!v) throw new Error(`${c}: no tensor ${n}`);
      return v;
    },
    names,
  };
}

/** max_i |a_i - b_i| / max(max_i |b_i|, 1e-30). */
function normwise(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1e-30;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

function run<A extends FloatArray>(
  g: Golden,
  backend: Backend,
  type: "f32" | "f64",
  tol: number,
  label: string,
): number {
  let worst = 0;
  const { d } = g.hyper;
  const rows = (g.steps === 1 ? g.t("x") : g.t("x0")).length / d;
  const conv = (a: Float64Array) => (type === "f32" ? Float32Array.from(a) : Float64Array.from(a)) as A;
  const make = () => {
    const sae: SaeModule<A> = PAPER_FACTORIES[g.arch]<A>(g.hyper, backend, {
      arrayType: type,
      seed: 0,
      firstBatch: conv(new Float64Array(d)),
      rows: 1,
    });
    for (const [name, { param }] of sae.params) param.data.set(g.t(`param.${name}`));
    for (const [name, b] of sae.buffers) b.data.set(g.t(`state.${name}`));
    return sae;
  };
  const sae = make();
  const infer = make(); // the frozen-state forward of the same micro-batch gives x^ in the compared space
  const xs = g.steps === 1 ? [g.t("x")] : Array.from({ length: g.steps }, (_, i) => g.t(`x${i}`));
  let parts = sae.trainBatch(conv(xs[0]), rows, { gradWeight: 1, deadMask: null, updateState: true });
  const codes = new (type === "f32" ? Float32Array : Float64Array)(rows * g.hyper.m) as A;
  const recon = new (type === "f32" ? Float32Array : Float64Array)(rows * d) as A;
  for (let s = 1; s < g.steps; s++) {
    for (const { param } of sae.params.values()) param.grad.fill(0);
    for (const [name, b] of sae.buffers) infer.buffers.get(name)?.data.set(b.data);
    parts = sae.trainBatch(conv(xs[s]), rows, { gradWeight: 1, deadMask: null, updateState: true });
  }
  infer.forward(conv(xs[g.steps - 1]), rows, codes, recon);
  const check = (what: string, got: ArrayLike<number>, want: Float64Array) => {
    const e = normwise(got, want);
    worst = Math.max(worst, e);
    assert.ok(e <= tol, `${label} ${what}: normwise error ${e.toExponential(2)} > ${tol}`);
  };
  for (const k of ["recon", "sparsity", "ortho", "aux", "total", "l0"] as const)
    check(`loss.${k}`, [parts[k]], g.t(`loss.${k}`));
  check("out.codes (training)", sae.codes(), g.t("out.codes"));
  check("out.codes (forward)", codes, g.t("out.codes"));
  check("out.recon", recon, g.t("out.recon"));
  for (const [name, { param }] of sae.params) check(`grad.${name}`, param.grad, g.t(`grad.${name}`));
  for (const [name, b] of sae.buffers) check(`state_after.${name}`, b.data, g.t(`state_after.${name}`));
  const known = new Set([
    ...[...sae.params.keys()].flatMap((n) => [`param.${n}`, `grad.${n}`]),
    ...[...sae.buffers.keys()].flatMap((n) => [`state.${n}`, `state_after.${n}`]),
  ]);
  const unchecked = g.names.filter((n) => /^(param|grad|state|state_after)\./.test(n) && !known.has(n));
  assert.deepEqual(unchecked, [], `${label}: golden tensors the module does not have`);
  return worst;
}

for (const c of CASES) {
  for (const decoder of ["dense", "sparse"] as const) {
    const on = decoder === "sparse";
    test(`${c} (${decoder} decoder): ref float64 matches the PyTorch reference to 1e-9`, (t) => {
      const worst = withDecoder(on, () => run<Float64Array>(readGolden(c), refBackend, "f64", 1e-9, c));
      t.diagnostic(`worst normwise error ${worst.toExponential(2)}`);
    });
    test(`${c} (${decoder} decoder): native float32 matches the PyTorch reference`, {
      skip: native ? false : "no native addon",
    }, (t) => {
      const worst = withDecoder(on, () => run<Float32Array>(readGolden(c), native!, "f32", 2e-5, c));
      t.diagnostic(`worst normwise error ${worst.toExponential(2)}`);
    });
  }
}
