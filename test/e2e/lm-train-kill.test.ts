/**
 * A model folder left by a real SIGKILL of `msae lm train` (configs/lm-smoke.json, a child process)
 * at any moment is either refused with one line or resumed, never loaded as if complete:
 * - kills at spread-out moments of a measured full run, and one right after a mid-run checkpoint
 *   (model.safetensors and config.json are then on disk: before the run marker, such a folder
 *   loaded as a finished model);
 * - each folder: loadModel refuses it with one line (missing files, or the "incomplete" marker
 *   naming the resume command) unless its marker says complete; `msae inspect` exits non-zero with
 *   the problem on its line;
 * - one killed folder is resumed with --resume and then loads and evaluates.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { refBackend } from "../../src/core/backends/index.ts";
import { brownDocument } from "../../src/data/brown.ts";
import { readRunMarker } from "../../src/io/complete.ts";
import { loadModel } from "../../src/lm/loader.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const CONFIG = join(ROOT, "configs", "lm-smoke.json");
let dir = "";
let corpus = "";
let fullMs = 0;

function trainArgs(out: string, extra: string[] = []): string[] {
  return [
    "--import",
    "tsx",
    "src/cli/main.ts",
    "lm",
    "train",
    "--config",
    CONFIG,
    "--data",
    corpus,
    "--out",
    out,
    ...extra,
  ];
}

function startTrain(out: string): ChildProcess {
  return spawn(process.execPath, trainArgs(out), { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

/** Asserts the folder is refused with one line, or complete by its marker and loadable. */
function refusedOrComplete(out: string, label: string): "refused" | "complete" {
  let marker: ReturnType<typeof readRunMarker> = null;
  try {
    marker = readRunMarker(out);
  } catch {
    marker = null; // a torn marker cannot exist (atomic writes); a corrupt one must be refused below
  }
  let error: Error | null = null;
  try {
    loadModel(out, { backend: refBackend });
  } catch (e) {
    error = e as Error;
  }
  if (marker?.status === "complete") {
    assert.equal(error, null, `${label}: marked complete but refused: ${error?.message}`);
    return "complete";
  }
  assert.ok(error, `${label}: an unfinished folder (marker ${marker?.status ?? "absent"}) loaded as complete`);
  assert.ok(!error.message.includes("\n"), `${label}: one line: ${error.message}`);
  if (marker?.status === "incomplete") assert.match(error.message, /is incomplete: .*msae lm train --resume --out/);
  return "refused";
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "msae-lm-kill-"));
  corpus = join(dir, "corpus.txt");
  const ids = ["ca01", "ca02", "ca03", "ca04", "ca05", "ca06", "cb01", "cb02", "cb03", "cb04", "cc01", "cc02"];
  writeFileSync(corpus, ids.map((id) => brownDocument(id)).join("\n\n"));
  const t0 = performance.now();
  const r = spawnSync(process.execPath, trainArgs(join(dir, "full")), { cwd: ROOT, encoding: "utf8" });
  fullMs = performance.now() - t0;
  assert.equal(r.status, 0, r.stderr);
});

after(() => rmSync(dir, { recursive: true, force: true }));

test("SIGKILL at spread-out moments: every folder is refused with one line or complete by its marker", async () => {
  const outcomes: string[] = [];
  for (const frac of [0.15, 0.35, 0.5, 0.65, 0.8, 0.95]) {
    const out = join(dir, `kill-${frac}`);
    const child = startTrain(out);
    await new Promise((r) => setTimeout(r, frac * fullMs));
    child.kill("SIGKILL");
    await exited(child);
    outcomes.push(`${frac}:${refusedOrComplete(out, `kill at ${frac}`)}`);
  }
  console.log(`kill outcomes (fraction of a ${Math.round(fullMs)} ms run: result): ${outcomes.join(" ")}`);
  assert.ok(
    outcomes.some((o) => o.endsWith("refused")),
    outcomes.join(" "),
  );
  assert.ok(refusedOrComplete(join(dir, "full"), "full run") === "complete");
});

test("SIGKILL right after a mid-run checkpoint: the exported model files are there, the folder is refused, --resume finishes it", async () => {
  const out = join(dir, "after-checkpoint");
  const child = startTrain(out);
  let stderr = "";
  await new Promise<void>((resolve) => {
    child.stderr!.on("data", (c: Buffer) => {
      stderr += c.toString();
      if (/step 30\/50/.test(stderr)) {
        child.kill("SIGKILL"); // the step-25 checkpoint and model folder are written
        resolve();
      }
    });
    child.once("exit", () => resolve());
  });
  await exited(child);
  assert.equal(child.signalCode, "SIGKILL", `the child was killed mid-run (stderr: ${stderr.slice(-300)})`);
  assert.ok(existsSync(join(out, "model.safetensors")) && existsSync(join(out, "config.json")), "looks finished");
  assert.equal(refusedOrComplete(out, "after checkpoint"), "refused");

  const inspect = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "inspect", out], {
    cwd: ROOT,
    encoding: "utf8",
  });
  assert.equal(inspect.status, 1);
  assert.match(inspect.stdout, /^run: +.*is incomplete/m);

  const evalRun = spawnSync(
    process.execPath,
    ["--import", "tsx", "src/cli/main.ts", "lm", "eval", "--model", out, "--data", corpus, "--train-data", corpus],
    { cwd: ROOT, encoding: "utf8" },
  );
  assert.equal(evalRun.status, 1);
  assert.equal(evalRun.stderr.trim().split("\n").length, 1, evalRun.stderr);
  assert.match(evalRun.stderr, /^msae: model folder .* is incomplete/);

  const resumed = spawnSync(process.execPath, trainArgs(out, ["--resume"]), { cwd: ROOT, encoding: "utf8" });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(refusedOrComplete(out, "resumed"), "complete");
  assert.equal(readRunMarker(out)?.status, "complete");
});
