// Global-norm clipping, the NaN guard and the row/column gradient-scale hooks, against float64
// loops written in this file; ref backend (f64, f32) and native (f32) when the addon loads.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Backend, FloatArray } from "../../src/core/backend.ts";
import { nativeBackend, refBackend } from "../../src/core/backends/index.ts";
import { Parameter } from "../../src/core/parameter.ts";
import { Rng } from "../../src/core/tensor.ts";
import { assertFiniteGradNorm, clipGradNorm, globalGradNorm } from "../../src/optim/clip.ts";
import { applyGradScales } from "../../src/optim/scale.ts";

type ArrayCtor = Float32ArrayConstructor | Float64ArrayConstructor;
const native = nativeBackend();
const cases: { label: string; backend: Backend; Arr: ArrayCtor; tol: number }[] = [
  { label: "ref f64", backend: refBackend, Arr: Float64Array, tol: 1e-13 },
  { label: "ref f32", backend: refBackend, Arr: Float32Array, tol: 1e-6 },
  ...(native ? [{ label: "native f32", backend: native, Arr: Float32Array as ArrayCtor, tol: 1e-6 }] : []),
];

function params(Arr: ArrayCtor, seed: number): Parameter<FloatArray>[] {
  const rng = new Rng(seed);
  const shapes: [string, number[]][] = [
    ["W_enc", [6, 10]],
    ["b_enc", [10]],
    ["W_dec", [10, 6]],
  ];
  return shapes.map(([name, shape]) => {
    const p = new Parameter<FloatArray>(name, new Arr(shape.reduce((a, b) => a * b, 1)), shape);
    rng.fillNormal(p.grad, 0.7);
    return p;
  });
}

/** sqrt(sum of squares) with a plain float64 loop. */
function naiveNorm(ps: Parameter<FloatArray>[]): number {
  let s = 0;
  for (const p of ps) for (let i = 0; i < p.grad.length; i++) s += p.grad[i] * p.grad[i];
  return Math.sqrt(s);
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-300, Math.abs(b));

for (const c of cases) {
  describe(`clipping on ${c.label}`, () => {
    test("norm is the sqrt of the sum of squares; clipped grads have norm maxNorm", () => {
      const ps = params(c.Arr, 1);
      const before = ps.map((p) => Array.from(p.grad));
      const norm0 = naiveNorm(ps);
      assert.ok(rel(globalGradNorm(ps, c.backend), norm0) < 1e-12, "rel(globalGradNorm(ps, c.backend), norm0) < 1e-12");
      const maxNorm = norm0 / 3;
      const { norm, scale } = clipGradNorm(ps, maxNorm, c.backend);
      assert.ok(rel(norm, norm0) < 1e-12, "rel(norm, norm0) < 1e-12");
      assert.ok(rel(scale, maxNorm / norm0) < 1e-12, "rel(scale, maxNorm / norm0) < 1e-12");
      assert.ok(rel(naiveNorm(ps), maxNorm) < c.tol, `clipped norm ${naiveNorm(ps)} vs ${maxNorm}`);
      ps.forEach((p, k) => {
        for (let i = 0; i < p.grad.length; i++)
          assert.ok(
            Math.abs(p.grad[i] - before[k][i] / 3) <= c.tol * (1 + Math.abs(before[k][i])),
            "Math.abs(p.grad[i] - before[k][i] / 3) <= c.tol * (1 + Math.abs(before[k][i]))",
          );
      });
    });

    test("no scaling when the norm is below maxNorm", () => {
      const ps = params(c.Arr, 2);
      const before = ps.map((p) => p.grad.slice());
      const norm0 = naiveNorm(ps);
      const { norm, scale } = clipGradNorm(ps, norm0 * 1.01, c.backend);
      assert.equal(scale, 1);
      assert.ok(rel(norm, norm0) < 1e-12, "rel(norm, norm0) < 1e-12");
      ps.forEach((p, k) => {
        assert.deepEqual(p.grad, before[k]);
      });
      assert.throws(() => clipGradNorm(ps, 0, c.backend), /maxNorm must be a finite number > 0, got 0/);
    });

    test("a NaN or inf gradient: norm reported, grads untouched, one-line error naming the parameter", () => {
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
        const ps = params(c.Arr, 3);
        ps[1].grad[7] = bad;
        ps[2].grad[0] = Number.NaN; // later parameter: the first one is named
        const before = ps.map((p) => p.grad.slice());
        const { norm, scale } = clipGradNorm(ps, 1e-3, c.backend);
        assert.ok(!Number.isFinite(norm), "!Number.isFinite(norm)");
        assert.equal(scale, 1);
        ps.forEach((p, k) => {
          assert.deepEqual(p.grad, before[k]);
        });
        assert.throws(
          () => assertFiniteGradNorm(norm, ps, 42),
          (e: Error) => {
            assert.match(e.message, new RegExp(`parameter "b_enc" \\[10\\] is ${bad} at index 7 at optimizer step 42`));
            assert.ok(!e.message.includes("\n"), '!e.message.includes("\\n")');
            return true;
          },
        );
      }
      assert.doesNotThrow(() => assertFiniteGradNorm(1.5, params(c.Arr, 4)));
    });
  });

  describe(`gradient scale hooks on ${c.label}`, () => {
    test("rowGradScale scales rows (and 1-D entries), colGradScale scales columns", () => {
      const rng = new Rng(9);
      const [Wenc, benc, Wdec] = params(c.Arr, 5); // [6, 10], [10], [10, 6]
      const plain = new Parameter<FloatArray>("plain", new c.Arr(4), [2, 2]);
      rng.fillNormal(plain.grad);
      const s = rng.fillUniform(new c.Arr(10), 0.5, 2);
      Wdec.rowGradScale = s;
      benc.rowGradScale = s;
      Wenc.colGradScale = s;
      const g = [Wenc, benc, Wdec, plain].map((p) => Array.from(p.grad));
      applyGradScales([Wenc, benc, Wdec, plain], c.backend);
      const check = (actual: FloatArray, expected: number[], what: string) => {
        for (let i = 0; i < expected.length; i++)
          assert.ok(Math.abs(actual[i] - expected[i]) <= c.tol * (1 + Math.abs(expected[i])), `${what}[${i}]`);
      };
      const wencExp: number[] = [];
      for (let r = 0; r < 6; r++) for (let j = 0; j < 10; j++) wencExp.push(g[0][r * 10 + j] * s[j]);
      const bencExp = g[1].map((x, j) => x * s[j]);
      const wdecExp: number[] = [];
      for (let r = 0; r < 10; r++) for (let j = 0; j < 6; j++) wdecExp.push(g[2][r * 6 + j] * s[r]);
      check(Wenc.grad, wencExp, "W_enc");
      check(benc.grad, bencExp, "b_enc");
      check(Wdec.grad, wdecExp, "W_dec");
      assert.deepEqual(Array.from(plain.grad), g[3]);
    });

    test("a scale of the wrong length or a column scale on a 1-D parameter throws", () => {
      const [Wenc, benc] = params(c.Arr, 6);
      Wenc.rowGradScale = new c.Arr(10);
      assert.throws(
        () => applyGradScales([Wenc], c.backend),
        /rowGradScale of parameter "W_enc" has 10 entries, expected 6/,
      );
      benc.colGradScale = new c.Arr(10);
      assert.throws(
        () => applyGradScales([benc], c.backend),
        /colGradScale is set on parameter "b_enc" of shape \[10\]/,
      );
    });
  });
}
