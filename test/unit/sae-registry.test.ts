// The registry (src/sae/registry.ts) over the whole SaeArch union. CASES is a Record<SaeArch, ...>,
// so a variant added to the union without an entry here (its gradient check and its save/load
// round trip) does not compile. For every arch, through SAE_FACTORIES:
//   - every trainable parameter's gradient (a sample of entries) against central finite
//     differences of the module's total loss in float64 on the ref backend (state frozen),
//     except the entries the table excludes, each with its reason (straight-through or
//     stop-gradient terms, checked against their closed forms in the variant's own test);
//   - save -> load (src/sae/save.ts, load.ts) gives byte-identical tensors and the same forward.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseSaeHyper } from "../../src/config/sae.ts";
import type { FloatArray } from "../../src/core/backend.ts";
import { refBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import { loadSae } from "../../src/sae/load.ts";
import { SAE_FACTORIES } from "../../src/sae/registry.ts";
import { saveSae } from "../../src/sae/save.ts";
import { PAPER_ARCHS, type SaeArch, type SaeModule } from "../../src/sae/types.ts";
import { randomValues } from "../helpers/sae-baselines.ts";
import { randomInput, randomize } from "../helpers/sae-fixtures.ts";

interface Case {
  d: number;
  m: number;
  /** Parameters whose analytic gradient is not the derivative of the total loss, and why. */
  notFd: Record<string, string>;
}

const CASES: Record<SaeArch, Case> = {
  base: { d: 8, m: 16, notFd: {} },
  layernorm: { d: 8, m: 16, notFd: {} },
  adaptive: { d: 8, m: 16, notFd: {} },
  attention: { d: 8, m: 16, notFd: {} },
  multiscale: { d: 8, m: 16, notFd: {} },
  relu: { d: 8, m: 16, notFd: {} },
  topk: { d: 8, m: 16, notFd: {} },
  batchtopk: { d: 8, m: 16, notFd: {} },
  jumprelu: { d: 8, m: 16, notFd: { threshold: "straight-through estimator (closed form in sae-baselines-grad)" } },
  gated: {
    d: 8,
    m: 16,
    notFd: {
      W_dec: "the auxiliary loss uses sg(W_dec)",
      b_dec: "the auxiliary loss uses sg(b_dec)",
    },
  },
  matryoshka: { d: 8, m: 32, notFd: {} },
};

const ROWS = 12;
const root = mkdtempSync(join(tmpdir(), "msae-registry-"));
after(() => rmSync(root, { recursive: true, force: true }));

function build(arch: SaeArch, c: Case): { sae: SaeModule<Float64Array>; x: Float64Array } {
  const hyper = parseSaeHyper({ arch, m: c.m, l1: 0.05, l2: 0.1, k: 3, auxK: 4 }, c.d, "test");
  const first = randomInput<Float64Array>(6, c.d, 3, "f64");
  const sae = SAE_FACTORIES[arch]<Float64Array>(hyper, refBackend, {
    arrayType: "f64",
    seed: 7,
    firstBatch: first,
    rows: 6,
  });
  if ((PAPER_ARCHS as readonly string[]).includes(arch)) randomize(sae, 11);
  else {
    const rng = new Rng(5);
    for (const [name, { param }] of sae.params) param.data.set(randomValues(name, param.data.length, c.d, rng));
  }
  return { sae, x: randomInput<Float64Array>(ROWS, c.d, 9, "f64") };
}

const opts = { gradWeight: 1, deadMask: null, updateState: false };

for (const arch of Object.keys(CASES) as SaeArch[]) {
  const c = CASES[arch];
  test(`${arch}: gradients match central differences of the total loss (ref f64, via SAE_FACTORIES)`, () => {
    const { sae, x } = build(arch, c);
    for (const { param } of sae.params.values()) param.grad.fill(0);
    sae.trainBatch(x, ROWS, opts);
    const analytic = new Map([...sae.params].map(([n, { param }]) => [n, Float64Array.from(param.grad)]));
    const loss = () => sae.trainBatch(x, ROWS, { ...opts, gradWeight: 0 }).total;
    const rng = new Rng(13);
    let worst = 0;
    let checked = 0;
    for (const [name, { param }] of sae.params) {
      if (name in c.notFd) continue;
      const n = param.data.length;
      for (let s = 0; s < Math.min(n, 10); s++) {
        const i = n <= 10 ? s : rng.int(n);
        const keep = param.data[i];
        const h = 1e-6;
        param.data[i] = keep + h;
        const up = loss();
        param.data[i] = keep - h;
        const down = loss();
        param.data[i] = keep;
        const fd = (up - down) / (2 * h);
        const g = analytic.get(name)![i];
        const err = Math.abs(fd - g) / Math.max(1, Math.abs(fd), Math.abs(g));
        assert.ok(err < 1e-6, `${name}[${i}]: analytic ${g} vs finite difference ${fd}`);
        worst = Math.max(worst, err);
        checked++;
      }
    }
    assert.ok(checked >= 30, `${checked} entries checked`);
  });

  test(`${arch}: save -> load through SAE_FACTORIES is byte-identical with the same forward`, () => {
    const { sae, x } = build(arch, c);
    sae.trainBatch(x, ROWS, { ...opts, updateState: true }); // non-initial state (thresholds, run stats)
    const folder = join(root, arch);
    saveSae(folder, sae, { scale: 1 });
    const loaded = loadSae<Float64Array>(folder, SAE_FACTORIES, refBackend, { arrayType: "f64" }).sae;
    assert.equal(loaded.arch, arch);
    const bytes = (a: FloatArray) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    for (const [name, { param }] of sae.params)
      assert.ok(bytes(loaded.params.get(name)!.param.data).equals(bytes(param.data)), `param ${name}`);
    for (const [name, b] of sae.buffers)
      if (b.inWeights) assert.ok(bytes(loaded.buffers.get(name)!.data).equals(bytes(b.data)), `buffer ${name}`);
    const run = (s: SaeModule<Float64Array>) => {
      const codes = new Float64Array(ROWS * c.m);
      const recon = new Float64Array(ROWS * c.d);
      s.forward(x, ROWS, codes, recon);
      return [...codes, ...recon];
    };
    assert.deepEqual(run(loaded), run(sae));
  });
}
