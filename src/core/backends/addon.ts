/**
 * Loads the native addon (build/Release/msae_native.node) once. When it is missing or fails to
 * load, msae runs on the ref backend and says so in one line on stderr (once per process).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { addonPath } from "../paths.ts";

/** The raw addon: functions registered by native/src/kernels/*.cc (typed by their callers). */
// biome-ignore lint/suspicious/noExplicitAny: the addon's functions are typed at their call sites
export type NativeAddon = Record<string, (...args: any[]) => any>;

let cached: NativeAddon | null | undefined;
let loadError = "";

/** OPENBLAS_THREAD_TIMEOUT msae sets when unset (log2 of the cycles an idle OpenBLAS worker spins). */
export const OPENBLAS_THREAD_TIMEOUT_DEFAULT = "16";

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
    // The same for OpenBLAS's pthread pool: after each GEMM its workers spin (sched_yield loop) for
    // 2^28 cycles (~0.1 s) before sleeping, i.e. through every kernel that follows, on the core the
    // OpenMP kernels need. 2^16 cycles (~25 us) keeps back-to-back GEMMs warm and frees the core
    // right after (measured on 2 hyperthreads: tiny-gemma2 training step ~0.49 -> ~0.42 s; the TopK
    // selection right after the SAE's encoder GEMM 77-109 -> 59 ms). Benchmark peers inherit it
    // (bench/openblas-core.ts): PyTorch gains as much (bench sae: torch base 3302 -> 3562 tok/s).
    process.env.OPENBLAS_THREAD_TIMEOUT ??= OPENBLAS_THREAD_TIMEOUT_DEFAULT;
    try {
      cached = createRequire(import.meta.url)(addonPath) as NativeAddon;
    } catch (e) {
      cached = null;
      loadError = `the native addon failed to load: ${(e as Error).message.split("\n")[0]}`;
    }
  }
  if (cached) selectDefaultGemm(cached);
  if (cached === null && process.env.MSAE_BACKEND !== "ref") {
    process.stderr.write(`msae: running on the ref backend (pure TypeScript, slower): ${loadError}\n`);
  }
  return cached;
}

export function addonLoadError(): string {
  return loadError;
}

/** OpenBLAS kernel families (openblas_get_corename) that use AVX-512. */
const AVX512_OPENBLAS_CORES = /^(skylakex|cooperlake|sapphirerapids|zen4|zen5)$/i;

/**
 * Picks the GEMM msae runs by default: MSAE_GEMM=blas|own when set; else the CBLAS, unless the
 * build has AVX-512 and OpenBLAS runs a narrower kernel family (e.g. OPENBLAS_CORETYPE=Haswell on
 * an AVX-512 CPU caps it near half the FMA peak, where the own AVX-512 GEMM reaches ~80%).
 */
function selectDefaultGemm(addon: NativeAddon): void {
  const forced = process.env.MSAE_GEMM;
  if (forced === "blas" || forced === "own") {
    addon.setGemmImpl(forced);
    return;
  }
  const info = addon.gemmInfo() as { blas: string; corename: string | null };
  const isa = (addon.buildInfo() as { isa: string }).isa;
  if (info.blas === "none") return;
  const narrowerBlas = isa === "avx512" && info.corename !== null && !AVX512_OPENBLAS_CORES.test(info.corename);
  addon.setGemmImpl(narrowerBlas ? "own" : "blas");
}
