/**
 * Loads the native addon (build/Release/msae_native.node) once. When it is missing or fails to
 * load, msae runs on the ref backend and says so in one line on stderr (once per process).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { addonPath } from "../paths.ts";

// Temporary alias while bench/ moves to src/core/paths.ts.
export { packageRoot as repoRoot } from "../paths.ts";

/** The raw addon: functions registered by native/src/kernels/*.cc (typed by their callers). */
// biome-ignore lint/suspicious/noExplicitAny: the addon's functions are typed at their call sites
export type NativeAddon = Record<string, (...args: any[]) => any>;

let cached: NativeAddon | null | undefined;
let loadError = "";

export function loadAddon(): NativeAddon | null {
  if (cached !== undefined) return cached;
  if (process.env.MSAE_BACKEND === "ref") {
    cached = null;
    loadError = "MSAE_BACKEND=ref";
    return cached;
  }
  if (!existsSync(addonPath)) {
    cached = null;
    loadError = "the native addon was not built (run `npm run build:native`; it needs a C++17 compiler)";
  } else {
    // Idle OpenMP threads sleep instead of spinning: on a 2-core machine shared with other work,
    // spinning threads starve the one holding the work (10-100x slowdowns seen). OpenBLAS has its
    // own thread pool, so GEMM is unaffected. Set OMP_WAIT_POLICY=active to override.
    process.env.OMP_WAIT_POLICY ??= "passive";
    try {
      cached = createRequire(import.meta.url)(addonPath) as NativeAddon;
    } catch (e) {
      cached = null;
      loadError = `the native addon failed to load: ${(e as Error).message.split("\n")[0]}`;
    }
  }
  if (cached === null && process.env.MSAE_BACKEND !== "ref") {
    process.stderr.write(`msae: running on the ref backend (pure TypeScript, slower): ${loadError}\n`);
  }
  return cached;
}

export function addonLoadError(): string {
  return loadError;
}
