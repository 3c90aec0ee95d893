/**
 * Outputs are complete or absent (src/io/complete.ts) and output paths are checked before the
 * work: the run marker, writeFolderAtomically (a failing fill leaves nothing; a folder left by a
 * dead writer is cleaned up; an existing target is refused or replaced whole), checkOutputFile /
 * checkOutputFolder, and the CLI: `msae tokenizer train` with an unwritable --out fails at once
 * (one line, exit 2, no work logged; it used to train first and then die with a raw ENOENT), and
 * commander's errors are one line with a pointer to --help.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { UsageError } from "../../src/core/errors.ts";
import {
  checkComplete,
  checkOutputFile,
  checkOutputFolder,
  IncompleteOutputError,
  markComplete,
  markIncomplete,
  RUN_MARKER,
  readRunMarker,
  removeStaleTempFolders,
  writeFolderAtomically,
} from "../../src/io/complete.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "msae-outputs-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("run marker: incomplete is refused with the resume command; complete passes; none passes unless required", () => {
  const d = join(dir, "run");
  mkdirSync(d);
  assert.equal(checkComplete(d), null);
  assert.throws(() => checkComplete(d, { required: true, what: "SAE folder" }), /SAE folder .* has no msae-run\.json/);
  markIncomplete(d, "sae-train", { resume: "msae sae train --resume" });
  assert.throws(
    () => checkComplete(d),
    (e: unknown) =>
      e instanceof IncompleteOutputError &&
      /is incomplete: its sae-train run stopped or was killed before the end .* finish it with `msae sae train --resume`/.test(
        e.message,
      ),
  );
  markComplete(d, "sae-train", { detail: { steps: 3 } });
  assert.equal(checkComplete(d, { kinds: ["sae-train"] })?.status, "complete");
  assert.throws(() => checkComplete(d, { kinds: ["harvest"] }), /written by "sae-train"; expected one of harvest/);
  writeFileSync(join(d, RUN_MARKER), JSON.stringify({ format: "other", status: "complete" }));
  assert.throws(() => readRunMarker(d), /is not a msae-run-1 marker/);
});

test("writeFolderAtomically: all or nothing, refuses an existing target unless replace", async () => {
  const target = join(dir, "store");
  await writeFolderAtomically(target, "harvest", (tmp) => {
    assert.ok(!existsSync(target), "nothing at the target while filling");
    writeFileSync(join(tmp, "a.bin"), "A");
  });
  assert.equal(readFileSync(join(target, "a.bin"), "utf8"), "A");
  assert.equal(checkComplete(target, { required: true })?.kind, "harvest");
  await assert.rejects(
    writeFolderAtomically(target, "harvest", () => {}),
    (e: unknown) => e instanceof UsageError && /already exists/.test((e as Error).message),
  );
  await assert.rejects(
    writeFolderAtomically(
      target,
      "harvest",
      (tmp) => {
        writeFileSync(join(tmp, "a.bin"), "B");
        throw new Error("disk full");
      },
      { replace: true },
    ),
    /disk full/,
  );
  assert.equal(readFileSync(join(target, "a.bin"), "utf8"), "A", "a failed replace keeps the old folder");
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes(".tmp-")),
    [],
    "no temp folder left",
  );
  await writeFolderAtomically(target, "harvest", (tmp) => writeFileSync(join(tmp, "b.bin"), "B"), { replace: true });
  assert.deepEqual(readdirSync(target).sort(), ["b.bin", RUN_MARKER].sort());
});

test("a temp folder left by a killed writer is never the target and is cleaned once its process is gone", () => {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  const deadPid = Number(child.stdout);
  const stale = join(dir, `.store2.tmp-${deadPid}-0123456789ab`);
  mkdirSync(stale);
  writeFileSync(join(stale, "half.bin"), "x");
  const live = join(dir, `.store3.tmp-${process.pid}-0123456789ab`);
  mkdirSync(live);
  assert.ok(!existsSync(join(dir, "store2")));
  assert.deepEqual(removeStaleTempFolders(dir), [`.store2.tmp-${deadPid}-0123456789ab`]);
  assert.ok(existsSync(live), "a live writer's temp folder is kept");
});

test("checkOutputFile / checkOutputFolder: one-line UsageErrors before any work", () => {
  const file = join(dir, "f.txt");
  writeFileSync(file, "x");
  checkOutputFile(join(dir, "new.json"), "--out");
  checkOutputFile(file, "--out");
  checkOutputFolder(join(dir, "a", "b", "c"), "--out");
  const bad: [() => void, RegExp][] = [
    [
      () => checkOutputFile(join(dir, "missing", "t.json"), "--out"),
      /--out ".*t\.json": folder .*missing does not exist/,
    ],
    [() => checkOutputFile(dir, "--out"), /is a folder; expected a file path/],
    [() => checkOutputFile(join(file, "t.json"), "--out"), /is not a folder/],
    [() => checkOutputFolder(file, "--out"), /is a file; expected a folder/],
    [() => checkOutputFolder(join(file, "sub"), "--out"), /is a file; expected a folder path/],
  ];
  for (const [f, re] of bad)
    assert.throws(
      f,
      (e: unknown) => e instanceof UsageError && re.test((e as Error).message) && !(e as Error).message.includes("\n"),
    );
});

function msae(args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { cwd: ROOT, encoding: "utf8" });
}

test("msae tokenizer train checks --out before training (one line, exit 2, nothing logged)", () => {
  const t0 = performance.now();
  const r = msae(["tokenizer", "train", "--data", "brown:train", "--out", join(dir, "no", "such", "tok.json")]);
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(r.status, 2);
  assert.equal(
    r.stderr,
    `msae: --out "${join(dir, "no", "such", "tok.json")}": folder ${join(dir, "no", "such")} does not exist; expected an existing folder (create it first)\n`,
  );
  assert.ok(seconds < 20, `${seconds} s: no training happened first`);
});

test("commander errors: one line and a pointer to the command's --help", () => {
  const cases: [string[], string][] = [
    [["lm", "eval", "--bogus"], "msae: unknown option '--bogus' (see `msae lm eval --help`)\n"],
    [
      ["lm", "generate", "--prompt"],
      "msae: option '--prompt <text>' argument missing (see `msae lm generate --help`)\n",
    ],
    [
      ["tokenizer", "encode", "x"],
      "msae: required option '--tokenizer <path>' not specified (see `msae tokenizer encode --help`)\n",
    ],
    [["nosuch"], "msae: unknown command 'nosuch' (see `msae --help`)\n"],
  ];
  for (const [args, want] of cases) {
    const r = msae(args);
    assert.equal(r.status, 2, args.join(" "));
    assert.equal(r.stderr, want);
  }
});
