/**
 * Add-k n-gram baselines (src/lm/train/baselines.ts) against a hand computation on a tiny token
 * stream, the target rule they share with the LM (data.ts fillTargets), and the k tuning against
 * a brute-force search written here.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../src/core/tensor.ts";
import { countPairs, fitBaselines, K_GRID, ngramLosses } from "../../src/lm/train/baselines.ts";
import { fillTargets, type PackedContexts } from "../../src/lm/train/data.ts";

const BOS = 0;
const V = 5;

function ctx(rows: number[][]): PackedContexts {
  return { seq: rows[0].length, count: rows.length, ids: Int32Array.from(rows.flat()) };
}

test("fillTargets: next token, -1 where the next token is BOS and at each context's last position", () => {
  const ids = Int32Array.from([0, 1, 2, 1, 0, 2, 0, 3]);
  const targets = new Int32Array(8);
  const n = fillTargets(ids, 4, BOS, targets);
  assert.deepEqual(Array.from(targets), [1, 2, 1, -1, 2, -1, 3, -1]);
  assert.equal(n, 5);
});

test("unigram and bigram add-k losses match a hand computation", () => {
  // training pairs (u, w): (0,1) (1,2) (2,1) | (0,2) [(2,0) skipped: target BOS] (0,3)
  const train = ctx([
    [0, 1, 2, 1],
    [0, 2, 0, 3],
  ]);
  const counts = countPairs(train, V, BOS);
  assert.equal(counts.pairs, 5);
  // evaluation pairs: (0,3) (3,1) (1,4)
  const evalCtx = ctx([[0, 3, 1, 4]]);
  const k = 0.5;
  const r = ngramLosses(counts, evalCtx, BOS, k, k);
  assert.equal(r.pairs, 3);
  // unigram: N = 5, kV = 2.5: c(3) = 1, c(1) = 2, c(4) = 0
  const uni = -(Math.log(1.5 / 7.5) + Math.log(2.5 / 7.5) + Math.log(0.5 / 7.5)) / 3;
  // bigram: c(0) = 3, c(0,3) = 1; c(3) = 0; c(1) = 1, c(1,4) = 0
  const bi = -(Math.log(1.5 / 5.5) + Math.log(0.5 / 2.5) + Math.log(0.5 / 3.5)) / 3;
  assert.ok(Math.abs(r.unigram - uni) < 1e-12, `unigram ${r.unigram} vs ${uni}`);
  assert.ok(Math.abs(r.bigram - bi) < 1e-12, `bigram ${r.bigram} vs ${bi}`);
  // different k per model
  const r2 = ngramLosses(counts, evalCtx, BOS, 1, 0.1);
  const uni2 = -(Math.log(2 / 10) + Math.log(3 / 10) + Math.log(1 / 10)) / 3;
  const bi2 = -(Math.log(1.1 / 3.5) + Math.log(0.1 / 0.5) + Math.log(0.1 / 1.5)) / 3;
  assert.ok(Math.abs(r2.unigram - uni2) < 1e-12 && Math.abs(r2.bigram - bi2) < 1e-12);
});

test("k is tuned on a held-out slice of the training contexts, then the model is fitted on all of them", () => {
  const [n, T, vocab] = [200, 9, 7];
  const rng = new Rng(5);
  // a Markov-ish stream so bigrams beat unigrams and the best k is interior
  const rows: number[][] = [];
  for (let c = 0; c < n; c++) {
    const row = [BOS];
    for (let t = 1; t < T; t++)
      row.push(rng.next() < 0.6 ? 1 + ((row[t - 1] + 1) % (vocab - 1)) : 1 + rng.int(vocab - 1));
    rows.push(row);
  }
  const train = ctx(rows);
  const fitted = fitBaselines(train, vocab, BOS);
  // brute force: blocks of clamp(floor(200 / 20), 1, 16) = 10 contexts, every 10th block tunes
  const tune = (c: number) => Math.floor(c / 10) % 10 === 9;
  const pairsOf = (keep: (c: number) => boolean) => {
    const out: [number, number][] = [];
    for (let c = 0; c < n; c++) {
      if (!keep(c)) continue;
      for (let t = 0; t < T - 1; t++) if (rows[c][t + 1] !== BOS) out.push([rows[c][t], rows[c][t + 1]]);
    }
    return out;
  };
  const fitPairs = pairsOf((c) => !tune(c));
  const tunePairs = pairsOf(tune);
  assert.ok(tunePairs.length > 0 && fitPairs.length > tunePairs.length);
  const uniLoss = (k: number) => {
    const cw = new Array(vocab).fill(0);
    for (const [, w] of fitPairs) cw[w]++;
    let s = 0;
    for (const [, w] of tunePairs) s -= Math.log((cw[w] + k) / (fitPairs.length + k * vocab));
    return s / tunePairs.length;
  };
  const biLoss = (k: number) => {
    const cuw = new Map<string, number>();
    const cu = new Array(vocab).fill(0);
    for (const [u, w] of fitPairs) {
      cuw.set(`${u},${w}`, (cuw.get(`${u},${w}`) ?? 0) + 1);
      cu[u]++;
    }
    let s = 0;
    for (const [u, w] of tunePairs) s -= Math.log(((cuw.get(`${u},${w}`) ?? 0) + k) / (cu[u] + k * vocab));
    return s / tunePairs.length;
  };
  const argmin = (f: (k: number) => number) => K_GRID.reduce((best, k) => (f(k) < f(best) ? k : best), K_GRID[0]);
  assert.equal(fitted.unigramK, argmin(uniLoss));
  assert.equal(fitted.bigramK, argmin(biLoss));
  assert.equal(fitted.counts.pairs, pairsOf(() => true).length, "the final fit uses every training context");
  assert.equal(K_GRID.length, 21);
  assert.ok(Math.abs(K_GRID[0] - 1e-4) < 1e-18 && Math.abs(K_GRID[20] - 10) < 1e-12);
});
