/**
 * The CLI-level sample of the fuzz suite: a few seeded corrupted inputs (drawn with the same
 * corruptors as fuzz.test.ts) and bad options, each run as a real `msae` process. Every run must
 * exit 0, 1 (runtime failure) or 2 (usage error) and, when it fails, print exactly ONE error line on
 * stderr, "msae: ..." (no stack trace, no help text; progress lines "msae <command>: ..." of a
 * command that started working may precede it).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { configFormat } from "./formats/config.ts";
import { jsonlFormat } from "./formats/corpora.ts";
import { safetensorsFormat } from "./formats/safetensors.ts";
import { tokenizerFormat } from "./formats/tokenizer.ts";
import { type FuzzFormat, Rng } from "./generator.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const FIXTURE = join(ROOT, "test", "golden", "lm", "gemma2-old");
const work = mkdtempSync(join(tmpdir(), "msae-cli-fuzz-"));
process.env.MSAE_FUZZ_WORK = work;
after(() => rmSync(work, { recursive: true, force: true }));

function msae(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("exit", (code) => resolve({ code, stderr }));
  });
}

/** `n` corrupted variants of a format's first base, drawn with `seed`. */
async function variants<L>(format: FuzzFormat<L>, n: number, seed: number): Promise<Uint8Array[]> {
  const base = (await format.bases(join(work, `bases-${format.name.replace(/\W+/g, "-")}`)))[0];
  const rng = new Rng(seed);
  return Array.from({ length: n }, () =>
    format.corruptors[Math.floor(rng.next() * format.corruptors.length)].apply(base, rng),
  );
}

test("msae on corrupted inputs and bad options: exit 0/1/2, and a failure is one stderr line", async () => {
  const runs: string[][] = [];
  let k = 0;
  const folder = (file: string, bytes: Uint8Array): string => {
    const dir = join(work, `case-${k++}`);
    cpSync(FIXTURE, dir, { recursive: true });
    writeFileSync(join(dir, file), bytes);
    return dir;
  };
  for (const b of await variants(safetensorsFormat, 3, 11)) runs.push(["inspect", folder("model.safetensors", b)]);
  for (const b of await variants(configFormat, 2, 12))
    runs.push(["lm", "generate", "--model", folder("config.json", b), "--prompt", "the", "--max-tokens", "2"]);
  for (const b of await variants(tokenizerFormat, 2, 13)) {
    const dir = folder("tokenizer.json", b);
    runs.push(["tokenizer", "encode", "--tokenizer", join(dir, "tokenizer.json"), "the cat"]);
  }
  for (const b of await variants(jsonlFormat, 2, 14)) {
    const dir = join(work, `case-${k++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, "c.jsonl"), b);
    runs.push(["tokenizer", "train", "--data", join(dir, "c.jsonl"), "--vocab", "300", "--out", join(dir, "t.json")]);
  }
  runs.push(["lm", "eval", "--bogus"]);
  runs.push(["lm", "generate", "--prompt"]);
  runs.push(["tokenizer", "train", "--out", join(work, "no", "such", "dir", "t.json")]);
  runs.push(["inspect", join(work, "nothing-here")]);

  const codes: number[] = [];
  for (let i = 0; i < runs.length; i += 2) {
    const results = await Promise.all(runs.slice(i, i + 2).map(msae));
    results.forEach((r, j) => {
      const label = `msae ${runs[i + j].join(" ")}`;
      assert.ok(r.code === 0 || r.code === 1 || r.code === 2, `${label}: exit ${r.code}`);
      codes.push(r.code as number);
      if (r.code !== 0) {
        // progress lines ("msae tokenizer train: read ...") may come first; the error is ONE line
        const lines = r.stderr
          .trimEnd()
          .split("\n")
          .filter((l) => !/^msae [a-z ]+: /.test(l));
        assert.equal(lines.length, 1, `${label}: the error is ${lines.length} lines: ${r.stderr.slice(0, 400)}`);
        assert.match(lines[0], /^msae: \S/, label);
        assert.doesNotMatch(lines[0], /\bat .*:\d+:\d+/, `${label}: stack trace`);
      }
    });
  }
  assert.deepEqual(codes.slice(-4), [2, 2, 2, 1], "the bad options are usage errors (2); a missing folder is 1");
  assert.ok(codes.some((c) => c === 1));
});
