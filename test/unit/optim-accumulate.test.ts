// Gradient accumulation: 4 micro-batches of a linear least-squares problem give the full-batch
// gradient (computed with float64 loops here); hooks before clipping; flush; NaN guard.
// The gradient the optimizer sees is captured in the schedule callback, which runs after
// averaging, hooks and clipping, just before AdamW's step.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Backend, FloatArray } from "../../src/core/backend.ts";
import { nativeBackend, refBackend } from "../../src/core/backends/index.ts";
import { Parameter } from "../../src/core/parameter.ts";
import { Rng } from "../../src/core/tensor.ts";
import { GradAccumulator } from "../../src/optim/accumulate.ts";
import { AdamW } from "../../src/optim/adamw.ts";

type ArrayCtor = Float32ArrayConstructor | Float64ArrayConstructor;
const native = nativeBackend();
const cases: { label: string; backend: Backend; Arr: ArrayCtor; tol: number }[] = [
  { label: "ref f64", backend: refBackend, Arr: Float64Array, tol: 1e-12 },
  { label: "ref f32", backend: refBackend, Arr: Float32Array, tol: 2e-6 },
  ...(native ? [{ label: "native f32", backend: native, Arr: Float32Array as ArrayCtor, tol: 2e-6 }] : []),
];

const B = 16; // rows of the full batch
const D = 3; // features
const rng = new Rng(21);
const X = rng.fillNormal(new Float64Array(B * D)); // [B, D]
const y = rng.fillNormal(new Float64Array(B)); // [B]
const w0 = [0.3, -0.2, 0.5];

/** Gradient of mean_{b in rows} (x_b . w - y_b)^2 w.r.t. w: (2 / |rows|) sum_b (x_b . w - y_b) x_b. */
function lsqGrad(w: ArrayLike<number>, from: number, to: number): number[] {
  const g = [0, 0, 0];
  for (let b = from; b < to; b++) {
    let r = -y[b];
    for (let j = 0; j < D; j++) r += X[b * D + j] * w[j];
    for (let j = 0; j < D; j++) g[j] += (2 / (to - from)) * r * X[b * D + j];
  }
  return g;
}

function setup(c: (typeof cases)[number], extra: Partial<ConstructorParameters<typeof GradAccumulator>[0]> = {}) {
  const w = new Parameter<FloatArray>("w", c.Arr.from(w0), [D]);
  const opt = new AdamW([w], { lr: 1e-2, backend: c.backend });
  let seen: number[] = [];
  const acc = new GradAccumulator({
    optimizer: opt,
    microBatches: 4,
    maxGradNorm: null,
    schedule: {
      lrAt: () => {
        seen = Array.from(w.grad);
        return 1e-2;
      },
    },
    ...extra,
  });
  return { w, opt, acc, seen: () => seen };
}

/** Micro-batch k of 4 rows: add its (scaled) gradient into w.grad, as autograd would. */
function backwardMicro(w: Parameter<FloatArray>, k: number, lossScale: number): void {
  const g = lsqGrad(w.data, 4 * k, 4 * k + 4);
  for (let j = 0; j < D; j++) w.grad[j] += lossScale * g[j];
}

const assertClose = (a: ArrayLike<number>, e: ArrayLike<number>, tol: number, what: string) => {
  for (let i = 0; i < e.length; i++)
    assert.ok(Math.abs(a[i] - e[i]) <= tol * (1 + Math.abs(e[i])), `${what}[${i}]: ${a[i]} vs ${e[i]}`);
};

for (const c of cases) {
  describe(`gradient accumulation on ${c.label}`, () => {
    for (const averaging of ["divide", "lossScale"] as const) {
      test(`4 micro-batches give the full-batch gradient (${averaging})`, () => {
        const { w, opt, acc, seen } = setup(c, { averaging });
        const full = lsqGrad(w.data, 0, B);
        const flags: boolean[] = [];
        for (let k = 0; k < 4; k++) {
          backwardMicro(w, k, acc.lossScale);
          flags.push(acc.microStep().stepped);
        }
        assert.deepEqual(flags, [false, false, false, true]);
        assertClose(seen(), full, c.tol, "gradient seen by the optimizer");
        assert.equal(opt.stepCount, 1);
        assert.deepEqual(Array.from(w.grad), [0, 0, 0]);
        assert.equal(acc.pending, 0);
      });
    }

    /** Backward + microStep for the 4 micro-batches; returns the result of each call. */
    const runFour = (w: Parameter<FloatArray>, acc: GradAccumulator) =>
      [0, 1, 2, 3].map((k) => {
        backwardMicro(w, k, acc.lossScale);
        return acc.microStep();
      });

    test("clipping after averaging: reported norm is the full-batch norm, the step sees maxNorm", () => {
      const full = lsqGrad(w0, 0, B);
      const fullNorm = Math.hypot(...full);
      const { w, acc, seen } = setup(c, { maxGradNorm: fullNorm / 4 });
      const last = runFour(w, acc)[3];
      assert.ok(last.stepped, "last.stepped");
      assert.ok(Math.abs(last.gradNorm - fullNorm) <= c.tol * fullNorm, `${last.gradNorm} vs ${fullNorm}`);
      assert.ok(Math.abs(last.clipScale - 0.25) <= c.tol, "Math.abs(last.clipScale - 0.25) <= c.tol");
      assertClose(
        seen(),
        full.map((g) => g / 4),
        c.tol,
        "clipped gradient",
      );
    });

    test("scale hooks run on the averaged gradient, before clipping", () => {
      const full = lsqGrad(w0, 0, B);
      const hooked = [2 * full[0], 0.5 * full[1], full[2]];
      const hookedNorm = Math.hypot(...hooked);
      const { w, acc, seen } = setup(c, { maxGradNorm: hookedNorm / 2 });
      w.rowGradScale = c.Arr.from([2, 0.5, 1]); // a 1-D parameter: one scale per entry
      const last = runFour(w, acc)[3];
      assert.ok(last.stepped, "last.stepped");
      assert.ok(
        Math.abs(last.gradNorm - hookedNorm) <= c.tol * hookedNorm,
        "Math.abs(last.gradNorm - hookedNorm) <= c.tol * hookedNorm",
      );
      assertClose(
        seen(),
        hooked.map((g) => g / 2),
        c.tol,
        "hooked then clipped gradient",
      );
    });

    test("flush steps with the k < N pending micro-batches, averaged over k", () => {
      const { w, acc, seen } = setup(c);
      for (let k = 0; k < 3; k++) {
        backwardMicro(w, k, 1);
        assert.equal(acc.microStep().stepped, false);
      }
      const r = acc.flush();
      assert.ok(r.stepped, "r.stepped");
      assertClose(seen(), lsqGrad(w0, 0, 12), c.tol, "3-batch average");
      assert.equal(acc.flush().stepped, false);
    });

    test("a NaN gradient stops the step with a one-line error naming the parameter", () => {
      const { w, opt, acc } = setup(c);
      const before = Array.from(w.data);
      for (let k = 0; k < 3; k++) {
        backwardMicro(w, k, 1);
        acc.microStep();
      }
      w.grad[1] = Number.NaN;
      assert.throws(() => acc.microStep(), /gradient of parameter "w" \[3\] is NaN at index 1 at optimizer step 1;/);
      assert.equal(opt.stepCount, 0);
      assert.deepEqual(Array.from(w.data), before);
    });
  });
}
