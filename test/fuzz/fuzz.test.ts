/**
 * The fuzz suite (issue 13): >= 1000 seeded corrupted variants of every format msae reads, run
 * in-process through the library loaders (generator.ts says what each must end in). Prints the
 * counts per format and the run time; the whole suite must stay under a minute.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { FORMATS } from "./formats/index.ts";

// a memory filesystem when there is one: every case writes a file, and disk writes would dominate
const work = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "msae-fuzz-"));
process.env.MSAE_FUZZ_WORK = work;
after(() => rmSync(work, { recursive: true, force: true }));

const SEED = Number(process.env.MSAE_FUZZ_SEED ?? 20261201);
const t0 = performance.now();

for (const f of FORMATS) {
  test(`fuzz ${f.name}: ${f.cases} corrupted variants end in a one-line error or a correct, finite load`, async () => {
    const s = await f.run({ seed: SEED, work: join(work, f.name.replace(/\W+/g, "-")) });
    console.log(
      `fuzz ${s.format}: ${s.cases} cases, ${s.loaded} loaded correctly, ${s.refused} refused with one line, ${s.seconds.toFixed(1)} s`,
    );
    assert.ok(s.cases >= 1000);
    assert.ok(s.refused > 0 && s.loaded > 0, "both outcomes occur (the corruptions bite, the checks run)");
  });
}

test("fuzz suite run time under a minute", () => {
  const seconds = (performance.now() - t0) / 1000;
  console.log(`fuzz suite: ${seconds.toFixed(1)} s`);
  assert.ok(seconds < 60, `${seconds.toFixed(1)} s`);
});
