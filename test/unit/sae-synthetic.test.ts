// The synthetic sparse-dictionary generator: its statistics against the parameters it was given
// (mean active count, coefficient mean, noise level, unit rows), x = codes D + noise recomputed
// here in float64, determinism per (seed, index), and the recovery metric on known answers.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UsageError } from "../../src/core/errors.ts";
import { recoveredFraction, syntheticSource } from "../../src/sae/synthetic.ts";

describe("syntheticSource", () => {
  const d = 24;
  const nFeatures = 96;
  const rows = 3000;

  test("rows of the dictionary have unit norm", () => {
    const src = syntheticSource({ d, nFeatures, meanActive: 5, seed: 3 });
    assert.equal(src.dictionary.length, nFeatures * d);
    for (let i = 0; i < nFeatures; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += src.dictionary[i * d + j] ** 2;
      assert.ok(Math.abs(Math.sqrt(s) - 1) < 1e-6, `row ${i} norm ${Math.sqrt(s)}`);
    }
  });

  for (const coefficients of ["exponential", "uniform"] as const) {
    test(`${coefficients}: active count, coefficient mean, noise and x = codes D + noise`, () => {
      const meanActive = 6;
      const coefMean = 2;
      const noise = 0.05;
      const src = syntheticSource({ d, nFeatures, meanActive, coefficients, coefMean, noise, seed: 11 });
      const { x, codes, active } = src.batch(0, rows, { withCodes: true });
      assert.ok(codes);
      let count = 0;
      let sumC = 0;
      let sumC2 = 0;
      const perFeature = new Float64Array(nFeatures);
      for (let k = 0; k < codes.length; k++) {
        if (codes[k] === 0) continue;
        assert.ok(codes[k] > 0);
        if (coefficients === "uniform") assert.ok(codes[k] >= 0.5 * coefMean && codes[k] <= 1.5 * coefMean);
        count++;
        sumC += codes[k];
        sumC2 += codes[k] ** 2;
        perFeature[k % nFeatures]++;
      }
      assert.equal(count, active);
      // Binomial(rows * nFeatures, p): the mean count per token has sd sqrt(meanActive / rows) ~ 0.045
      const mean = count / rows;
      assert.ok(Math.abs(mean - meanActive) < 0.2, `mean active ${mean}, expected ${meanActive}`);
      // exponential: mean coefMean, sd coefMean; uniform: sd coefMean / sqrt(12); ~18000 draws
      const cMean = sumC / count;
      const cVar = sumC2 / count - cMean ** 2;
      assert.ok(Math.abs(cMean - coefMean) < 0.05, `coefficient mean ${cMean}`);
      const wantVar = coefficients === "exponential" ? coefMean ** 2 : coefMean ** 2 / 12;
      assert.ok(Math.abs(cVar - wantVar) < 0.1 * wantVar, `coefficient variance ${cVar}, expected ${wantVar}`);
      // every feature fires at the same rate p = meanActive / nFeatures (expected 187.5 per feature here)
      const expect = (rows * meanActive) / nFeatures;
      for (let i = 0; i < nFeatures; i++) {
        assert.ok(
          Math.abs(perFeature[i] - expect) < 6 * Math.sqrt(expect),
          `feature ${i} fired ${perFeature[i]} times`,
        );
      }
      // residual x - codes D (float64 here) is the noise: mean 0, sd `noise`
      let r1 = 0;
      let r2 = 0;
      for (let b = 0; b < rows; b++) {
        for (let j = 0; j < d; j++) {
          let s = 0;
          for (let i = 0; i < nFeatures; i++) s += codes[b * nFeatures + i] * src.dictionary[i * d + j];
          const r = x[b * d + j] - s;
          r1 += r;
          r2 += r * r;
        }
      }
      const n = rows * d;
      assert.ok(Math.abs(r1 / n) < 0.003, `noise mean ${r1 / n}`);
      const sd = Math.sqrt(r2 / n - (r1 / n) ** 2);
      assert.ok(Math.abs(sd - noise) < 0.003, `noise sd ${sd}, expected ${noise}`);
    });
  }

  test("a batch is a pure function of (seed, index); out buffers are filled in place", () => {
    const a = syntheticSource({ d, nFeatures, meanActive: 4, noise: 0.1, seed: 5 });
    const b = syntheticSource({ d, nFeatures, meanActive: 4, noise: 0.1, seed: 5 });
    assert.deepEqual(a.dictionary, b.dictionary);
    const out = new Float32Array(16 * d);
    const first = a.batch(7, 16).x;
    const again = b.batch(7, 16, { out }).x;
    assert.equal(again, out);
    assert.deepEqual(first, out);
    assert.notDeepEqual(a.batch(8, 16).x, first);
    const other = syntheticSource({ d, nFeatures, meanActive: 4, noise: 0.1, seed: 6 });
    assert.notDeepEqual(other.dictionary, a.dictionary);
  });

  test("bad options are one-line usage errors", () => {
    assert.throws(() => syntheticSource({ d, nFeatures, meanActive: 0, seed: 1 }), UsageError);
    assert.throws(() => syntheticSource({ d, nFeatures, meanActive: 200, seed: 1 }), /meanActive 200 is not valid/);
    assert.throws(() => syntheticSource({ d: 0, nFeatures, meanActive: 1, seed: 1 }), /synthetic d 0/);
    assert.throws(() => syntheticSource({ d, nFeatures, meanActive: 1, noise: -1, seed: 1 }), /noise/);
    const src = syntheticSource({ d, nFeatures, meanActive: 1, seed: 1 });
    assert.throws(() => src.batch(0, 4, { out: new Float32Array(3) }), /expected rows \* d = 96/);
  });
});

describe("recoveredFraction", () => {
  const d = 8;
  test("a permuted, rescaled copy recovers everything; a mismatched row does not count", () => {
    const src = syntheticSource({ d, nFeatures: 10, meanActive: 2, seed: 9 });
    const truth = src.dictionary;
    const learned = new Float32Array(12 * d); // 10 features reversed and scaled by 3, plus 2 zero rows
    for (let i = 0; i < 10; i++) {
      for (let k = 0; k < d; k++) learned[(9 - i) * d + k] = 3 * truth[i * d + k];
    }
    assert.equal(recoveredFraction(truth, learned, d), 1);
    // flip the sign of one learned row: cosine -1 with its feature, small with the others
    for (let k = 0; k < d; k++) learned[k] = -learned[k];
    const frac = recoveredFraction(truth, learned, d);
    assert.equal(frac, 0.9);
  });

  test("the threshold is a strict cosine bound", () => {
    const truth = new Float64Array([1, 0]);
    const learned = new Float64Array([0.9, Math.sqrt(1 - 0.81)]); // cos exactly ~0.9
    assert.equal(recoveredFraction(truth, learned, 2, 0.89), 1);
    assert.equal(recoveredFraction(truth, learned, 2, 0.91), 0);
  });
});
