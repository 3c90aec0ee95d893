/**
 * Reconstruction and sparsity metrics (src/eval/recon.ts, stored.ts) against the naive float64
 * formulas of test/helpers/eval-naive.ts on hand-made x, x^, codes; the stored-activation path
 * (groups by context blocks, dataset scale, .safetensors files) against the naive formulas on the
 * SAE's own forward computed here.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseSaeHyper } from "../../src/config/sae.ts";
import { getBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import { RECON_METRICS } from "../../src/eval/metrics.ts";
import { ReconAccumulator } from "../../src/eval/recon.ts";
import { chunkOfSafetensors, evaluateOnChunks } from "../../src/eval/stored.ts";
import type { ActChunk } from "../../src/harvest/activations.ts";
import { writeSafetensorsSync } from "../../src/io/safetensors-write.ts";
import { SAE_FACTORIES } from "../../src/sae/registry.ts";
import { type NaiveGroup, naiveRecon, rowsOf } from "../helpers/eval-naive.ts";

const FACTORIES = SAE_FACTORIES;

function close(got: Record<string, number>, want: Record<string, number>, tol: number, what: string): void {
  for (const k of RECON_METRICS) {
    const g = got[k];
    const w = want[k];
    assert.ok(Number.isFinite(w), `${what}: naive ${k} is ${w}`);
    assert.ok(Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)), `${what}: ${k} = ${g}, naive ${w}`);
  }
}

test("recon metrics equal the naive formulas on hand-made x, x^, codes (groups, x^ = 0 rows, large offsets)", () => {
  const d = 5;
  const m = 7;
  const rng = new Rng(3);
  const groups: NaiveGroup[] = [];
  for (const size of [3, 4, 1, 6]) {
    const g: NaiveGroup = { x: [], xhat: [], codes: [] };
    for (let t = 0; t < size; t++) {
      const x = Array.from({ length: d }, (_, j) => 1000 * (j === 0 ? 1 : 0) + rng.normal() * (1 + j));
      const zero = groups.length === 1 && t === 2;
      g.x.push(x);
      g.xhat.push(zero ? x.map(() => 0) : x.map((v) => 0.9 * v + 0.3 * rng.normal()));
      // feature 6 never fires; negative codes count in l0 and |.| in l1
      g.codes.push(Array.from({ length: m }, (_, i) => (i === 6 || rng.next() < 0.4 ? 0 : rng.normal())));
    }
    groups.push(g);
  }
  const acc = new ReconAccumulator(d, m);
  for (const g of groups)
    acc.add(
      Float64Array.from(g.x.flat()),
      Float32Array.from(g.xhat.flat()),
      Float64Array.from(g.codes.flat()),
      g.x.length,
    );
  // x^ was stored as float32 above: the naive side uses the same rounded values
  const rounded = groups.map((g) => ({ ...g, xhat: g.xhat.map((r) => Array.from(Float32Array.from(r))) }));
  const want = naiveRecon(rounded, m);
  close(acc.result(), want, 1e-10, "hand-made");
  assert.equal(acc.tokens, 14);
  assert.equal(want.frac_alive, 6 / 7);
  // a different grouping changes only the legacy EV
  const acc2 = new ReconAccumulator(d, m);
  const all = rounded.reduce((a, g) => ({
    x: [...a.x, ...g.x],
    xhat: [...a.xhat, ...g.xhat],
    codes: [...a.codes, ...g.codes],
  }));
  acc2.add(
    Float64Array.from(all.x.flat()),
    Float64Array.from(all.xhat.flat()),
    Float64Array.from(all.codes.flat()),
    14,
  );
  const one = naiveRecon([all], m);
  close(acc2.result(), one, 1e-10, "one group");
  assert.ok(Math.abs(one.explained_variance_legacy - want.explained_variance_legacy) > 1e-6);
  assert.equal(one.explained_variance, want.explained_variance);
});

test("recon accumulator: no tokens is an error, not NaN", () => {
  assert.throws(() => new ReconAccumulator(3, 4).result(), /no tokens were evaluated/);
});

/** Chunks of rows with contexts: ctx c has `perCtx[c]` rows. */
function makeChunks(d: number, perCtx: number[], seed: number): ActChunk[] {
  const rng = new Rng(seed);
  const chunks: ActChunk[] = [];
  let c0 = 0;
  while (c0 < perCtx.length) {
    const c1 = Math.min(perCtx.length, c0 + 3); // 3 contexts per chunk: groups of 2 span chunks
    const rows = perCtx.slice(c0, c1).reduce((s, v) => s + v, 0);
    const acts = new Float32Array(rows * d);
    for (let i = 0; i < acts.length; i++) acts[i] = 2 * rng.normal() + 0.5 * (i % d);
    const context = new Int32Array(rows);
    let r = 0;
    for (let c = c0; c < c1; c++) for (let k = 0; k < perCtx[c]; k++) context[r++] = c;
    const token = Int32Array.from({ length: rows }, (_, i) => (i % 5 === 0 ? 7 : 10 + i));
    chunks.push({ contexts: [c0, c1], rows, acts: [acts], token, context, position: new Int32Array(rows) });
    c0 = c1;
  }
  return chunks;
}

for (const arch of ["relu", "multiscale"] as const) {
  test(`stored activations (${arch}, scale c = 2.5): metrics equal the naive formulas on the SAE's forward of c x, divided by c`, async () => {
    const d = 8;
    const m = 16;
    const be = getBackend("ref");
    const hyper = parseSaeHyper({ arch, m, l1: 0.1 }, d, "test");
    const chunks = makeChunks(d, [4, 3, 5, 2, 4, 1, 3], 11);
    const first = chunks[0].acts[0].map((v) => v * 2.5);
    const sae = FACTORIES[arch](hyper, be, {
      arrayType: "f64",
      seed: 5,
      firstBatch: Float64Array.from(first),
      rows: chunks[0].rows,
    });
    const c = 2.5;
    const r = await evaluateOnChunks(chunks, sae, { scale: c, batch: 2, contextSize: 5, d, excludedIds: [7] });
    // naive: groups = context blocks of 2, token 7 rows dropped, x^ = forward(c x) / c
    const groups: NaiveGroup[] = [];
    const rows = chunks.flatMap((ch) =>
      rowsOf(ch.acts[0], ch.rows, d).map((x, i) => ({ x, ctx: ch.context[i], tok: ch.token[i] })),
    );
    for (let b = 0; b < 4; b++) {
      const sel = rows.filter((q) => Math.floor(q.ctx / 2) === b && q.tok !== 7);
      const xin = Float64Array.from(sel.flatMap((q) => q.x.map((v) => c * v)));
      const codes = new Float64Array(sel.length * m);
      const recon = new Float64Array(sel.length * d);
      sae.forward(xin, sel.length, codes, recon);
      groups.push({
        x: sel.map((q) => q.x),
        xhat: rowsOf(recon, sel.length, d).map((row) => row.map((v) => v / c)),
        codes: rowsOf(codes, sel.length, m),
      });
    }
    close(r.metrics, naiveRecon(groups, m), 1e-9, arch);
    assert.equal(
      r.tokens,
      groups.reduce((s, g) => s + g.x.length, 0),
    );
    assert.equal(r.contexts, 7);
  });
}

test("a .safetensors file of activations (acts + context) evaluates like the same chunk; bad files are one line", async () => {
  const dir = mkdtempSync(join(tmpdir(), "msae-eval-"));
  try {
    const d = 8;
    const [chunk] = makeChunks(d, [4, 3, 5], 2);
    const file = join(dir, "acts.safetensors");
    writeSafetensorsSync(file, {
      acts: { dtype: "F32", shape: [chunk.rows, d], data: chunk.acts[0] },
      context: { dtype: "I32", shape: [chunk.rows], data: chunk.context },
    });
    const be = getBackend("ref");
    const hyper = parseSaeHyper({ arch: "topk", m: 16, k: 3 }, d, "test");
    const sae = FACTORIES.topk(hyper, be, { arrayType: "f32", seed: 1, firstBatch: chunk.acts[0], rows: chunk.rows });
    const a = await evaluateOnChunks([chunkOfSafetensors(file, 128)], sae, { contextSize: 128, d, batch: 2 });
    const b = await evaluateOnChunks([chunk], sae, { contextSize: 128, d, batch: 2 });
    assert.deepEqual(a.metrics, b.metrics);
    assert.equal(a.metrics.l0, 3);
    writeSafetensorsSync(file, { x: { dtype: "F32", shape: [2, 2], data: new Float32Array(4) } });
    assert.throws(() => chunkOfSafetensors(file, 128), /has no tensor "acts"; expected acts \[rows, d\]/);
    await assert.rejects(
      evaluateOnChunks([chunk], sae, { contextSize: 128, d: 9 }),
      /d = 9 values per row but the SAE reads d_in = 8/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
