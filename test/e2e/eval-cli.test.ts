/**
 * `msae eval` as a user runs it (child processes) on the tiny random Gemma-2 fixture:
 *  - --json prints exactly the metric names, with the values evaluateSae gives in-process;
 *  - a SAELens v5 folder written by hand (flat cfg, b_dec not applied to the input) gives the
 *    reconstruction metrics of SAELens's own forward computed here in float64;
 *  - several --data give one block per corpus (--out writes the same JSON);
 *  - --acts on a store (harvested here) and on one of its shard files gives the reconstruction
 *    metrics only, equal to the model path's on the same contexts (an independent route: the
 *    harvest's stored rows against the live forward);
 *  - a folder whose recorded training figures disagree prints the loaded-SAE check line on stderr
 *    (with the model, and with --acts from the stored rows);
 *  - bad options and missing folders are one line each.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parseSaeHyper } from "../../src/config/sae.ts";
import { Rng } from "../../src/core/tensor.ts";
import { packDocuments } from "../../src/data/packing.ts";
import { openCorpus } from "../../src/data/spec.ts";
import { evaluateSae } from "../../src/eval/evaluate.ts";
import { ALL_METRICS, RECON_METRICS } from "../../src/eval/metrics.ts";
import { hookDir, runHarvest } from "../../src/harvest/harvest.ts";
import { writeSafetensorsSync } from "../../src/io/safetensors-write.ts";
import { loadModel } from "../../src/lm/loader.ts";
import { BASELINE_FACTORIES } from "../../src/sae/baselines/index.ts";
import { loadSae } from "../../src/sae/load.ts";
import { saveSae } from "../../src/sae/save.ts";
import { msae, ROOT } from "../helpers/cli.ts";
import { naiveRecon, rowsOf } from "../helpers/eval-naive.ts";

const FIXTURE = join(ROOT, "test", "golden", "lm", "gemma2-old");
const HOOK = "blocks.1.hook_resid_post";
const C = 16;
const dir = mkdtempSync(join(tmpdir(), "msae-eval-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const model = loadModel(FIXTURE);
const d = model.dims.dModel;
const SAE = join(dir, "sae");
const WRONG = join(dir, "wrong");
const OTHER = join(dir, "other-hook");

before(async () => {
  const hyper = parseSaeHyper({ arch: "topk", m: 2 * d, k: 6 }, d, "test");
  const sae = BASELINE_FACTORIES.topk(hyper, model.backend, {
    arrayType: "f32",
    seed: 4,
    firstBatch: new Float32Array(d),
    rows: 1,
  });
  saveSae(SAE, sae, { scale: 0.5, info: { hook_name: HOOK, context_size: C } });
  saveSae(WRONG, sae, { scale: 0.5, info: { hook_name: HOOK, context_size: C, l0: 40, explained_variance: 0.95 } });
  const other = { hook_name: "blocks.2.hook_resid_post", context_size: C, l0: 40, explained_variance: 0.95 };
  saveSae(OTHER, sae, { scale: 0.5, info: other });
  const tok = model.tokenizer as unknown as { encode(t: string): Int32Array; bosId: number; padId: number };
  await runHarvest(model, tok, {
    modelDir: FIXTURE,
    corpus: openCorpus("brown:validation"),
    data: ["brown:validation"],
    hooks: [HOOK],
    tokens: 8 * C,
    contextSize: C,
    llmBatch: 4,
    dtype: "f32",
    runDir: join(dir, "run"),
    keepSpecial: false,
    contextsPerShard: 4,
  });
});

test("msae eval --json: exactly the metric names, the values of evaluateSae in-process", async () => {
  const r = msae(["eval", "--sae", SAE, "--model", FIXTURE, "--tokens", String(6 * C), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(got).sort(), [...ALL_METRICS].sort());
  const loaded = loadSae<Float32Array>(SAE, BASELINE_FACTORIES, model.backend, { arrayType: "f32" });
  const want = await evaluateSae(model, loaded.sae, openCorpus("brown:validation"), {
    hook: HOOK,
    scale: loaded.scale,
    tokens: 6 * C,
    contextSize: C,
  });
  for (const k of ALL_METRICS) assert.equal(got[k], want.metrics[k], k);
  assert.equal(got.l0, 6);
});

test("msae eval on a SAELens v5 folder written by hand (flat cfg.json, hook_point, apply_b_dec_to_input false)", async () => {
  const folder = join(dir, "saelens-v5");
  mkdirSync(folder);
  const m = 64;
  const rng = new Rng(12);
  const t = (n: number, s: number) => {
    const a = new Float32Array(n);
    rng.fillNormal(a, s);
    return a;
  };
  const [wEnc, bEnc, wDec, bDec] = [t(d * m, 0.2), t(m, 0.1), t(m * d, 0.2), t(d, 0.1)];
  writeSafetensorsSync(join(folder, "sae_weights.safetensors"), {
    W_enc: { dtype: "F32", shape: [d, m], data: wEnc },
    b_enc: { dtype: "F32", shape: [m], data: bEnc },
    W_dec: { dtype: "F32", shape: [m, d], data: wDec },
    b_dec: { dtype: "F32", shape: [d], data: bDec },
  });
  const cfg = { d_in: d, d_sae: m, hook_point: HOOK, context_size: C, apply_b_dec_to_input: false, dtype: "float32" };
  writeFileSync(join(folder, "cfg.json"), JSON.stringify(cfg));
  const r = msae(["eval", "--sae", folder, "--model", FIXTURE, "--tokens", String(3 * C), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /apply_b_dec_to_input false: b_enc \+= b_dec W_enc/);
  const got = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(got).sort(), [...ALL_METRICS].sort());
  // SAELens's own forward, in float64 here: h = ReLU(x W_enc + b_enc) (no b_dec subtracted), x^ = h W_dec + b_dec
  const tok = model.tokenizer as unknown as { encode(t: string): Int32Array; bosId: number; padId: number };
  const xs: number[][] = [];
  let n = 0;
  for await (const ctx of packDocuments(openCorpus("brown:validation").documents(), tok, { contextSize: C })) {
    const a = model.run([Array.from(ctx)], { capture: [HOOK], logits: false, copy: true }).cache[HOOK].data;
    rowsOf(a, C, d).forEach((row, i) => {
      if (![0, 1, 2].includes(ctx[i])) xs.push(row);
    });
    if (++n === 3) break;
  }
  const x3 = xs;
  const codes = x3.map((x) =>
    Array.from({ length: m }, (_, i) =>
      Math.max(
        0,
        x.reduce((acc, v, j) => acc + v * wEnc[j * m + i], bEnc[i]),
      ),
    ),
  );
  const xhat = codes.map((h) =>
    Array.from({ length: d }, (_, j) => h.reduce((acc, v, i) => acc + v * wDec[i * d + j], bDec[j])),
  );
  const want = naiveRecon([{ x: x3, xhat, codes }], m);
  for (const k of RECON_METRICS)
    assert.ok(
      Math.abs(got[k] - want[k]) <= 2e-5 * Math.max(1, Math.abs(want[k])),
      `${k}: ${got[k]} vs SAELens ${want[k]}`,
    );
});

test("msae eval with two --data: one block per corpus; text output names the corpus and counts", () => {
  const r = msae([
    "eval",
    "--sae",
    SAE,
    "--model",
    FIXTURE,
    "--tokens",
    String(4 * C),
    "--data",
    "brown:validation",
    "--data",
    "nlp-corpus",
    "--json",
    "--out",
    join(dir, "eval", "out.json"),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(got), ["brown:validation", "nlp-corpus"]);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "eval", "out.json"), "utf8")), got);
  for (const block of Object.values(got))
    assert.deepEqual(Object.keys(block as object).sort(), [...ALL_METRICS].sort());
  assert.notEqual(got["nlp-corpus"].ce_clean, got["brown:validation"].ce_clean);
  const t = msae(["eval", "--sae", SAE, "--model", FIXTURE, "--tokens", String(2 * C)]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(
    t.stdout,
    /at blocks\.1\.hook_resid_post on brown:validation: \d+ tokens \(2 contexts of 16\), \d+ CE-scored\nmse +[0-9.e-]+\n/,
  );
  assert.match(t.stdout, /\nkl_div_score +-?[0-9.e-]+\n$/);
});

test("msae eval --acts (store folder, run folder, shard file): reconstruction metrics equal the model path's", async () => {
  const store = hookDir(join(dir, "run"), HOOK);
  const viaModel = msae(["eval", "--sae", SAE, "--model", FIXTURE, "--tokens", String(8 * C), "--json"]);
  assert.equal(viaModel.code, 0, viaModel.stderr);
  const live = JSON.parse(viaModel.stdout);
  for (const path of [store, join(dir, "run")]) {
    const r = msae(["eval", "--sae", SAE, "--acts", path, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(got).sort(), [...RECON_METRICS].sort());
    for (const k of RECON_METRICS)
      assert.ok(Math.abs(got[k] - live[k]) <= 1e-12 * Math.max(1, Math.abs(live[k])), `${k}: ${got[k]} vs ${live[k]}`);
  }
  const shard = join(store, readdirSync(store).find((f) => f.startsWith("shard-"))!);
  const s = msae(["eval", "--sae", SAE, "--acts", shard]);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /on .*shard-00000\.safetensors: \d+ rows\nmse /);
});

test("msae eval: the loaded-SAE check line on stderr when the recorded figures disagree", () => {
  const r = msae(["eval", "--sae", WRONG, "--model", FIXTURE, "--tokens", String(2 * C), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("loaded-SAE check:"));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    lines[0],
    /was trained at EV 0\.950, L0 40\.00 but measures EV .* on blocks\.1\.hook_resid_post: likely cause: architecture/,
  );
  JSON.parse(r.stdout); // stdout stays pure JSON
  const quiet = msae(["eval", "--sae", WRONG, "--model", FIXTURE, "--tokens", String(2 * C), "--no-check", "--json"]);
  assert.ok(!quiet.stderr.includes("loaded-SAE check"));
  // on stored activations: the same check, diagnosed from the store's first rows
  const store = hookDir(join(dir, "run"), HOOK);
  const s = msae(["eval", "--sae", WRONG, "--acts", store, "--json"]);
  assert.equal(s.code, 0, s.stderr);
  assert.match(
    s.stderr,
    /^loaded-SAE check: .* on blocks\.1\.hook_resid_post: likely cause: architecture: no rescaling of the inputs/m,
  );
  const h = msae(["eval", "--sae", OTHER, "--acts", store, "--json"]);
  assert.match(
    h.stderr,
    /^eval: note: the store holds blocks\.1\.hook_resid_post but the SAE is for blocks\.2\.hook_resid_post$/m,
  );
  assert.match(
    h.stderr,
    /likely cause: hook: it was trained on blocks\.2\.hook_resid_post; evaluate it on that hook's activations$/m,
  );
});

test("msae eval: bad options and missing folders are one line each", () => {
  const cases: [string[], number, RegExp][] = [
    [
      ["eval", "--sae", SAE, "--model", FIXTURE, "--tokens", "0"],
      2,
      /--tokens "0" is not valid: expected an integer in \[1, /,
    ],
    [
      ["eval", "--sae", SAE, "--model", FIXTURE, "--data", "brown:nope"],
      2,
      /--data: data spec "brown:nope" is not valid/,
    ],
    [
      ["eval", "--sae", join(dir, "none"), "--model", FIXTURE],
      1,
      /cfg\.json: cannot read \(no such file\); expected an SAELens cfg\.json/,
    ],
    [
      ["eval", "--sae", SAE, "--model", FIXTURE, "--hook", "blocks.7.hook_resid_post"],
      2,
      /unknown hook "blocks\.7\.hook_resid_post"/,
    ],
    [["eval", "--sae", SAE, "--acts", join(dir, "none")], 1, /not an activation store/],
    [["eval", "--sae", SAE, "--acts", join(dir, "run"), "--data", "nlp-corpus"], 2, /--acts and --data both given/],
  ];
  for (const [args, code, re] of cases) {
    const r = msae(args);
    assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], re);
  }
});
