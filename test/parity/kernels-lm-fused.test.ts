/**
 * Native vs ref parity of the fused LM-training kernels (lm_fused.cc, attention_fused.cc against
 * ref-lm.ts): GeGLU forward/backward (and dGate = dOut in place), soft-capped cross-entropy with
 * and without the gradient, with and without the cap, ignored rows, dz = z in place, vocab 8192;
 * fused attention forward/backward over grouped-query shapes, head dims not a multiple of the
 * kernel's blocks, sliding windows (1, shorter and longer than the context) and no cap. Masked
 * entries must be exact zeros. Packed forms: gegluPacked / gegluPackedBackward on gate | up rows
 * (native vs ref, and equal to geglu on the separated halves), attention on q | k | v views of one
 * strided matrix and RoPE with a row stride (native vs ref, and bit-equal to the contiguous native
 * call on the same numbers). Tolerance and its justification: parity-util.ts.
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

  test("gegluPacked and gegluPackedBackward (gate | up per row; dGu in place of gu)", () => {
    const rng = new Rng(92); // its own stream: the other tests keep their inputs
    for (const [rows, m] of [
      [0, 3],
      [1, 1],
      [7, 33],
      [130, 1024],
    ] as [number, number][]) {
      const io: IO = {
        gu: normal(rng, rows * 2 * m, 3),
        dOut: normal(rng, rows * m),
        out: new Float32Array(rows * m),
        dGu: new Float32Array(rows * 2 * m),
      };
      const L = `${rows}x${m}`;
      parity(`gegluPacked ${L}`, io, (B, v) => B.gegluPacked(f(v, "gu"), rows, m, f(v, "out")), ["out"]);
      const back = (B: Backend, v: IO, o: string) => B.gegluPackedBackward(f(v, "gu"), f(v, "dOut"), rows, m, f(v, o));
      parity(`gegluPackedBackward ${L}`, io, (B, v) => back(B, v, "dGu"), ["dGu"]);
      parity2(
        `gegluPackedBackward dGu=gu ${L}`,
        io,
        (B, v) => back(B, v, "dGu"),
        (B, v) => back(B, v, "gu"),
        [["dGu", "gu"]],
      );
      // native packed = native geglu / gegluBackward on the separated halves, bit for bit
      const gu = f(io, "gu");
      const gate = new Float32Array(rows * m);
      const up = new Float32Array(rows * m);
      for (let r = 0; r < rows; r++) {
        gate.set(gu.subarray(r * 2 * m, r * 2 * m + m), r * m);
        up.set(gu.subarray(r * 2 * m + m, (r + 1) * 2 * m), r * m);
      }
      const [o1, o2] = [new Float32Array(rows * m), new Float32Array(rows * m)];
      native.geglu(gate, up, o1);
      native.gegluPacked(gu, rows, m, o2);
      assert.deepEqual(o2, o1, `${L}: gegluPacked != geglu`);
      const [dg, du, dgu] = [new Float32Array(rows * m), new Float32Array(rows * m), new Float32Array(rows * 2 * m)];
      native.gegluBackward(gate, up, f(io, "dOut"), dg, du);
      native.gegluPackedBackward(gu, f(io, "dOut"), rows, m, dgu);
      for (let r = 0; r < rows; r++) {
        assert.deepEqual(dgu.subarray(r * 2 * m, r * 2 * m + m), dg.subarray(r * m, (r + 1) * m));
        assert.deepEqual(dgu.subarray(r * 2 * m + m, (r + 1) * 2 * m), du.subarray(r * m, (r + 1) * m));
      }
    }
  });

  test("packed q | k | v: strided attention forward/backward and strided RoPE", () => {
    const rng = new Rng(93);
    const cases = [
      { B: 2, T: 7, H: 4, KV: 2, hd: 12, cap: 2.5, window: 4, pad: 0 },
      { B: 1, T: 37, H: 3, KV: 1, hd: 70, cap: 0, window: 0, pad: 5 },
      { B: 2, T: 70, H: 4, KV: 2, hd: 64, cap: 50, window: 20, pad: 0 },
    ];
    for (const c of cases) {
      const { B, T, H, KV, hd, cap, window, pad } = c;
      const rows = B * T;
      const ld = (H + 2 * KV) * hd + pad;
      const alpha = hd ** -0.5;
      const positions = new Int32Array(rows).map((_, i) => i % T);
      const L = `B${B} T${T} H${H} KV${KV} hd${hd} cap ${cap} window ${window} stride ${ld}`;
      const io: IO = {
        qkv: normal(rng, rows * ld, 2),
        dy: normal(rng, rows * H * hd),
        scores: new Float32Array(B * H * T * T),
        probs: new Float32Array(B * H * T * T),
        y: new Float32Array(rows * H * hd),
        dqkv: new Float32Array(rows * ld).fill(7),
        roped: new Float32Array(rows * ld).fill(7),
      };
      const views = (a: F) => [a, a.subarray(H * hd), a.subarray((H + KV) * hd)] as const;
      const rr = parity(
        `rope stride ${L}`,
        io,
        (Bk, v) => Bk.rope(f(v, "qkv"), positions, rows, H + KV, hd, 10000, false, f(v, "roped"), ld),
        ["roped"],
      );
      const fwd = (Bk: Backend, v: IO) => {
        const [q, k, vv] = views(f(v, "qkv"));
        Bk.attentionForwardFused(
          q,
          k,
          vv,
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
          ld,
        );
      };
      const r = parity(`attentionForwardFused ${L}`, io, fwd, ["scores", "probs", "y"]);
      const back = (Bk: Backend, v: IO) => {
        const [q, k, vv] = views(f(v, "qkv"));
        const [dq, dk, dv] = views(f(v, "dqkv"));
        Bk.attentionBackwardFused(
          q,
          k,
          vv,
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
          dq,
          dk,
          dv,
          ld,
        );
      };
      const bio: IO = { ...io, scores: r.refIO.scores, probs: r.refIO.probs };
      const rb = parity(`attentionBackwardFused ${L}`, bio, back, ["dqkv"]);
      // the padding columns of every row are left alone
      const dqkv = rb.nativeIO.dqkv as F;
      for (let row = 0; row < rows; row++)
        for (let j = ld - pad; j < ld; j++) assert.equal(dqkv[row * ld + j], 7, `${L}: padding written`);
      // native strided = native contiguous on the same numbers, bit for bit
      const qkv = f(io, "qkv");
      const cut = (c0: number, w: number) => {
        const o = new Float32Array(rows * w);
        for (let row = 0; row < rows; row++) o.set(qkv.subarray(row * ld + c0, row * ld + c0 + w), row * w);
        return o;
      };
      const [q, k, v] = [cut(0, H * hd), cut(H * hd, KV * hd), cut((H + KV) * hd, KV * hd)];
      const sc = new Float32Array(B * H * T * T);
      const pr = new Float32Array(B * H * T * T);
      const y = new Float32Array(rows * H * hd);
      native.attentionForwardFused(q, k, v, B, T, H, KV, hd, alpha, cap, window, sc, pr, y);
      assert.deepEqual(r.nativeIO.y, y, `${L}: strided y != contiguous y`);
      const [dq, dk, dv] = [new Float32Array(q.length), new Float32Array(k.length), new Float32Array(v.length)];
      const [sb, pb] = [f(bio, "scores"), f(bio, "probs")]; // the strided backward's inputs
      native.attentionBackwardFused(q, k, v, B, T, H, KV, hd, alpha, cap, window, sb, pb, f(io, "dy"), dq, dk, dv);
      for (let row = 0; row < rows; row++) {
        assert.deepEqual(dqkv.subarray(row * ld, row * ld + H * hd), dq.subarray(row * H * hd, (row + 1) * H * hd));
        const o = row * ld + H * hd;
        assert.deepEqual(dqkv.subarray(o, o + KV * hd), dk.subarray(row * KV * hd, (row + 1) * KV * hd));
        assert.deepEqual(dqkv.subarray(o + KV * hd, o + 2 * KV * hd), dv.subarray(row * KV * hd, (row + 1) * KV * hd));
      }
      const qk = new Float32Array(rows * (H + KV) * hd);
      for (let row = 0; row < rows; row++)
        qk.set(qkv.subarray(row * ld, row * ld + (H + KV) * hd), row * (H + KV) * hd);
      native.rope(qk, positions, rows, H + KV, hd, 10000, false, qk);
      const roped = f(rr.nativeIO, "roped");
      for (let row = 0; row < rows; row++) {
        const w = (H + KV) * hd;
        assert.deepEqual(
          roped.subarray(row * ld, row * ld + w),
          qk.subarray(row * w, (row + 1) * w),
          `${L}: rope row ${row}`,
        );
        for (let j = w; j < ld; j++) assert.equal(roped[row * ld + j], 7, `${L}: rope wrote past the heads`);
      }
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
