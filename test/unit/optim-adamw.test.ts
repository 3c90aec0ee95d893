// AdamW against a hand-written scalar AdamW (float64 loops in this file), on the ref backend
// (float64 and float32 storage) and, when the addon loads, on the native backend (float32).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Backend, FloatArray } from "../../src/core/backend.ts";
import { nativeBackend, refBackend } from "../../src/core/backends/index.ts";
import { Parameter } from "../../src/core/parameter.ts";
import { Rng } from "../../src/core/tensor.ts";
import { AdamW } from "../../src/optim/adamw.ts";

type ArrayCtor = Float32ArrayConstructor | Float64ArrayConstructor;
interface Case {
  label: string;
  backend: Backend;
  Arr: ArrayCtor;
  tol: number;
}
const native = nativeBackend();
const cases: Case[] = [
  { label: "ref f64", backend: refBackend, Arr: Float64Array, tol: 1e-12 },
  { label: "ref f32", backend: refBackend, Arr: Float32Array, tol: 2e-6 },
  ...(native ? [{ label: "native f32", backend: native, Arr: Float32Array as ArrayCtor, tol: 2e-6 }] : []),
];

function makeParam(Arr: ArrayCtor, name: string, shape: number[], rng: Rng, decay?: boolean): Parameter<FloatArray> {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Arr(n);
  rng.fillUniform(data, -1, 1);
  return new Parameter<FloatArray>(name, data, shape, decay);
}

function fillGrads(params: Parameter<FloatArray>[], rng: Rng): void {
  for (const p of params) rng.fillNormal(p.grad, 0.5);
}

/** Scalar AdamW on plain float64 arrays, written out from the paper's algorithm. */
class ScalarAdamW {
  m: number[];
  v: number[];
  p: number[];
  constructor(init: ArrayLike<number>) {
    this.p = Array.from(init);
    this.m = this.p.map(() => 0);
    this.v = this.p.map(() => 0);
  }
  step(g: ArrayLike<number>, t: number, lr: number, wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): void {
    for (let i = 0; i < this.p.length; i++) {
      this.m[i] = b1 * this.m[i] + (1 - b1) * g[i];
      this.v[i] = b2 * this.v[i] + (1 - b2) * g[i] * g[i];
      const mHat = this.m[i] / (1 - b1 ** t);
      const vHat = this.v[i] / (1 - b2 ** t);
      this.p[i] = this.p[i] - lr * wd * this.p[i] - (lr * mHat) / (Math.sqrt(vHat) + eps);
    }
  }
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= tol * (1 + Math.abs(expected[i]))))
      assert.fail(`${what}[${i}] = ${actual[i]}, expected ${expected[i]} (|diff| ${err})`);
  }
}

for (const c of cases) {
  describe(`AdamW on ${c.label}`, () => {
    test("matches a scalar AdamW over 10 steps: groups with own lr/wd, decay=false, setLr", () => {
      const rng = new Rng(7);
      const W = makeParam(c.Arr, "W", [3, 4], rng); // decays (2-D)
      const b = makeParam(c.Arr, "b", [4], rng); // no decay (1-D default)
      const U = makeParam(c.Arr, "U", [2, 3], rng);
      const G = makeParam(c.Arr, "G", [2, 2], rng, false); // 2-D but decay=false
      const opt = new AdamW([{ params: [W, b] }, { params: [U, G], lr: 3e-2, weightDecay: 0.5 }], {
        lr: 1e-2,
        weightDecay: 0.1,
        backend: c.backend,
      });
      // expected (lr factor relative to the base lr, weight decay) per parameter
      const spec: [Parameter<FloatArray>, number, number][] = [
        [W, 1, 0.1],
        [b, 1, 0],
        [U, 3, 0.5],
        [G, 3, 0],
      ];
      const refs = spec.map(([p]) => new ScalarAdamW(p.data));
      for (let t = 1; t <= 10; t++) {
        const base = t <= 6 ? 1e-2 : 4e-3;
        if (t === 7) opt.setLr(4e-3);
        fillGrads(opt.params, rng);
        spec.forEach(([p, factor, wd], i) => {
          refs[i].step(p.grad, t, base * factor, wd);
        });
        opt.step();
        assert.equal(opt.stepCount, t);
      }
      spec.forEach(([p, factor, wd], i) => {
        assertClose(p.data, refs[i].p, c.tol, `${p.name} after 10 steps`);
        assert.ok(Math.abs(opt.lrOf(p) - 4e-3 * factor) < 1e-15, "Math.abs(opt.lrOf(p) - 4e-3 * factor) < 1e-15");
        assert.equal(opt.weightDecayOf(p), wd);
      });
      const st = opt.state();
      assertClose(st.m.U, refs[2].m, c.tol, "m of U");
      assertClose(st.v.U, refs[2].v, c.tol, "v of U");
    });

    test("step 1 with wd = 0 moves every entry by lr * sign(g) (bias correction)", () => {
      const n = 9;
      const p = new Parameter<FloatArray>("p", new c.Arr(n), [n]);
      const g = [1e-3, -2e-3, 0.5, -0.75, 3, -40, 1e3, -1e2, 7e-2];
      p.grad.set(g);
      const lr = 0.0625;
      const opt = new AdamW([p], { lr, eps: 1e-30, backend: c.backend });
      opt.step();
      for (let i = 0; i < n; i++) {
        const expected = -lr * Math.sign(g[i]);
        assert.ok(Math.abs(p.data[i] - expected) <= lr * (c.Arr === Float64Array ? 1e-15 : 1e-6), `entry ${i}`);
      }
    });

    test("state() / loadState() then continuing equals an uninterrupted run bit-for-bit", () => {
      const build = () => {
        const rng = new Rng(11);
        const W = makeParam(c.Arr, "W", [4, 5], rng);
        const b = makeParam(c.Arr, "b", [5], rng);
        return { W, b, opt: new AdamW([W, b], { lr: 5e-3, weightDecay: 1e-2, backend: c.backend }) };
      };
      const grads = (t: number, p: Parameter<FloatArray>) => new Rng(1000 * t + p.data.length).fillNormal(p.grad, 1);
      const straight = build();
      for (let t = 1; t <= 10; t++) {
        for (const p of straight.opt.params) grads(t, p);
        straight.opt.step();
      }
      const first = build();
      for (let t = 1; t <= 5; t++) {
        for (const p of first.opt.params) grads(t, p);
        first.opt.step();
      }
      const snapshot = first.opt.state();
      const savedW = first.W.data.slice();
      const savedB = first.b.data.slice();
      // keep training the first run: the snapshot must be a copy, unaffected
      for (const p of first.opt.params) grads(99, p);
      first.opt.step();
      const resumed = build();
      resumed.W.data.set(savedW);
      resumed.b.data.set(savedB);
      resumed.opt.loadState(snapshot);
      assert.equal(resumed.opt.stepCount, 5);
      for (let t = 6; t <= 10; t++) {
        for (const p of resumed.opt.params) grads(t, p);
        resumed.opt.step();
      }
      assert.deepEqual(resumed.W.data, straight.W.data);
      assert.deepEqual(resumed.b.data, straight.b.data);
      assert.deepEqual(resumed.opt.state(), straight.opt.state());
    });

    test("loadState rejects a state missing a parameter or with a wrong size", () => {
      const rng = new Rng(3);
      const W = makeParam(c.Arr, "W", [2, 2], rng);
      const opt = new AdamW([W], { lr: 1e-3, backend: c.backend });
      assert.throws(() => opt.loadState({ step: 1, lr: 1e-3, m: {}, v: {} }), /no m for parameter "W"/);
      const bad = { step: 1, lr: 1e-3, m: { W: new c.Arr(3) }, v: { W: new c.Arr(4) } };
      assert.throws(() => opt.loadState(bad), /m of "W" has 3 entries, expected 4/);
    });

    test("resetRows / resetCols zero exactly those rows / columns of m and v", () => {
      const rng = new Rng(5);
      const Wdec = makeParam(c.Arr, "W_dec", [5, 3], rng);
      const Wenc = makeParam(c.Arr, "W_enc", [3, 5], rng);
      const benc = makeParam(c.Arr, "b_enc", [5], rng);
      const opt = new AdamW([Wdec, Wenc, benc], { lr: 1e-2, backend: c.backend });
      for (let t = 0; t < 2; t++) {
        for (const p of opt.params) rng.fillUniform(p.grad, 0.5, 1); // nonzero everywhere
        opt.step();
      }
      const before = opt.state();
      opt.resetRows(Wdec, [1, 3]);
      opt.resetCols(Wenc, [0, 4]);
      opt.resetRows(benc, [2]);
      const after = opt.state();
      for (const key of ["m", "v"] as const) {
        for (let r = 0; r < 5; r++)
          for (let j = 0; j < 3; j++) {
            const i = r * 3 + j;
            const want = r === 1 || r === 3 ? 0 : before[key].W_dec[i];
            assert.equal(after[key].W_dec[i], want, `${key} W_dec[${r}, ${j}]`);
            assert.notEqual(before[key].W_dec[i], 0);
          }
        for (let r = 0; r < 3; r++)
          for (let j = 0; j < 5; j++) {
            const i = r * 5 + j;
            const want = j === 0 || j === 4 ? 0 : before[key].W_enc[i];
            assert.equal(after[key].W_enc[i], want, `${key} W_enc[${r}, ${j}]`);
          }
        for (let j = 0; j < 5; j++) assert.equal(after[key].b_enc[j], j === 2 ? 0 : before[key].b_enc[j]);
      }
      // a reset row restarts its moments: at step t = 3 with gradient g, m = (1-b1) g, v = (1-b2) g^2
      const p0 = Wdec.data.slice();
      Wdec.grad.fill(0.25);
      opt.step();
      const mHat = (0.1 * 0.25) / (1 - 0.9 ** 3);
      const vHat = (0.001 * 0.0625) / (1 - 0.999 ** 3);
      const upd = (1e-2 * mHat) / (Math.sqrt(vHat) + 1e-8);
      assertClose([Wdec.data[3], Wdec.data[10]], [p0[3] - upd, p0[10] - upd], c.tol, "reset rows after a step");
    });

    test("bad input gives one-line errors", () => {
      const rng = new Rng(1);
      const W = makeParam(c.Arr, "W", [2, 3], rng);
      const b = makeParam(c.Arr, "b", [3], rng);
      const opt = new AdamW([W], { lr: 1e-3, backend: c.backend });
      assert.throws(() => opt.resetRows(W, [2]), /row 2 is outside \[0, 2\) of parameter "W"/);
      assert.throws(() => opt.resetCols(W, [-1]), /column -1 is outside \[0, 3\)/);
      assert.throws(() => opt.resetRows(b, [0]), /"b" is not managed by this optimizer/);
      const opt2 = new AdamW([b], { lr: 1e-3, backend: c.backend });
      assert.throws(() => opt2.resetCols(b, [0]), /expected 2-D/);
      assert.throws(() => new AdamW([W], { lr: 0, backend: c.backend }), /lr must be a finite number > 0, got 0/);
      assert.throws(() => new AdamW([W], { lr: 1e-3, beta2: 1, backend: c.backend }), /beta2 must be in \[0, 1\)/);
      assert.throws(
        () => new AdamW([{ params: [W] }, { params: [W] }], { lr: 1e-3, backend: c.backend }),
        /more than one/,
      );
      assert.throws(() => new AdamW([], { lr: 1e-3, backend: c.backend }), /no parameters/);
    });
  });
}

test("back-to-back views of one flat buffer run as one update per (lr, decay) run, equal to separate tensors", () => {
  for (const backend of [refBackend, ...(nativeBackend() ? [nativeBackend() as Backend] : [])]) {
    const rng = new Rng(5);
    const sizes = [6, 10, 4, 3];
    const decays = [true, true, false, false];
    const total = sizes.reduce((a, b) => a + b, 0);
    const flat = rng.fillNormal(new Float32Array(total));
    const flatGrad = new Float32Array(total);
    let o = 0;
    const views = sizes.map((n, i) => {
      const p = new Parameter(
        `p${i}`,
        flat.subarray(o, o + n),
        decays[i] ? [n, 1] : [n],
        decays[i],
        flatGrad.subarray(o, o + n),
      );
      o += n;
      return p;
    });
    const separate = views.map((p) => new Parameter(p.name, Float32Array.from(p.data), p.shape, p.decay));
    const a = new AdamW([{ params: views, weightDecay: 0.1 }], { lr: 1e-2, backend });
    const b = new AdamW([{ params: separate, weightDecay: 0.1 }], { lr: 1e-2, backend });
    assert.equal(a.gradBuffers().length, 2); // the decayed matrices, the gains
    assert.equal(b.gradBuffers().length, 4);
    for (let step = 0; step < 3; step++) {
      for (const [i, p] of views.entries()) {
        rng.fillNormal(p.grad);
        separate[i].grad.set(p.grad);
      }
      a.step();
      b.step();
      a.zeroGrad();
      b.zeroGrad();
    }
    for (const [i, p] of views.entries()) {
      assert.deepEqual(p.data, separate[i].data, `${backend.name} ${p.name}`);
      assert.ok(p.grad.every((g) => g === 0));
    }
    const sa = a.state();
    const sb = b.state();
    for (const p of views) assert.deepEqual(sa.m[p.name], sb.m[p.name]);
  }
});
