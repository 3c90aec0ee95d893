import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Rng } from "../../src/core/tensor.ts";
import { configFormat } from "./formats/config.ts";

const work = mkdtempSync("/tmp/rep-");
const bases = await configFormat.bases(work);
const rng = new Rng(20261201);
const target = Number(process.argv[2]);
for (let k = 0; k <= target; k++) {
  const c = configFormat.corruptors[Math.floor(rng.next() * configFormat.corruptors.length)];
  const bytes = c.apply(bases[k % bases.length], rng);
  if (k === target) {
    const a = JSON.parse(new TextDecoder().decode(bases[k % bases.length]));
    const b = JSON.parse(new TextDecoder().decode(bytes));
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)]))
      if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) console.log(key, a[key], "->", b[key]);
  }
}
