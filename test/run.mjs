// Runs the whole test suite with node:test (Node 20 has no --test globbing): every
// test/**/*.test.ts, or the files/folders given as arguments. Usage: node test/run.mjs [paths...]
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "..");

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path).sort()) collect(join(path, entry), out);
  } else if (path.endsWith(".test.ts")) {
    out.push(relative(root, path));
  }
  return out;
}

const args = process.argv.slice(2);
const files = (args.length ? args : ["test"]).flatMap((p) => collect(join(root, p), []));
if (files.length === 0) {
  console.error("test/run.mjs: no *.test.ts files found");
  process.exit(1);
}
const res = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=2", "--test-reporter=spec", ...files],
  // Tests run two files at a time on two cores: idle OpenMP threads must sleep, not spin.
  { cwd: root, stdio: "inherit", env: { OMP_WAIT_POLICY: "passive", ...process.env } },
);
process.exit(res.status ?? 1);
