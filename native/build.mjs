// Builds the native addon at install (node-gyp, for this host). Never fails the install: without a
// compiler msae runs on the pure TypeScript `ref` backend and says so in one line.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function findNodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const require = createRequire(import.meta.url);
  for (const cand of ["node-gyp/bin/node-gyp.js", "npm/node_modules/node-gyp/bin/node-gyp.js"]) {
    try {
      return require.resolve(cand);
    } catch {}
  }
  const npmDir = join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
  if (existsSync(npmDir)) return npmDir;
  return null;
}

// MSAE_REQUIRE_NATIVE=1 (CI) turns "could not build" into a failed install.
const failExit = process.env.MSAE_REQUIRE_NATIVE === "1" ? 1 : 0;
const gyp = findNodeGyp();
if (!gyp) {
  console.warn("msae: node-gyp not found; the native engine is not built and msae will run on the slower ref backend");
  process.exit(failExit);
}
const res = spawnSync(process.execPath, [gyp, "rebuild", "--release"], { cwd: root, stdio: process.env.MSAE_BUILD_QUIET ? "ignore" : "inherit" });
if (res.status !== 0) {
  console.warn("msae: the native engine could not be built (is a C++17 compiler installed?); msae will run on the slower ref backend");
  process.exit(failExit);
}
