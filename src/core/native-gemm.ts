/**
 * Typed wrappers over the addon's GEMM and machine-facts functions (native/src/kernels/gemm.cc,
 * peak.cc):
 *
 *   sgemm: C = alpha * op(A) op(B) + beta * C   (row-major; op(X) = X or X^T; beta = 0 ignores C)
 *   fmaPeak: fp32 FLOP/s of independent FMA chains on all threads (2 FLOP per lane per FMA)
 *
 * Each function throws a clear error when the native addon is unavailable.
 */
import { addonLoadError, loadAddon, type NativeAddon } from "./backends/addon.ts";

export type GemmImpl = "blas" | "own";

export interface GemmInfo {
  /** The implementation sgemm runs now. */
  impl: GemmImpl;
  /** The CBLAS found at build time: "openblas", "accelerate" or "none". */
  blas: string;
  /** OpenBLAS's openblas_get_corename() (the kernel family in use), null without OpenBLAS. */
  corename: string | null;
  /** OpenBLAS's openblas_get_config(), null without OpenBLAS. */
  config: string | null;
  /** The own GEMM's microkernel, e.g. "avx512 8x48". */
  ownKernel: string;
}

export interface FmaPeak {
  gflops: number;
  isa: string;
  threads: number;
}

export interface CpuInfo {
  model: string;
  isa: string;
  threads: number;
}

function addon(fn: string): NativeAddon {
  const a = loadAddon();
  if (!a) throw new Error(`${fn}: the native addon is not available (${addonLoadError()})`);
  return a;
}

/**
 * C = alpha * op(A) op(B) + beta * C on the native addon (Float32Array only).
 * op(A) [m, k], op(B) [k, n], C [m, n]; A stored [m, k] (lda >= k) or, transposed, [k, m] (lda >= m);
 * B stored [k, n] (ldb >= n) or, transposed, [n, k] (ldb >= k); ldc >= n.
 */
export function sgemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array, // [m, k] or [k, m] (transA), row stride lda
  lda: number,
  b: Float32Array, // [k, n] or [n, k] (transB), row stride ldb
  ldb: number,
  beta: number,
  c: Float32Array, // [m, n], row stride ldc
  ldc: number,
): void {
  addon("sgemm").sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/** Selects the GEMM implementation ("blas" throws when the addon was built without a CBLAS). */
export function setGemmImpl(impl: GemmImpl): void {
  addon("setGemmImpl").setGemmImpl(impl);
}

export function gemmInfo(): GemmInfo {
  return addon("gemmInfo").gemmInfo() as GemmInfo;
}

/** Measures the fp32 FMA peak for about `seconds` (default 0.5) on all OpenMP threads. */
export function fmaPeak(seconds?: number): FmaPeak {
  return addon("fmaPeak").fmaPeak(seconds) as FmaPeak;
}

export function cpuInfo(): CpuInfo {
  return addon("cpuInfo").cpuInfo() as CpuInfo;
}
