/**
 * msae features on many tokens: memory fixed by the options (the collector's structures have the
 * same size for 4k and 96k tokens; no feature ever holds more than its capacity), the exact top-k
 * after many heap replacements (brute force over every row, sorted here), and the reservoir's
 * samples uniform over the stream (inclusion counts per decile of the stream over many seeds
 * against the binomial expectation).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSaeHyper } from "../../src/config/sae.ts";
import { getBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import type { ActChunk } from "../../src/harvest/activations.ts";
import type { ChunkSource } from "../../src/harvest/store.ts";
import { collectFeatureStats } from "../../src/report/features/collect.ts";
import { Reservoirs } from "../../src/report/features/examples.ts";
import { DEFAULT_STATS_OPTIONS } from "../../src/report/features/types.ts";
import { reluFactory } from "../../src/sae/baselines/relu.ts";

const d = 6;
const m = 5;
const C = 16;

/** Contexts of C rows each (position 0 dropped, as a BOS), generated chunk by chunk from a seed. */
function syntheticSource(contexts: number): ChunkSource {
  return {
    hooks: ["synthetic"],
    d,
    contextsTotal: contexts,
    async *chunks(start = 0, end = contexts): AsyncGenerator<ActChunk> {
      const per = 64;
      for (let a = start; a < end; a += per) {
        const b = Math.min(end, a + per);
        const rows = (b - a) * (C - 1);
        const rng = new Rng(1000 + a);
        const acts = new Float32Array(rows * d);
        rng.fillNormal(acts, 1);
        const token = new Int32Array(rows);
        const context = new Int32Array(rows);
        const position = new Int32Array(rows);
        for (let r = 0; r < rows; r++) {
          context[r] = a + Math.floor(r / (C - 1));
          position[r] = 1 + (r % (C - 1));
          token[r] = 3 + ((context[r] * 7 + position[r]) % 50);
        }
        yield { contexts: [a, b], rows, acts: [acts], token, context, position };
      }
    },
  };
}

function makeSae() {
  const hyper = parseSaeHyper({ arch: "relu", expansion: m / d }, d, "test");
  const sae = reluFactory<Float32Array>(hyper, getBackend(), {
    arrayType: "f32",
    seed: 4,
    firstBatch: new Float32Array(d),
    rows: 1,
  });
  new Rng(9).fillNormal(sae.params.get("W_enc")!.param.data, 0.5);
  sae.params.get("b_enc")!.param.data.fill(-0.2);
  return sae;
}

const OPTIONS = { ...DEFAULT_STATS_OPTIONS, top: 9, bandSamples: 4, before: 3, after: 2, batchRows: 256 };

async function run(contexts: number) {
  const sae = makeSae();
  return collectFeatureStats({
    source: syntheticSource(contexts),
    hookIndex: 0,
    sae,
    scale: 1,
    contexts,
    contextSize: C,
    bosId: 2,
    options: OPTIONS,
  });
}

test("capacity is respected and memory does not grow with tokens; the top-k is exact after many replacements", async () => {
  const small = await run(256);
  const contexts = 6400; // 96k tokens
  const big = await run(contexts);
  assert.equal(big.tokens, contexts * (C - 1));
  assert.equal(big.bytes, small.bytes, "the collector's structures do not depend on the token count");
  assert.equal(big.top.pool.value.length, m * (OPTIONS.top + 1));
  assert.equal(big.bands.pool.value.length, m * OPTIONS.bandLevels.length * OPTIONS.bandSamples);
  // Brute force: every row through the same SAE, sorted.
  const sae = makeSae();
  const all: { v: number; ctx: number; pos: number }[][] = Array.from({ length: m }, () => []);
  for await (const c of syntheticSource(contexts).chunks()) {
    const codes = new Float32Array(c.rows * m);
    sae.forward(c.acts[0], c.rows, codes, new Float32Array(c.rows * d));
    for (let r = 0; r < c.rows; r++)
      for (let f = 0; f < m; f++)
        if (codes[r * m + f] > 0) all[f].push({ v: codes[r * m + f], ctx: c.context[r], pos: c.position[r] });
  }
  for (let f = 0; f < m; f++) {
    assert.ok(all[f].length > 10_000, `feature ${f} fires ${all[f].length} times`);
    assert.equal(big.top.size[f], OPTIONS.top);
    assert.equal(big.count[f], all[f].length);
    const want = all[f].sort((a, b) => b.v - a.v || a.ctx - b.ctx || a.pos - b.pos).slice(0, OPTIONS.top);
    const got = big.top.sorted(f).map((s) => ({
      v: big.top.pool.value[s],
      ctx: big.top.pool.context[s],
      pos: big.top.pool.position[s],
    }));
    assert.deepEqual(got, want, `feature ${f}`);
    for (let b = 0; b < OPTIONS.bandLevels.length; b++) {
      assert.ok(big.bands.seen[f * OPTIONS.bandLevels.length + b] > OPTIONS.bandSamples);
      assert.equal(big.bands.sorted(f, b).length, OPTIONS.bandSamples);
    }
  }
});

test("reservoir samples are uniform over the stream (Algorithm R)", () => {
  const n = 1000;
  const k = 10;
  const seeds = 300;
  const deciles = new Array(10).fill(0);
  const noop = () => {};
  for (let s = 0; s < seeds; s++) {
    const res = new Reservoirs(1, 1, k, 1, s);
    for (let i = 0; i < n; i++) res.offer(0, 0, 1, i, 0, noop);
    for (const slot of res.sorted(0, 0)) deciles[Math.floor(res.pool.context[slot] / (n / 10))]++;
  }
  // Each decile expects seeds * k / 10 = 300 inclusions; binomial sd ~ 16.4: allow 5 sd.
  const expect = (seeds * k) / 10;
  for (const [i, c] of deciles.entries()) assert.ok(Math.abs(c - expect) < 82, `decile ${i}: ${c} vs ${expect}`);
});
