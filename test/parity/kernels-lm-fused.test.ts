/**
 * Native vs ref parity of the fused LM-training kernels (lm_fused.cc, attention_fused.cc against
 * ref-lm.ts): GeGLU forward/backward (and dGate = dOut in place), soft-capped cross-entropy with
 * and without the gradient, with and without the cap, ignored rows, dz = z in place, vocab 8192;
 * fused attention forward/backward over grouped-query shapes, head dims not a multiple of the
 * kernel's blocks, sliding windows (1, shorter and longer than the context) and no cap. Masked
 * entries must be exact zeros (the packed q|k|v and gate|up forms: kernels-lm-packed.test.ts).
 * Tolerance and its justification: parity-util.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Backend } from "../../src/core/backend.ts";
import {
  assertThrowsOneLine,
  assertZerosMatch,
  type IO,
  LENGTHS,
  native,
  normal,
  parity,
  parity2,
  Rng,
  skip,
} from "./parity-util.ts";

type F = Float32Array;
const f = (io: IO, k: string) => io[k] as F;

describe("parity: fused LM kernels", { skip }, () => {
  const rng = new Rng(91);

  test("geglu and gegluBackward (dGate in place of dOut)", () => {
    for (const n of LENGTHS) {
      const io: IO = {
        gate: normal(rng, n, 3),
        up: normal(rng, n),
        dOut: normal(rng, n),
        out: new Float32Array(n),
        dGate: new Float32Array(n),
        dUp: new Float32Array(n),
      };
      parity(`geglu ${n}`, io, (B, v) => B.geglu(f(v, "gate"), f(v, "up"), f(v, "out")), ["out"]);
      const back = (B: Backend, v: IO, dg: string) =>
        B.gegluBackward(f(v, "gate"), f(v, "up"), f(v, "dOut"), f(v, dg), f(v, "dUp"));
      parity(`gegluBackward ${n}`, io, (B, v) => back(B, v, "dGate"), ["dGate", "dUp"]);
      parity2(
        `gegluBackward dGate=dOut ${n}`,
        io,
        (B, v) => back(B, v, "dGate"),
        (B, v) => back(B, v, "dOut"),
        [
          ["dGate", "dOut"],
          ["dUp", "dUp"],
        ],
      );
    }
  });

  test("softcapCrossEntropy: losses, count and gradient (cap 30, 0; ignored rows; in place)", () => {
    for (const [rows, vocab] of [
      [1, 1],
      [5, 17],
      [9, 8192],
      [64, 700],
    ] as [number, number][]) {
      for (const cap of [30, 2.5, 0]) {
        const targets = new Int32Array(rows);
        for (let r = 0; r < rows; r++) targets[r] = r % 4 === 3 ? -1 : Math.floor(rng.next() * vocab);
        const io: IO = {
          z: normal(rng, rows * vocab, 20),
          dloss: normal(rng, rows),
          losses: new Float32Array(rows),
          dz: new Float32Array(rows * vocab),
        };
        const L = `${rows}x${vocab} cap ${cap}`;
        const run = (B: Backend, v: IO, out: string) =>
          B.softcapCrossEntropy(f(v, "z"), targets, rows, vocab, cap, f(v, "dloss"), f(v, "losses"), f(v, out));
        const r = parity(`softcapCrossEntropy ${L}`, io, (B, v) => run(B, v, "dz"), ["losses", "dz"]);
        assert.equal(r.native, r.ref);
        for (let row = 0; row < rows; row++) {
          if (targets[row] !== -1) continue;
          const dzRow = (r.nativeIO.dz as F).subarray(row * vocab, (row + 1) * vocab);
          assert.ok(r.nativeIO.losses[row] === 0 && dzRow.every((x) => x === 0), `${L}: ignored row ${row} not 0`);
        }
        parity2(
          `softcapCrossEntropy dz=z ${L}`,
          io,
          (B, v) => run(B, v, "dz"),
          (B, v) => run(B, v, "z"),
          [["dz", "z"]],
        );
        const lossOnly = (B: Backend, v: IO) =>
          B.softcapCrossEntropy(f(v, "z"), targets, rows, vocab, cap, null, f(v, "losses"), null);
        parity(`softcapCrossEntropy loss only ${L}`, io, lossOnly, ["losses"]);
      }
    }
  });

  test("softcapCrossEntropy equals softcap + crossEntropy + crossEntropyBackward + softcapBackward (native)", () => {
    const rows = 13;
    const vocab = 300;
    const cap = 30;
    const z = normal(rng, rows * vocab, 40);
    const targets = new Int32Array(rows).map((_, r) => (r === 5 ? -1 : (r * 37) % vocab));
    const dloss = normal(rng, rows);
    const c = new Float32Array(rows * vocab);
    const lossA = new Float32Array(rows);
    const dA = new Float32Array(rows * vocab);
    native.softcap(z, cap, c);
    native.crossEntropy(c, targets, rows, vocab, lossA);
    native.crossEntropyBackward(c, targets, dloss, rows, vocab, dA);
    native.softcapBackward(c, dA, cap, dA);
    const lossB = new Float32Array(rows);
    const dB = new Float32Array(rows * vocab);
    native.softcapCrossEntropy(z, targets, rows, vocab, cap, dloss, lossB, dB);
    for (let i = 0; i < rows; i++) assert.ok(Math.abs(lossA[i] - lossB[i]) <= 1e-6 * Math.max(1, lossA[i]));
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < dA.length; i++) {
      worst = Math.max(worst, Math.abs(dA[i] - dB[i]));
      scale = Math.max(scale, Math.abs(dA[i]));
    }
    assert.ok(worst <= 1e-6 * scale, `${worst} vs scale ${scale}`);
  });

  test("attentionForwardFused and attentionBackwardFused", () => {
    const cases = [
      { B: 1, T: 1, H: 1, KV: 1, hd: 1, cap: 50, window: 0 },
      { B: 2, T: 7, H: 4, KV: 2, hd: 12, cap: 2.5, window: 4 },
      { B: 1, T: 37, H: 3, KV: 1, hd: 70, cap: 0, window: 0 },
      { B: 2, T: 40, H: 4, KV: 4, hd: 16, cap: 50, window: 1 },
      { B: 3, T: 33, H: 2, KV: 1, hd: 64, cap: 50, window: 64 },
      { B: 2, T: 70, H: 4, KV: 2, hd: 64, cap: 50, window: 20 },
    ];
    for (const c of cases) {
      const { B, T, H, KV, hd, cap, window } = c;
      const rows = B * T;
      const alpha = hd ** -0.5;
      const io: IO = {
        q: normal(rng, rows * H * hd, 2),
        k: normal(rng, rows * KV * hd, 2),
        v: normal(rng, rows * KV * hd),
        dy: normal(rng, rows * H * hd),
        scores: new Float32Array(B * H * T * T),
        probs: new Float32Array(B * H * T * T),
        y: new Float32Array(rows * H * hd),
        dq: new Float32Array(rows * H * hd),
        dk: new Float32Array(rows * KV * hd).fill(Number.NaN),
        dv: new Float32Array(rows * KV * hd).fill(Number.NaN),
      };
      const L = `B${B} T${T} H${H} KV${KV} hd${hd} cap ${cap} window ${window}`;
      const fwd = (Bk: Backend, v: IO) =>
        Bk.attentionForwardFused(
          f(v, "q"),
          f(v, "k"),
          f(v, "v"),
          B,
          T,
          H,
          KV,
          hd,
          alpha,
          cap,
          window,
          f(v, "scores"),
          f(v, "probs"),
          f(v, "y"),
        );
      const r = parity(`attentionForwardFused ${L}`, io, fwd, ["scores", "probs", "y"]);
      assertZerosMatch(`attentionForwardFused ${L} probs`, r.nativeIO.probs, r.refIO.probs);
      const bio: IO = { ...io, scores: r.refIO.scores, probs: r.refIO.probs };
      const back = (Bk: Backend, v: IO) =>
        Bk.attentionBackwardFused(
          f(v, "q"),
          f(v, "k"),
          f(v, "v"),
          B,
          T,
          H,
          KV,
          hd,
          alpha,
          cap,
          window,
          f(v, "scores"),
          f(v, "probs"),
          f(v, "dy"),
          f(v, "dq"),
          f(v, "dk"),
          f(v, "dv"),
        );
      parity(`attentionBackwardFused ${L}`, bio, back, ["dq", "dk", "dv"]);
    }
  });
});

describe("native fused LM kernels: bad arguments throw one-line errors", { skip }, () => {
  const F32 = (n: number) => new Float32Array(n);
  const F64 = (n: number) => new Float64Array(n) as unknown as Float32Array<ArrayBuffer>;
  // batch 1, seq 3, heads 2, kvHeads 1, headDim 4
  const fwd = (b: Backend, q = F32(24), scores = F32(18), heads = 2) =>
    b.attentionForwardFused(q, F32(12), F32(12), 1, 3, heads, 1, 4, 0.5, 50, 0, scores, F32(18), F32(24));
  const bwd = (b: Backend, dk = F32(12)) =>
    b.attentionBackwardFused(
      F32(24),
      F32(12),
      F32(12),
      1,
      3,
      2,
      1,
      4,
      0.5,
      50,
      0,
      F32(18),
      F32(18),
      F32(24),
      F32(24),
      dk,
      F32(12),
    );
  const sce = (b: Backend, t = Int32Array.of(0, -1, 3), dz: Float32Array | null = F32(12), cap = 30) =>
    b.softcapCrossEntropy(F32(12), t, 3, 4, cap, dz ? F32(3) : null, F32(3), dz);

  test("valid calls run; Float64Array is a TypeError; wrong lengths, targets and dims are RangeErrors", () => {
    assert.doesNotThrow(() => fwd(native));
    assert.doesNotThrow(() => bwd(native));
    assert.equal(sce(native), 2);
    assert.equal(sce(native, Int32Array.of(0, -1, 3), null), 2);
    assert.doesNotThrow(() => native.geglu(F32(5), F32(5), F32(5)));
    assert.doesNotThrow(() => native.gegluBackward(F32(5), F32(5), F32(5), F32(5), F32(5)));
    assertThrowsOneLine("geglu f64", () => native.geglu(F32(5), F64(5), F32(5)), TypeError);
    assertThrowsOneLine("attentionForwardFused f64", () => fwd(native, F64(24)), TypeError);
    assertThrowsOneLine("geglu out short", () => native.geglu(F32(5), F32(5), F32(4)), RangeError);
    assertThrowsOneLine(
      "gegluBackward dUp long",
      () => native.gegluBackward(F32(5), F32(5), F32(5), F32(5), F32(6)),
      RangeError,
    );
    assertThrowsOneLine("attentionForwardFused q short", () => fwd(native, F32(23)), RangeError);
    assertThrowsOneLine("attentionForwardFused scores short", () => fwd(native, F32(24), F32(17)), RangeError);
    assertThrowsOneLine(
      "attentionForwardFused heads 3 on 1 kv (q no longer fits)",
      () => fwd(native, F32(24), F32(18), 3),
      RangeError,
    );
    assertThrowsOneLine("attentionBackwardFused dk short", () => bwd(native, F32(11)), RangeError);
    assertThrowsOneLine("softcapCrossEntropy target 4", () => sce(native, Int32Array.of(0, 4, 1)), RangeError);
    assertThrowsOneLine("softcapCrossEntropy cap -1", () => sce(native, undefined, undefined, -1), RangeError);
    assertThrowsOneLine(
      "softcapCrossEntropy dz without dloss",
      () => native.softcapCrossEntropy(F32(12), Int32Array.of(0, 1, 2), 3, 4, 30, null, F32(3), F32(12)),
      RangeError,
    );
    assertThrowsOneLine(
      "attentionForwardFused heads not a multiple of kvHeads",
      () =>
        native.attentionForwardFused(F32(36), F32(24), F32(24), 1, 3, 3, 2, 4, 0.5, 0, 0, F32(27), F32(27), F32(36)),
      RangeError,
    );
  });
});
