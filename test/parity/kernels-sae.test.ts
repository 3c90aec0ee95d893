/**
 * Native vs ref parity, part 4: the evaluation kernels (logitSoftmax, logitCompare:
 * src/core/backend-eval.ts) and the SAE training kernels (sqDiff, activeStats, addWherePositive,
 * scaleNormForward / Backward in single- and multi-scale, adaptive and not, denormalize and its
 * backward: src/core/backend-sae.ts), over shapes that take the serial and the OpenMP paths, and a
 * direct check of the float64 outputs. Tolerance: parity-util.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Backend } from "../../src/core/backend.ts";
import type { ScaleNormConstants } from "../../src/core/backend-sae.ts";
import {
  assertClose,
  assertExact,
  assertThrowsOneLine,
  type IO,
  native,
  normal,
  parity,
  Rng,
  ref,
  SHAPES,
  skip,
  uniform,
} from "./parity-util.ts";

type F = Float32Array;
const f = (io: IO, k: string) => io[k] as F;

/** Relative error of float64 results against the ref's, scaled by the largest |ref| (parity-util's rule). */
function closeF64(label: string, got: Float64Array, want: Float64Array, tol = 1e-5): void {
  assertClose(label, got, want, tol);
}

describe("parity: evaluation logit kernels", { skip }, () => {
  const rng = new Rng(71);
  for (const [rows, V] of [
    [1, 1],
    [3, 7],
    [5, 8192],
    [40, 1000],
  ] as [number, number][]) {
    test(`logitSoftmax and logitCompare ${rows}x${V}`, () => {
      const l = normal(rng, rows * V, 3);
      const q = l.map((v) => v + 0.3 * rng.normal());
      const run = (B: Backend) => {
        const p = new Float32Array(rows * V);
        const lse = new Float64Array(rows);
        const pl = new Float64Array(rows);
        const lseQ = new Float64Array(rows);
        const pq = new Float64Array(rows);
        B.logitSoftmax(l, rows, V, p, lse, pl);
        B.logitCompare(p, q, rows, V, lseQ, pq);
        return { p, lse, pl, lseQ, pq };
      };
      const r = run(ref);
      const n = run(native);
      assertClose("p", n.p, r.p);
      for (const k of ["lse", "pl", "lseQ", "pq"] as const) closeF64(k, n[k], r[k]);
      // The KL term pl - pq is a difference of sums of size ~|l|: compare at that scale.
      for (let i = 0; i < rows; i++) {
        const want = r.pl[i] - r.pq[i];
        assert.ok(Math.abs(n.pl[i] - n.pq[i] - want) <= 1e-5 * (1 + Math.abs(r.pl[i])), `KL term row ${i}`);
      }
      // Independent: KL(p || softmax(q)) = pl - pq + lseQ - lse >= 0 (float64 ref), and 0 for q = l.
      for (let i = 0; i < rows; i++) assert.ok(r.pl[i] - r.pq[i] + r.lseQ[i] - r.lse[i] >= -1e-9);
      const lq2 = new Float64Array(rows);
      const pq2 = new Float64Array(rows);
      native.logitCompare(n.p, l, rows, V, lq2, pq2);
      for (let i = 0; i < rows; i++) {
        assert.equal(lq2[i], n.lse[i], "the same logits give the same log-sum-exp");
        assert.equal(pq2[i], n.pl[i], "KL(p || p) = 0 exactly");
      }
    });
  }
  test("bad lengths and types are one-line errors", () => {
    const l = new Float32Array(6);
    const f64 = (n: number) => new Float64Array(n);
    assertThrowsOneLine(
      "lse length",
      () => native.logitSoftmax(l, 2, 3, new Float32Array(6), f64(3), f64(2)),
      RangeError,
    );
    assertThrowsOneLine(
      "lse type",
      () => native.logitSoftmax(l, 2, 3, new Float32Array(6), new Float32Array(2) as unknown as Float64Array, f64(2)),
      TypeError,
    );
    assertThrowsOneLine(
      "q length",
      () => native.logitCompare(l, new Float32Array(5), 2, 3, f64(2), f64(2)),
      RangeError,
    );
  });
});

describe("parity: SAE loss and code statistics", { skip }, () => {
  const rng = new Rng(72);
  test("sqDiff returns sum (a - b)^2 and writes scale (a - b)", () => {
    for (const n of [0, 1, 7, 1000, 70001]) {
      const io: IO = { a: normal(rng, n), b: normal(rng, n), out: new Float32Array(n) };
      const { ref: r, native: v } = parity(
        `sqDiff ${n}`,
        io,
        (B, x) => B.sqDiff(f(x, "a"), f(x, "b"), 0.25, f(x, "out")),
        ["out"],
      );
      assert.ok(Math.abs((v as number) - (r as number)) <= 1e-6 * Math.max(1, r as number), `sqDiff ${n} sum`);
      assert.equal(native.sqDiff(io.a as F, io.b as F, 1, null), v, "out = null gives the same sum");
    }
  });
  test("activeStats counts nonzeros, sums, and adds per-column positives", () => {
    for (const [rows, cols] of [...SHAPES, [2048, 256] as [number, number]]) {
      const x = normal(rng, rows * cols).map((v) => (v < 0.5 ? 0 : v));
      for (let i = 0; i < x.length; i += 11) x[i] = -x[i]; // some negative entries: nonzero but not positive
      const run = (B: Backend) => {
        const counts = new Int32Array(cols).fill(3); // accumulates
        const stats = new Float64Array(2);
        B.activeStats(x, rows, cols, counts, stats);
        return { counts, stats };
      };
      const r = run(ref);
      const n = run(native);
      assertExact(`counts ${rows}x${cols}`, n.counts, r.counts);
      assert.equal(n.stats[0], r.stats[0]);
      assert.ok(Math.abs(n.stats[1] - r.stats[1]) <= 1e-5 * Math.max(1, Math.abs(r.stats[1])));
      // Independent count.
      let nz = 0;
      for (const v of x) if (v !== 0) nz++;
      assert.equal(r.stats[0], nz);
      const st = new Float64Array(2);
      native.activeStats(x, rows, cols, null, st);
      assert.equal(st[0], nz, "counts = null");
    }
  });
  test("addWherePositive", () => {
    for (const n of [0, 7, 70001]) {
      const io: IO = { x: normal(rng, n), y: normal(rng, n) };
      parity(`addWherePositive ${n}`, io, (B, v) => B.addWherePositive(f(v, "x"), 0.7, f(v, "y")), ["y"]);
    }
  });
});

describe("parity: the paper's input normalization kernels", { skip }, () => {
  const rng = new Rng(73);
  for (const S of [1, 4]) {
    for (const adaptive of [false, true]) {
      for (const [rows, d] of [
        [1, 1],
        [7, 129],
        [600, 96],
      ] as [number, number][]) {
        test(`scale norm S=${S} adaptive=${adaptive} ${rows}x${d}`, () => {
          const a = adaptive ? 0.7 : 1;
          const k: ScaleNormConstants = {
            a,
            eps: 1e-5,
            omRm: adaptive ? normal(rng, d, 0.3) : new Float32Array(d),
            omRv: adaptive ? uniform(rng, d, 0.05, 0.5) : new Float32Array(d),
            coef: uniform(rng, S * d, 0.2, 1.5),
            scales: new Float32Array(S === 4 ? [0.1, 0.5, 1, 2] : [1]),
          };
          const x = normal(rng, rows * d, 2).map((v, i) => v + (i % 5));
          const shift = normal(rng, d, 0.1);
          const dn = normal(rng, rows * d);
          const rm = normal(rng, d, 0.5);
          const rv = uniform(rng, d, 0.5, 2);
          const y = normal(rng, rows * d);
          const run = (B: Backend) => {
            const o = {
              n: new Float32Array(rows * d),
              r1: new Float32Array(rows * d),
              muT: new Float32Array(rows),
              varT: new Float32Array(rows),
              acc: new Float64Array((S + 1) * d),
              xhat: new Float32Array(rows * d),
              dy: new Float32Array(rows * d),
              da: 0,
              da2: 0,
            };
            B.scaleNormForward(x, rows, d, k, shift, o.n, o.r1, o.muT, o.varT);
            o.da = B.scaleNormBackward(dn, x, rows, d, k, o.muT, o.varT, rm, rv, adaptive, o.acc);
            B.denormalize(y, o.r1, o.muT, rows, d, a, k.omRm, o.xhat);
            o.da2 = B.denormalizeBackward(dn, y, o.r1, o.muT, o.varT, rm, rv, rows, d, adaptive, o.dy);
            return o;
          };
          const r = run(ref);
          const n = run(native);
          for (const key of ["n", "r1", "muT", "varT", "xhat", "dy"] as const) assertClose(key, n[key], r[key], 2e-5);
          closeF64("acc", n.acc, r.acc, 1e-4);
          for (const key of ["da", "da2"] as const) {
            assert.ok(
              Math.abs(n[key] - r[key]) <= 1e-4 * Math.max(1, Math.abs(r[key])),
              `${key}: ${n[key]} vs ${r[key]}`,
            );
            if (!adaptive) assert.equal(n[key], 0);
          }
          // Independent check of one row of the forward (single scale: a LayerNorm with mixed statistics).
          const b = rows - 1;
          let mu = 0;
          for (let j = 0; j < d; j++) mu += x[b * d + j] / d;
          let v = 0;
          for (let j = 0; j < d; j++) v += (x[b * d + j] - mu) ** 2 / d;
          for (let j = 0; j < d; j++) {
            const vv = a * v + k.omRv[j];
            let c = 0;
            for (let s = 0; s < S; s++) c += k.coef[s * d + j] / Math.sqrt(k.scales[s] * vv + 1e-5);
            const want = (x[b * d + j] - (a * mu + k.omRm[j])) * c + shift[j];
            assert.ok(Math.abs(r.n[b * d + j] - want) <= 1e-4 * (1 + Math.abs(want)), `n[${b}, ${j}]`);
          }
        });
      }
    }
  }
  test("bad constants are one-line errors", () => {
    const d = 4;
    const k: ScaleNormConstants = {
      a: 1,
      eps: 1e-5,
      omRm: new Float32Array(d),
      omRv: new Float32Array(d),
      coef: new Float32Array(2 * d),
      scales: new Float32Array(2),
    };
    const z = new Float32Array(d);
    assertThrowsOneLine(
      "2 scales",
      () => native.scaleNormForward(z, 1, d, k, z, z, z, new Float32Array(1), new Float32Array(1)),
      RangeError,
    );
    assertThrowsOneLine(
      "eps 0",
      () =>
        native.scaleNormForward(
          z,
          1,
          d,
          { ...k, eps: 0, coef: z, scales: new Float32Array(1) },
          z,
          z,
          z,
          new Float32Array(1),
          new Float32Array(1),
        ),
      RangeError,
    );
  });
});
