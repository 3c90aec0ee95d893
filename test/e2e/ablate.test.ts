/**
 * `msae ablate` end to end on the tiny random Gemma-2 fixture (the path a real gemma-2-2b folder
 * takes, in seconds): ten architectures x two hooks x two seeds, evaluated, reported. A run killed
 * with SIGKILL after its first seed and rerun with the same command picks up where it stopped and
 * ends with exactly the metrics of an uninterrupted run; a rerun with other options is refused;
 * the report opens in headless Chromium with every table and chart visible.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { launchBrowser } from "../helpers/browser.ts";
import { BIN, msae, ROOT } from "../helpers/cli.ts";
import { checkReportInBrowser } from "../helpers/report-browser.ts";

const FIXTURE = join(ROOT, "test", "golden", "lm", "gemma2-old");
const dir = mkdtempSync(join(tmpdir(), "msae-ablate-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const ARGS = (out: string, extra: string[] = []) => [
  "ablate",
  "--model",
  FIXTURE,
  "--layers",
  "1,2",
  "--seeds",
  "2",
  "--tokens",
  "4096",
  "--context",
  "32",
  "--eval-tokens",
  "512",
  "--expansion",
  "2",
  "--k",
  "4",
  "--batch-size",
  "256",
  "--micro-batches",
  "1",
  "--no-ood",
  "--out",
  out,
  ...extra,
];

interface Results {
  runs: { arch: string; hook: string; seed: number; metrics: Record<string, number> }[];
  summary: { arch: string; hook: string; metric: string; mean: number }[];
}

test("msae ablate: killed after seed 0 and rerun, it ends with an uninterrupted run's metrics; the report renders", async (t) => {
  const full = join(dir, "full");
  const r = msae(ARGS(full));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Mean over layers 1, 2 \(2 seeds\)/);
  assert.match(r.stdout, /\| \+ Multi-scale \|/);
  const a = JSON.parse(readFileSync(join(full, "report", "results.json"), "utf8")) as Results;
  assert.equal(a.runs.length, 10 * 2 * 2);
  for (const run of a.runs)
    for (const v of Object.values(run.metrics)) assert.ok(Number.isFinite(v), `${run.arch} ${run.hook}`);

  const killed = join(dir, "killed");
  const child = spawn(process.execPath, [BIN, ...ARGS(killed)], { cwd: ROOT, stdio: "ignore" });
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (existsSync(join(killed, "seed-1"))) {
        clearInterval(poll);
        child.kill("SIGKILL");
        resolve();
      }
    }, 5);
    child.on("exit", () => {
      clearInterval(poll);
      reject(new Error("the ablation finished before it could be killed"));
    });
  });
  await new Promise((res) => child.once("exit", res));
  assert.ok(!existsSync(join(killed, "report", "results.json")));
  const again = msae(ARGS(killed));
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /seed 0: training already done/);
  const b = JSON.parse(readFileSync(join(killed, "report", "results.json"), "utf8")) as Results;
  assert.deepEqual(
    b.runs.map((x) => [x.arch, x.hook, x.seed, x.metrics]),
    a.runs.map((x) => [x.arch, x.hook, x.seed, x.metrics]),
  );

  const other = msae(ARGS(killed, ["--archs", "relu"]));
  assert.equal(other.code, 2);
  assert.match(other.stderr, /^msae: .*holds an ablation run with other options \(archs.*\); rerun the same command/);

  const probe = await launchBrowser();
  if (typeof probe === "string") {
    t.diagnostic(`browser check skipped: ${probe}`);
    return;
  }
  await probe.close();
  await checkReportInBrowser(join(full, "report"), 4); // two layers, the mean over layers, the paper's
});
