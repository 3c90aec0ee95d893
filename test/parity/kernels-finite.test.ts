/**
 * firstNonFinite (the loaders' NaN / Inf scan): native against ref against the index planted here.
 * Lengths straddle the native chunk size (65536) and the parallel threshold; NaNs with payloads,
 * both infinities, and the finite extremes (max float, subnormals, -0) that must NOT be flagged.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { native, Rng, ref, skip } from "./parity-util.ts";

const BAD = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];

/** A float32 array of finite values including the extremes. */
function finiteData(rng: Rng, n: number): Float32Array {
  const x = new Float32Array(n);
  const bits = new Uint32Array(x.buffer);
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    if (r < 0.01)
      bits[i] = 0x7f7fffff; // max float
    else if (r < 0.02)
      bits[i] = 0x00000001; // smallest subnormal
    else if (r < 0.03)
      bits[i] = 0x80000000; // -0
    else if (r < 0.04)
      bits[i] = 0xff7fffff; // -max float
    else x[i] = (rng.next() - 0.5) * 1e6;
  }
  return x;
}

describe("parity: firstNonFinite", { skip }, () => {
  const rng = new Rng(29);
  const lengths = [0, 1, 7, 1000, 65535, 65536, 65537, 4 * 65536 + 3, 1_000_003];

  test("all finite: -1 (extremes, subnormals and -0 are finite)", () => {
    for (const n of lengths) {
      const x = finiteData(rng, n);
      assert.equal(ref.firstNonFinite(x), -1, `ref n=${n}`);
      assert.equal(native.firstNonFinite(x), -1, `native n=${n}`);
    }
  });

  test("planted NaN / +Inf / -Inf (NaN payloads too): the first planted index", () => {
    for (const n of lengths.filter((n) => n > 0)) {
      for (let trial = 0; trial < 6; trial++) {
        const x = finiteData(rng, n);
        const bits = new Uint32Array(x.buffer);
        const planted: number[] = [];
        const k = 1 + Math.floor(rng.next() * 4);
        for (let j = 0; j < k; j++) {
          const i = trial === 0 ? n - 1 : trial === 1 ? 0 : Math.floor(rng.next() * n);
          if (trial === 5) bits[i] = 0x7fc00000 | Math.floor(rng.next() * 0x3fffff) | (j % 2 ? 0x80000000 : 0);
          else x[i] = BAD[Math.floor(rng.next() * 3)];
          planted.push(i);
        }
        const want = Math.min(...planted);
        assert.equal(ref.firstNonFinite(x), want, `ref n=${n} trial ${trial}`);
        assert.equal(native.firstNonFinite(x), want, `native n=${n} trial ${trial}`);
      }
    }
  });

  test("a NaN at every chunk boundary of a long array", () => {
    const n = 5 * 65536;
    const x = new Float32Array(n);
    for (const i of [65535, 65536, 131071, 131072, 4 * 65536, n - 1]) {
      x.fill(0);
      x[i] = Number.NaN;
      x[n - 1] = Number.POSITIVE_INFINITY;
      assert.equal(native.firstNonFinite(x), i, `boundary ${i}`);
      assert.equal(ref.firstNonFinite(x), i);
    }
  });

  test("ref also scans float64 (the oracle's precision); native refuses float64", () => {
    const d = new Float64Array([1, 3e38 * 10, 1e308 * 10, 3]);
    assert.equal(ref.firstNonFinite(d), 2); // 3e39 overflows float32 but is a finite float64
    assert.throws(() => native.firstNonFinite(d), TypeError);
  });
});
