/**
 * `msae train` as a user runs it (child processes) on stores harvested from the tiny Gemma-2
 * fixtures:
 *  - two archs on one store write runs/<name>/sae/<arch>/<hook>/ (SAELens folder, log, checkpoint);
 *  - streaming from the model (--model --data --hook) with the same --tokens trains on the same
 *    rows in the same order, so its weights are byte-identical to the store-trained ones;
 *  - a run killed with SIGKILL after some checkpoints and continued with --resume ends with
 *    weights byte-identical to an uninterrupted run (3 SAEs in lockstep);
 *  - faults: --k on relu, an unknown arch, a bad number, two stores whose d differ, --resume with
 *    another --l1: one line each, exit 2 (usage) or 1 (runtime).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { BIN, msae, ROOT } from "../helpers/cli.ts";

const OLD = join(ROOT, "test", "golden", "lm", "gemma2-old"); // d 48
const NEW = join(ROOT, "test", "golden", "lm", "gemma2-new"); // d 32
const HOOK = "blocks.1.hook_resid_post";
const dir = mkdtempSync(join(tmpdir(), "msae-train-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const SMALL = [
  "--tokens",
  "4096",
  "--batch-size",
  "64",
  "--config",
  '{"bufferContexts":16,"contextSize":32,"llmBatch":8}',
];
const store = (run: string) => join(dir, run, "acts", HOOK);

before(() => {
  for (const [run, model] of [
    ["old", OLD],
    ["new", NEW],
  ] as const) {
    const r = msae(
      ["harvest", "--model", model, "--data", "brown:validation", "--hooks", HOOK, "--tokens", "4096"].concat([
        "--context",
        "32",
        "--llm-batch",
        "8",
        "--out",
        join(dir, run),
      ]),
    );
    assert.equal(r.code, 0, r.stderr);
  }
});

test("store and streaming runs write SAELens folders; streaming gives byte-identical weights", () => {
  const a = msae(["train", "--arch", "relu,topk", "--k", "8", "--acts", store("old"), ...SMALL]);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /train: done at step 16\/16, 4096 tokens/);
  const out = join(dir, "stream");
  const b = msae(
    ["train", "--arch", "relu,topk", "--k", "8", "--model", OLD, "--data", "brown:validation"].concat([
      "--hook",
      HOOK,
      "--out",
      out,
      ...SMALL,
    ]),
  );
  assert.equal(b.code, 0, b.stderr);
  for (const arch of ["relu", "topk"]) {
    const da = join(dir, "old", "sae", arch, HOOK);
    const db = join(out, "sae", arch, HOOK);
    assert.ok(readdirSync(da).includes("cfg.json"));
    const cfg = JSON.parse(readFileSync(join(da, "cfg.json"), "utf8"));
    assert.equal(cfg.architecture, arch === "relu" ? "standard" : "topk");
    assert.equal(cfg.metadata.hook_name, HOOK);
    assert.ok(
      readFileSync(join(da, "sae_weights.safetensors")).equals(readFileSync(join(db, "sae_weights.safetensors"))),
      `${arch}: the streamed SAE differs from the store-trained one`,
    );
  }
});

test("bad flags and mismatched data are one-line errors", () => {
  const cases: [string[], number, RegExp][] = [
    [
      ["--arch", "relu", "--k", "4", "--acts", store("old")],
      2,
      /^msae: --k does not apply to --arch relu: it is for topk/,
    ],
    [["--arch", "nope", "--acts", store("old")], 2, /^msae: --arch "nope" is not valid: expected one of base,/],
    [["--arch", "relu", "--l1", "x", "--acts", store("old")], 2, /^msae: --l1 "x" is not valid: expected a number/],
    [
      ["--arch", "relu", "--acts", `${store("old")},${store("new")}`, "--out", join(dir, "mix")],
      2,
      /^msae: store .* has d = 32 but .* has d = 48/,
    ],
    [
      ["--arch", "relu,topk", "--k", "8", "--l1", "3", "--acts", store("old"), ...SMALL, "--resume"],
      1,
      /^msae: --resume: relu\/blocks\.1\.hook_resid_post was checkpointed with config\.sae\.l1 = 2 but this run has 3/,
    ],
  ];
  for (const [args, code, re] of cases) {
    const r = msae(["train", ...args]);
    assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `one line: ${r.stderr}`);
    assert.match(lines[0], re);
  }
});

test("a training killed with SIGKILL and continued with --resume ends byte-identical to an uninterrupted run", async () => {
  const args = (out: string) => [
    "train",
    "--arch",
    "multiscale,topk,relu",
    "--k",
    "8",
    "--acts",
    store("old"),
    "--tokens",
    String(64 * 4 * 150),
    "--batch-size",
    "64",
    "--config",
    '{"bufferContexts":16,"checkpointEvery":5,"reactivateEvery":7}',
    "--out",
    out,
  ];
  const full = join(dir, "kill-full");
  const a = msae(args(full));
  assert.equal(a.code, 0, a.stderr);
  const killed = join(dir, "kill-part");
  const child = spawn(process.execPath, [BIN, ...args(killed)], {
    cwd: ROOT,
    stdio: "ignore",
    env: { ...process.env, CI: "true" },
  });
  const ck = join(killed, "sae", "relu", HOOK, "checkpoint");
  await new Promise<void>((res, rej) => {
    const t0 = Date.now();
    const poll = setInterval(() => {
      const steps = existsSync(ck) ? readdirSync(ck).filter((f) => /^step-\d+\.safetensors$/.test(f)) : [];
      if (steps.some((f) => Number(f.slice(5, 13)) >= 20)) {
        clearInterval(poll);
        child.kill("SIGKILL");
        res();
      } else if (Date.now() - t0 > 120_000 || child.exitCode !== null) {
        clearInterval(poll);
        rej(new Error(`no checkpoint past step 20 before the run ended (exit ${child.exitCode})`));
      }
    }, 15);
  });
  await new Promise((res) => child.on("exit", res));
  assert.equal(existsSync(join(killed, "sae", "relu", HOOK, "cfg.json")), false, "killed before the end");
  // The half-trained SAE folder is refused with one line, never loaded as if complete.
  const ev = msae(["eval", "--sae", join(killed, "sae", "relu", HOOK), "--acts", store("old")]);
  assert.equal(ev.code, 1);
  assert.equal(ev.stderr.trim().split("\n").length, 1, ev.stderr);
  assert.match(ev.stderr, /^msae: .*cfg\.json/);
  const b = msae([...args(killed), "--resume"]);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /resuming 3 SAE\(s\) at step \d+\/150/);
  for (const arch of ["multiscale", "topk", "relu"]) {
    const w = (run: string) => readFileSync(join(run, "sae", arch, HOOK, "sae_weights.safetensors"));
    assert.ok(w(full).equals(w(killed)), `${arch}: resumed weights differ from the uninterrupted run`);
  }
});
