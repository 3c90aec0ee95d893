// The SAE hyperparameter schema: DESIGN.md s.2 defaults, m = d * expansion, and one-line errors.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSaeHyper } from "../../src/config/sae.ts";
import { UsageError } from "../../src/core/errors.ts";

test("defaults: DESIGN.md s.2 values; m = d * expansion; auxK = d / 2", () => {
  const h = parseSaeHyper({}, 64);
  assert.equal(h.arch, "multiscale");
  assert.equal(h.m, 64);
  assert.equal(h.auxK, 32);
  assert.equal(h.k, 32);
  assert.equal(h.auxKCoef, 1 / 32);
  assert.equal(h.reconstruct, "denormalized");
  assert.equal(h.eps, 1e-5);
  assert.equal(h.coactBeta, 0.99);
  assert.equal(h.coactTau, 0.1);
  assert.equal(h.runBeta, 0.99);
  assert.equal(h.jumpBandwidth, 0.001);
  assert.equal(h.jumpInitThreshold, 0.001);
  assert.equal(h.thresholdBeta, 0.999);
  assert.deepEqual(h.matryoshkaFractions, [1 / 32, 1 / 16, 1 / 8, 1 / 4, 17 / 32]);
  const g = parseSaeHyper({ arch: "topk", expansion: 32, k: 16, auxK: 100 }, 16);
  assert.equal(g.m, 512);
  assert.equal(g.auxK, 100);
});

test("bad values and combinations are one line naming the field", () => {
  const cases: [unknown, number, RegExp][] = [
    [{ expansion: 1.5 }, 5, /"expansion" 1\.5 is not valid: expected a value with d \* expansion an integer \(d = 5\)/],
    [{ arch: "attention" }, 10, /input width d 10 is not valid: expected a multiple of 4 for arch attention/],
    [{ arch: "topk", k: 65 }, 64, /"k" 65 is not valid: expected at most m = 64/],
    [{ arch: "matryoshka", k: 4 }, 48, /dictionary size m 48 is not valid: expected a multiple of 32/],
    [{ arch: "nope" }, 8, /field "arch" is "nope": expected one of/],
    [{ l1: -1 }, 8, /field "l1" is -1/],
    [{ coactBeta: 1 }, 8, /field "coactBeta" is 1/],
    [{ lr: 1 }, 8, /unknown field "lr"/],
  ];
  for (const [input, d, re] of cases)
    assert.throws(
      () => parseSaeHyper(input, d, "sae.json"),
      (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes("\n"),
      JSON.stringify(input),
    );
});
