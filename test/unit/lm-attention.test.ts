/**
 * The shared attention core (src/lm/attention.ts) against a naive float64 loop written here:
 * grouped-query heads, strided Q/K/V inside one packed buffer, soft-capping, sliding window.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import { AttentionViews, attentionForward } from "../../src/lm/attention.ts";

interface Case {
  B: number;
  T: number;
  H: number;
  KV: number;
  hd: number;
  cap: number | null;
  window: number;
}

/** Naive reference: packed rows [q(H*hd) | k(KV*hd) | v(KV*hd) | pad], y [rows, H*hd + 3]. */
function naive(c: Case, packed: Float32Array, stride: number, alpha: number): Float64Array {
  const { B, T, H, KV, hd, cap, window } = c;
  const yStride = H * hd + 3;
  const y = new Float64Array(B * T * yStride);
  const kOff = H * hd;
  const vOff = H * hd + KV * hd;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KV));
      for (let i = 0; i < T; i++) {
        const s: number[] = [];
        for (let j = 0; j <= i; j++) {
          if (window > 0 && i - j >= window) {
            s.push(Number.NEGATIVE_INFINITY);
            continue;
          }
          let dot = 0;
          for (let e = 0; e < hd; e++) {
            dot += packed[(b * T + i) * stride + h * hd + e] * packed[(b * T + j) * stride + kOff + g * hd + e];
          }
          let x = dot * alpha;
          if (cap !== null) x = cap * Math.tanh(x / cap);
          s.push(x);
        }
        const mx = Math.max(...s);
        const p = s.map((x) => Math.exp(x - mx));
        const z = p.reduce((a, x) => a + x, 0);
        for (let e = 0; e < hd; e++) {
          let acc = 0;
          for (let j = 0; j <= i; j++) acc += (p[j] / z) * packed[(b * T + j) * stride + vOff + g * hd + e];
          y[(b * T + i) * yStride + h * hd + e] = acc;
        }
      }
    }
  }
  return y;
}

const CASES: Case[] = [
  { B: 2, T: 7, H: 4, KV: 2, hd: 5, cap: 1.5, window: 3 },
  { B: 1, T: 9, H: 3, KV: 1, hd: 4, cap: null, window: 0 },
  { B: 3, T: 5, H: 2, KV: 2, hd: 6, cap: 0.7, window: 1 },
];

for (const c of CASES) {
  test(`attention core: B${c.B} T${c.T} H${c.H} KV${c.KV} hd${c.hd} cap ${c.cap} window ${c.window}`, () => {
    const { B, T, H, KV, hd } = c;
    const stride = H * hd + 2 * KV * hd + 2; // two unused columns per row
    const rng = new Rng(7 + T);
    const packed = rng.fillNormal(new Float32Array(B * T * stride), 1);
    const yStride = H * hd + 3;
    const y = new Float32Array(B * T * yStride).fill(42); // untouched columns must stay 42
    const preatt = new Float32Array(B * H * T * T);
    const att = new Float32Array(B * H * T * T);
    const views = new AttentionViews(
      { batch: B, seq: T, nHeads: H, nKvHeads: KV, headDim: hd },
      { buf: packed, stride, offset: 0 },
      { buf: packed, stride, offset: H * hd },
      { buf: packed, stride, offset: H * hd + KV * hd },
      preatt,
      att,
      { buf: y, stride: yStride, offset: 0 },
    );
    const alpha = 0.37;
    attentionForward(refBackend, views, preatt, att, alpha, c.cap, c.window);
    const want = naive(c, packed, stride, alpha);
    let worst = 0;
    for (let r = 0; r < B * T; r++) {
      for (let col = 0; col < yStride; col++) {
        const got = y[r * yStride + col];
        if (col >= H * hd) assert.equal(got, 42, "columns past the heads are untouched");
        else worst = Math.max(worst, Math.abs(got - want[r * yStride + col]));
      }
    }
    assert.ok(worst < 2e-6, `max |diff| ${worst}`);
    // probabilities: rows sum to 1 over visible keys, 0 elsewhere
    for (let g = 0; g < B * H; g++) {
      for (let i = 0; i < T; i++) {
        let sum = 0;
        for (let j = 0; j < T; j++) {
          const p = att[(g * T + i) * T + j];
          const visible = j <= i && (c.window <= 0 || i - j < c.window);
          if (!visible) assert.equal(p, 0);
          sum += p;
        }
        assert.ok(Math.abs(sum - 1) < 1e-6);
      }
    }
  });
}

test("attention core rejects heads that do not group", () => {
  const buf = new Float32Array(64);
  const l = { buf, stride: 8, offset: 0 };
  assert.throws(
    () => new AttentionViews({ batch: 1, seq: 2, nHeads: 3, nKvHeads: 2, headDim: 2 }, l, l, l, buf, buf, l),
    /3 heads are not a multiple of 2/,
  );
});
