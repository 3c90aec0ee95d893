/**
 * Reproduces one fuzz case: `npx tsx test/fuzz/repro.ts <format name> <case> [seed]` redraws the
 * variants of that format up to <case> with the suite's generator (same seed => same bytes),
 * writes the corrupted file to ./fuzz-case.bin and prints its corruptor and what the loader does.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FORMAT_LIST } from "./formats/index.ts";
import { Rng } from "./generator.ts";

const [name, caseArg, seedArg] = process.argv.slice(2);
const format = FORMAT_LIST.find((f) => f.name === name);
if (!format)
  throw new Error(
    `unknown format ${JSON.stringify(name)}; expected one of ${FORMAT_LIST.map((f) => JSON.stringify(f.name)).join(", ")}`,
  );
const target = Number(caseArg);
const work = mkdtempSync(join(tmpdir(), "msae-fuzz-repro-"));
process.env.MSAE_FUZZ_WORK = work;
const bases = await format.bases(work);
const rng = new Rng(Number(seedArg ?? 20261201));
for (let k = 0; k <= target; k++) {
  const c = format.corruptors[Math.floor(rng.next() * format.corruptors.length)];
  const bytes = c.apply(bases[k % bases.length], rng);
  if (k < target) continue;
  writeFileSync("fuzz-case.bin", bytes);
  console.log(`case ${k}: ${c.name} on base ${k % bases.length}; bytes in ./fuzz-case.bin`);
  try {
    const loaded = await format.load(bytes, work, k % bases.length);
    format.check(loaded as never, bytes);
    console.log("loaded, and the check passes");
  } catch (e) {
    console.log(`${(e as Error).constructor.name}: ${(e as Error).message}`);
  }
}
