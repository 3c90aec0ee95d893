/**
 * Native vs ref parity, part 1: elementwise kernels, reductions and normalization layers, over odd
 * shapes (1, 7, 129, 1000-ish; 1x1, 7x129, 129x7, 33x1000, 1100x33), every option, and in-place
 * aliasing where backend.ts allows it. Tolerance and its justification: parity-util.ts.
 * Parts 2-4: kernels-nn.test.ts, kernels-convert.test.ts, kernels-errors.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Backend } from "../../src/core/backend.ts";
import { type IO, LENGTHS, native, normal, parity, parity2, Rng, SHAPES, skip, uniform } from "./parity-util.ts";

type F = Float32Array;
const f = (io: IO, k: string) => io[k] as F;
const maxAbs = (a: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};

describe("parity: elementwise", { skip }, () => {
  const rng = new Rng(11);

  test("add, mul, scale, axpy (and in place)", () => {
    for (const n of LENGTHS) {
      const io = { a: normal(rng, n), b: normal(rng, n), out: normal(rng, n) };
      const L = `n=${n}`;
      parity(`add ${L}`, io, (B, x) => B.add(f(x, "a"), f(x, "b"), f(x, "out")), ["out"]);
      parity(`mul ${L}`, io, (B, x) => B.mul(f(x, "a"), f(x, "b"), f(x, "out")), ["out"]);
      parity(`scale ${L}`, io, (B, x) => B.scale(f(x, "a"), -1.7, f(x, "out")), ["out"]);
      parity(`axpy ${L}`, io, (B, x) => B.axpy(0.3, f(x, "a"), f(x, "b")), ["b"]);
      // out aliasing the first input (a = a + b, a = a * b, a = s a)
      const ref = (B: Backend, x: IO) => B.add(f(x, "a"), f(x, "b"), f(x, "out"));
      parity2(`add in place ${L}`, io, ref, (B, x) => B.add(f(x, "a"), f(x, "b"), f(x, "a")), [["out", "a"]]);
      const refMul = (B: Backend, x: IO) => B.mul(f(x, "a"), f(x, "b"), f(x, "out"));
      parity2(`mul in place ${L}`, io, refMul, (B, x) => B.mul(f(x, "a"), f(x, "b"), f(x, "a")), [["out", "a"]]);
      const refScale = (B: Backend, x: IO) => B.scale(f(x, "a"), 2.5, f(x, "out"));
      parity2(`scale in place ${L}`, io, refScale, (B, x) => B.scale(f(x, "a"), 2.5, f(x, "a")), [["out", "a"]]);
    }
  });

  test("addBias, scaleRows, scaleCols (and in place)", () => {
    for (const [rows, cols] of SHAPES) {
      const L = `${rows}x${cols}`;
      const io = {
        x: normal(rng, rows * cols),
        c: normal(rng, cols),
        r: normal(rng, rows),
        out: normal(rng, rows * cols),
      };
      const ops: [string, (B: Backend, x: IO, out: string) => void][] = [
        ["addBias", (B, x, o) => B.addBias(f(x, "x"), f(x, "c"), rows, cols, f(x, o))],
        ["scaleRows", (B, x, o) => B.scaleRows(f(x, "x"), f(x, "r"), rows, cols, f(x, o))],
        ["scaleCols", (B, x, o) => B.scaleCols(f(x, "x"), f(x, "c"), rows, cols, f(x, o))],
      ];
      for (const [name, op] of ops) {
        parity(`${name} ${L}`, io, (B, x) => op(B, x, "out"), ["out"]);
        parity2(
          `${name} in place ${L}`,
          io,
          (B, x) => op(B, x, "out"),
          (B, x) => op(B, x, "x"),
          [["out", "x"]],
        );
      }
    }
  });

  test("relu, gelu, softcap forward and backward (and in place)", () => {
    for (const n of LENGTHS) {
      // Wide inputs reach GELU's tails (x^3 large, tanh saturated) and softcap's saturation.
      const io = { x: uniform(rng, n, -12, 12), dy: normal(rng, n), out: normal(rng, n), dx: normal(rng, n) };
      const L = `n=${n}`;
      for (const [name, fwd, bwd] of [
        ["relu", (B: Backend, x: IO, o: string) => B.relu(f(x, "x"), f(x, o)), "reluBackward"],
        ["gelu", (B: Backend, x: IO, o: string) => B.gelu(f(x, "x"), f(x, o)), "geluBackward"],
      ] as const) {
        parity(`${name} ${L}`, io, (B, x) => fwd(B, x, "out"), ["out"]);
        parity2(
          `${name} in place ${L}`,
          io,
          (B, x) => fwd(B, x, "out"),
          (B, x) => fwd(B, x, "x"),
          [["out", "x"]],
        );
        const back = (B: Backend, x: IO, o: string) =>
          (B[bwd] as Backend["geluBackward"]).call(B, f(x, "x"), f(x, "dy"), f(x, o));
        parity(`${bwd} ${L}`, io, (B, x) => back(B, x, "dx"), ["dx"]);
        parity2(
          `${bwd} dx=dy ${L}`,
          io,
          (B, x) => back(B, x, "dx"),
          (B, x) => back(B, x, "dy"),
          [["dx", "dy"]],
        );
      }
      for (const cap of [5, 30]) {
        const sc = { x: normal(rng, n, 3 * cap), dy: normal(rng, n), out: normal(rng, n), dx: normal(rng, n) };
        const fwd = (B: Backend, x: IO, o: string) => B.softcap(f(x, "x"), cap, f(x, o));
        parity(`softcap cap=${cap} ${L}`, sc, (B, x) => fwd(B, x, "out"), ["out"]);
        parity2(
          `softcap in place ${L}`,
          sc,
          (B, x) => fwd(B, x, "out"),
          (B, x) => fwd(B, x, "x"),
          [["out", "x"]],
        );
        // backward from the ref's forward output y (both backends get the same y)
        const y = sc.x.map((v) => cap * Math.tanh(v / cap));
        const bio = { y, dy: sc.dy, dx: sc.dx };
        const back = (B: Backend, x: IO, o: string) => B.softcapBackward(f(x, "y"), f(x, "dy"), cap, f(x, o));
        parity(`softcapBackward ${L}`, bio, (B, x) => back(B, x, "dx"), ["dx"]);
        parity2(
          `softcapBackward dx=dy ${L}`,
          bio,
          (B, x) => back(B, x, "dx"),
          (B, x) => back(B, x, "dy"),
          [["dx", "dy"]],
        );
      }
    }
  });

  test("gelu matches an independent float64 closed form at fixed points", () => {
    // Values of 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) worked out in float64 here, not by either backend.
    const xs = Float32Array.from([-30, -10, -3, -1, -0.1, 0, 1e-4, 0.5, 1, 3, 10, 100]);
    const out = new Float32Array(xs.length);
    native.gelu(xs, out);
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i];
      const want = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
      assert.ok(Math.abs(out[i] - want) <= 1e-6 * Math.max(1, Math.abs(want)), `gelu(${x}) = ${out[i]}, want ${want}`);
    }
  });
});

describe("parity: reductions", { skip }, () => {
  const rng = new Rng(12);

  test("sumRows, sumCols (accumulate true / false)", () => {
    for (const [rows, cols] of [...SHAPES, [0, 5] as [number, number], [600, 300] as [number, number]]) {
      for (const acc of [false, true]) {
        const L = `${rows}x${cols} acc=${acc}`;
        const io = { x: normal(rng, rows * cols), oc: normal(rng, cols), or: normal(rng, rows) };
        parity(`sumRows ${L}`, io, (B, x) => B.sumRows(f(x, "x"), rows, cols, f(x, "oc"), acc), ["oc"]);
        parity(`sumCols ${L}`, io, (B, x) => B.sumCols(f(x, "x"), rows, cols, f(x, "or"), acc), ["or"]);
      }
    }
  });

  test("colMeanVar (offset data: the variance must not cancel)", () => {
    for (const [rows, cols] of [...SHAPES, [600, 300] as [number, number]]) {
      const x = normal(rng, rows * cols);
      for (let i = 0; i < x.length; i++) x[i] += 100; // mean 100, variance 1: a one-pass E[x^2] - E[x]^2 in float32 fails here
      const io = { x, mean: new Float32Array(cols), variance: new Float32Array(cols) };
      parity(
        `colMeanVar ${rows}x${cols}`,
        io,
        (B, v) => B.colMeanVar(f(v, "x"), rows, cols, f(v, "mean"), f(v, "variance")),
        ["mean", "variance"],
      );
    }
  });

  test("sumSquares", () => {
    for (const n of [...LENGTHS, 300001]) {
      const x = normal(rng, n, 3);
      const r = parity(`sumSquares n=${n}`, { x }, (B, v) => B.sumSquares(f(v, "x")), []);
      const want = r.ref as number;
      assert.ok(
        Math.abs((r.native as number) - want) <= 1e-12 * Math.max(want, 1e-30),
        `sumSquares n=${n}: ${r.native} vs ${want}`,
      );
    }
  });
});

describe("parity: normalization", { skip }, () => {
  const rng = new Rng(13);
  const eps = 1e-5;

  test("layerNorm forward/backward, gamma/beta null or not, in place", () => {
    for (const [rows, cols] of SHAPES) {
      for (const affine of [false, true]) {
        const L = `${rows}x${cols} affine=${affine}`;
        const x = normal(rng, rows * cols, 2);
        for (let i = 0; i < x.length; i++) x[i] += 3;
        const io: IO = {
          x,
          gamma: normal(rng, cols),
          beta: normal(rng, cols),
          out: new Float32Array(rows * cols),
          mean: new Float32Array(rows),
          rstd: new Float32Array(rows),
        };
        const fwd = (B: Backend, v: IO, o: string) =>
          B.layerNorm(
            f(v, "x"),
            affine ? f(v, "gamma") : null,
            affine ? f(v, "beta") : null,
            rows,
            cols,
            eps,
            f(v, o),
            f(v, "mean"),
            f(v, "rstd"),
          );
        const { refIO } = parity(`layerNorm ${L}`, io, (B, v) => fwd(B, v, "out"), ["out", "mean", "rstd"]);
        parity2(
          `layerNorm in place ${L}`,
          io,
          (B, v) => fwd(B, v, "out"),
          (B, v) => fwd(B, v, "x"),
          [
            ["out", "x"],
            ["rstd", "rstd"],
          ],
        );
        // backward, from the ref's mean / rstd so both backends see the same statistics
        const bio: IO = {
          dy: normal(rng, rows * cols),
          x,
          gamma: io.gamma,
          mean: refIO.mean,
          rstd: refIO.rstd,
          dx: normal(rng, rows * cols),
          dgamma: normal(rng, cols),
          dbeta: normal(rng, cols),
        };
        // dx = rstd (g - mean g - xhat mean(g xhat)) cancels to 0 for cols = 1: floor at the size of rstd g
        const floor = { dx: maxAbs(refIO.rstd) * maxAbs(bio.dy) * (affine ? maxAbs(io.gamma) : 1) };
        for (const grads of [false, true]) {
          const back = (B: Backend, v: IO, o: string) =>
            B.layerNormBackward(
              f(v, "dy"),
              f(v, "x"),
              affine ? f(v, "gamma") : null,
              f(v, "mean"),
              f(v, "rstd"),
              rows,
              cols,
              f(v, o),
              grads ? f(v, "dgamma") : null,
              grads ? f(v, "dbeta") : null,
            );
          parity(`layerNormBackward ${L} grads=${grads}`, bio, (B, v) => back(B, v, "dx"), ["dx", "dgamma", "dbeta"], {
            floor,
          });
          parity2(
            `layerNormBackward dx=dy ${L}`,
            bio,
            (B, v) => back(B, v, "dx"),
            (B, v) => back(B, v, "dy"),
            [
              ["dx", "dy"],
              ["dgamma", "dgamma"],
              ["dbeta", "dbeta"],
            ],
            { floor },
          );
        }
      }
    }
  });

  test("rmsNorm forward/backward, offset 0 and 1, dw null or not, in place", () => {
    for (const [rows, cols] of SHAPES) {
      for (const offset of [0, 1]) {
        const L = `${rows}x${cols} offset=${offset}`;
        const x = normal(rng, rows * cols, 2);
        const io: IO = {
          x,
          w: normal(rng, cols, 0.5),
          out: new Float32Array(rows * cols),
          rstd: new Float32Array(rows),
        };
        const fwd = (B: Backend, v: IO, o: string) =>
          B.rmsNorm(f(v, "x"), f(v, "w"), offset, rows, cols, 1e-6, f(v, o), f(v, "rstd"));
        const { refIO } = parity(`rmsNorm ${L}`, io, (B, v) => fwd(B, v, "out"), ["out", "rstd"]);
        parity2(
          `rmsNorm in place ${L}`,
          io,
          (B, v) => fwd(B, v, "out"),
          (B, v) => fwd(B, v, "x"),
          [
            ["out", "x"],
            ["rstd", "rstd"],
          ],
        );
        const bio: IO = {
          dy: normal(rng, rows * cols),
          x,
          w: io.w,
          rstd: refIO.rstd,
          dx: normal(rng, rows * cols),
          dw: normal(rng, cols),
        };
        // dx = rstd s dy - x rstd^3 mean(dy s x) cancels to 0 for cols = 1: floor at the size of rstd s dy
        const floor = { dx: maxAbs(refIO.rstd) * maxAbs(bio.dy) * (maxAbs(io.w) + offset) };
        for (const withDw of [false, true]) {
          const back = (B: Backend, v: IO, o: string) =>
            B.rmsNormBackward(
              f(v, "dy"),
              f(v, "x"),
              f(v, "w"),
              offset,
              f(v, "rstd"),
              rows,
              cols,
              f(v, o),
              withDw ? f(v, "dw") : null,
            );
          parity(`rmsNormBackward ${L} dw=${withDw}`, bio, (B, v) => back(B, v, "dx"), ["dx", "dw"], { floor });
          parity2(
            `rmsNormBackward dx=dy ${L}`,
            bio,
            (B, v) => back(B, v, "dx"),
            (B, v) => back(B, v, "dy"),
            [
              ["dx", "dy"],
              ["dw", "dw"],
            ],
            { floor },
          );
        }
      }
    }
  });

  test("rmsNorm with the residual add (sum = residual + out) and rmsNormBackward with accumulate (dx +=)", () => {
    const rng = new Rng(77); // its own stream: the tests above keep their inputs
    for (const [rows, cols] of SHAPES) {
      const L = `${rows}x${cols}`;
      const io: IO = {
        x: normal(rng, rows * cols, 2),
        w: normal(rng, cols, 0.5),
        residual: normal(rng, rows * cols),
        out: new Float32Array(rows * cols),
        rstd: new Float32Array(rows),
        sum: new Float32Array(rows * cols),
        dy: normal(rng, rows * cols),
        dx: normal(rng, rows * cols),
        dw: normal(rng, cols),
      };
      const fwd = (B: Backend, v: IO) =>
        B.rmsNorm(f(v, "x"), f(v, "w"), 1, rows, cols, 1e-6, f(v, "out"), f(v, "rstd"), f(v, "residual"), f(v, "sum"));
      const r = parity(`rmsNorm + residual ${L}`, io, fwd, ["out", "rstd", "sum"]);
      const added = new Float32Array(rows * cols);
      native.add(f(io, "residual"), f(r.nativeIO, "out"), added);
      assert.deepEqual(r.nativeIO.sum, added, `${L}: sum != residual + out`);
      const bio: IO = { ...io, rstd: r.refIO.rstd };
      const back = (B: Backend, v: IO) =>
        B.rmsNormBackward(f(v, "dy"), f(v, "x"), f(v, "w"), 1, f(v, "rstd"), rows, cols, f(v, "dx"), f(v, "dw"), true);
      const floor = { dx: maxAbs(bio.dx) };
      const rb = parity(`rmsNormBackward accumulate ${L}`, bio, back, ["dx", "dw"], { floor });
      // accumulate = the plain gradient added to dx
      const plain = new Float32Array(rows * cols);
      native.rmsNormBackward(f(bio, "dy"), f(bio, "x"), f(bio, "w"), 1, f(bio, "rstd"), rows, cols, plain, null);
      native.add(f(bio, "dx"), plain, plain);
      const got = f(rb.nativeIO, "dx");
      for (let i = 0; i < plain.length; i++)
        assert.ok(Math.abs(got[i] - plain[i]) <= 1e-6 * (1 + Math.abs(plain[i])), `${L}: accumulate at ${i}`);
    }
  });
});
