// Learning-rate schedules against closed forms written out in this file.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ReduceLrOnPlateau, WarmupPlateau } from "../../src/optim/plateau.ts";
import { ConstantLr, effectiveWarmup, LinearWarmup, WarmupCosine } from "../../src/optim/schedule.ts";

const close = (a: number, b: number, tol = 1e-15) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

describe("stateless schedules", () => {
  test("constant", () => {
    const s = new ConstantLr(3e-4);
    for (const t of [1, 2, 1000]) assert.equal(s.lrAt(t), 3e-4);
  });

  test("linear warmup is lr * t / W up to W, then lr", () => {
    const s = new LinearWarmup(2, 4);
    assert.deepEqual(
      [1, 2, 3, 4, 5, 100].map((t) => s.lrAt(t)),
      [0.5, 1, 1.5, 2, 2, 2],
    );
    assert.equal(new LinearWarmup(2, 0).lrAt(1), 2);
    assert.throws(() => s.lrAt(0), /step must be an integer >= 1, got 0/);
  });

  test("warmup + cosine: warmup values, cosine midpoint, quarter point and floor", () => {
    const s = new WarmupCosine({ lr: 1, warmupSteps: 10, totalSteps: 110, floor: 0.1 });
    close(s.lrAt(5), 0.5);
    close(s.lrAt(10), 1);
    close(s.lrAt(60), 0.55); // midpoint: floor + (lr - floor) / 2
    close(s.lrAt(35), 0.1 + 0.9 * ((1 + Math.SQRT1_2) / 2), 1e-14); // cos(pi / 4)
    close(s.lrAt(85), 0.1 + 0.9 * ((1 - Math.SQRT1_2) / 2), 1e-14);
    close(s.lrAt(110), 0.1);
    close(s.lrAt(500), 0.1);
    // decreasing after warmup
    let prev = Number.POSITIVE_INFINITY;
    for (let t = 10; t <= 110; t++) {
      const lr = s.lrAt(t);
      assert.ok(lr <= prev, "lr <= prev");
      prev = lr;
    }
    assert.throws(
      () => new WarmupCosine({ lr: 1, warmupSteps: 10, totalSteps: 5 }),
      /totalSteps \(5\) must be >= warmupSteps/,
    );
  });

  test("effective warmup caps at 10% of a shorter run and says so", () => {
    assert.deepEqual(effectiveWarmup(1000, 5000), { warmupSteps: 1000, warning: null });
    const capped = effectiveWarmup(1000, 122); // the paper recipe: 1M tokens / (4 x 2048) per step
    assert.equal(capped.warmupSteps, 12);
    assert.match(capped.warning ?? "", /warmup of 1000 .*run \(122 steps\).*capped at 12 steps/);
    assert.ok(!(capped.warning ?? "").includes("\n"), '!(capped.warning ?? "").includes("\\n")');
    assert.equal(effectiveWarmup(1000, 5).warmupSteps, 1);
    assert.equal(effectiveWarmup(1000, 1000).warmupSteps, 100);
    assert.deepEqual(effectiveWarmup(0, 10), { warmupSteps: 0, warning: null });
  });
});

describe("reduce-on-plateau", () => {
  test("halves after `patience` non-improving steps, then again every patience + 1", () => {
    const patience = 3;
    const p = new ReduceLrOnPlateau({ lr: 1, patience, cooldown: 0, smoothing: 0, threshold: 0.01 });
    const lrs: number[] = [];
    for (let i = 1; i <= 12; i++) lrs.push(p.observe(2));
    // observation 1 sets best; observations 2..4 are tolerated; 5 reduces; then 9 (closed form 1 + (p+1) k)
    const expected = Array.from({ length: 12 }, (_, i) => 0.5 ** Math.floor(i / (patience + 1)));
    assert.deepEqual(lrs, expected);
    assert.equal(p.reductions, 2);
  });

  test("relative threshold: 2% gains count as improvement, 0.5% gains do not", () => {
    const fast = new ReduceLrOnPlateau({ lr: 1, patience: 1, cooldown: 0, smoothing: 0, threshold: 0.01 });
    const slow = new ReduceLrOnPlateau({ lr: 1, patience: 1, cooldown: 0, smoothing: 0, threshold: 0.01 });
    for (let i = 0; i < 20; i++) {
      fast.observe(0.98 ** i);
      slow.observe(0.995 ** i);
    }
    assert.equal(fast.lr, 1);
    // slow: best is only replaced once the loss fell 1% below it; count non-improving runs independently
    let best = Number.POSITIVE_INFINITY;
    let bad = 0;
    let lr = 1;
    for (let i = 0; i < 20; i++) {
      const loss = 0.995 ** i;
      if (loss < best * 0.99) {
        best = loss;
        bad = 0;
      } else if (++bad > 1) {
        lr /= 2;
        bad = 0;
      }
    }
    assert.ok(lr < 1, `the slow schedule should have been reduced, lr ${lr}`);
    assert.equal(slow.lr, lr);
  });

  test("cooldown: reductions at 1 + (patience + 1) + k (cooldown + patience + 1)", () => {
    const patience = 1;
    const cooldown = 2;
    const p = new ReduceLrOnPlateau({ lr: 1, patience, cooldown, smoothing: 0, threshold: 0 });
    const reducedAt: number[] = [];
    let prev = 1;
    for (let i = 1; i <= 15; i++) {
      const lr = p.observe(5);
      if (lr < prev) reducedAt.push(i);
      prev = lr;
    }
    assert.deepEqual(reducedAt, [3, 7, 11, 15]);
  });

  test("the floor is respected", () => {
    const p = new ReduceLrOnPlateau({ lr: 1e-4, patience: 0, cooldown: 0, smoothing: 0, minLr: 1e-5 });
    const lrs = Array.from({ length: 10 }, () => p.observe(1));
    assert.deepEqual(lrs.slice(0, 5), [1e-4, 5e-5, 2.5e-5, 1.25e-5, 1e-5]);
    assert.ok(
      lrs.every((x) => x >= 1e-5),
      "lrs.every((x) => x >= 1e-5)",
    );
    assert.equal(lrs[9], 1e-5);
    assert.equal(p.reductions, 4);
  });

  test("smoothed loss is the bias-corrected EMA", () => {
    const s = 0.9;
    const p = new ReduceLrOnPlateau({ lr: 1, smoothing: s });
    const losses = [5, 3, 4, 1, 2, 6];
    losses.forEach((l, i) => {
      p.observe(l);
      const t = i + 1;
      let num = 0;
      for (let j = 0; j < t; j++) num += (1 - s) * s ** (t - 1 - j) * losses[j];
      close(p.smoothedLoss, num / (1 - s ** t), 1e-12);
    });
    assert.throws(() => p.observe(Number.NaN), /the loss is NaN/);
  });

  test("state round trip through JSON continues the same lr sequence", () => {
    const losses = Array.from({ length: 40 }, (_, i) => 1 + 0.3 * Math.sin(i * 1.7) + (i < 10 ? -0.05 * i : 0));
    const opts = { lr: 1, patience: 2, cooldown: 1, smoothing: 0.5, threshold: 0.001 };
    const a = new ReduceLrOnPlateau(opts);
    const straight = losses.map((l) => a.observe(l));
    const b = new ReduceLrOnPlateau(opts);
    losses.slice(0, 17).forEach((l) => {
      b.observe(l);
    });
    const saved = JSON.parse(JSON.stringify(b.state()));
    const c = new ReduceLrOnPlateau(opts);
    c.loadState(saved);
    const resumed = losses.slice(17).map((l) => c.observe(l));
    assert.deepEqual(resumed, straight.slice(17));
    assert.ok(a.reductions > 0, "a.reductions > 0");
    assert.deepEqual(c.state(), a.state());
    assert.throws(() => c.loadState({ ...saved, bad: 0.5 }), /loadState expects/);
  });
});

describe("warmup then plateau", () => {
  test("plateau only acts after warmup", () => {
    const s = new WarmupPlateau({ lr: 1, warmupSteps: 5, patience: 0, cooldown: 0, smoothing: 0 });
    const lrs: number[] = [];
    for (let t = 1; t <= 8; t++) {
      lrs.push(s.lrAt(t));
      s.observe(t, t); // rising loss: would reduce at once without the warmup guard
    }
    // warmup 0.2..1; t = 6 first observed loss (best); t = 7 not better -> reduced for t = 8
    assert.deepEqual(lrs, [0.2, 0.4, 0.6, 0.8, 1, 1, 1, 0.5]);
    const saved = s.state();
    const r = new WarmupPlateau({ lr: 1, warmupSteps: 5, patience: 0, cooldown: 0, smoothing: 0 });
    r.loadState(saved);
    assert.equal(r.lrAt(9), 0.25); // t = 8's loss was not better either
    r.observe(9, 0); // improvement
    s.observe(9, 0);
    assert.equal(r.lrAt(10), s.lrAt(10));
    assert.deepEqual(r.state(), s.state());
  });
});
