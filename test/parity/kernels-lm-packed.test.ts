/**
 * Native vs ref parity of the packed forms of the fused LM-training kernels (lm_fused.cc,
 * attention_fused.cc, embed.cc against ref-lm.ts, ref.ts): gegluPacked / gegluPackedBackward on
 * gate | up rows (and bit-equal to geglu / gegluBackward on the separated halves, dGu in place of
 * gu), fused attention forward/backward on q | k | v views of one strided matrix (padding columns
 * untouched) and RoPE with a row stride, each bit-equal to the contiguous native call on the same
 * numbers. Tolerance and its justification: parity-util.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Backend } from "../../src/core/backend.ts";
import { type IO, native, normal, parity, parity2, Rng, skip } from "./parity-util.ts";

type F = Float32Array;
const f = (io: IO, k: string) => io[k] as F;

describe("parity: packed fused LM kernels", { skip }, () => {
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
});
