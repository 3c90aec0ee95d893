/**
 * The bf16 weight GEMM of the LM forward (`--precision bf16`): weights rounded to bfloat16 once
 * at load, the activation operand rounded inside each call, products accumulated in fp32.
 *
 *   out[i, j] = sum_k bf16(x[i, k]) * bf16(W[j, k])      x [m, k] fp32, W [n, k], out [m, n] fp32
 *   bf16(v)   = v rounded to the nearest bfloat16, ties to even (NaN kept quiet)
 *
 * The kernels are Backend methods (bf16Weight, gemmBf16): on the native backend the weight is
 * packed for the addon (native/src/kernels/gemm_bf16.cc: AMX tiles, AVX512-BF16 dot products or
 * fp32 FMA on the widened bf16 values, chosen at run time from cpuid; MSAE_BF16_KERNEL=amx|
 * avx512bf16|f32 or setBf16Kernel forces one); on the ref backend it is kept as plain [n, k] bf16
 * bits and the TypeScript twin (bf16-ref.ts) runs. This file adds the backend-free helpers and the
 * addon's kernel selection (Node only: it loads the addon).
 */
import type { Backend, Bf16Matrix } from "./backend.ts";
import { addonLoadError, loadAddon, type NativeAddon } from "./backends/addon.ts";
import { applyBf16KernelEnv, bf16KernelChosen } from "./backends/native.ts";
import { gemmBf16Ref } from "./bf16-ref.ts";

export type { Bf16Matrix } from "./backend.ts";
export type Bf16KernelName = "amx" | "avx512bf16" | "f32";
export const BF16_KERNELS: readonly Bf16KernelName[] = ["amx", "avx512bf16", "f32"];

function addon(fn: string): NativeAddon {
  const a = loadAddon();
  if (!a) throw new Error(`${fn}: the native addon is not available (${addonLoadError()})`);
  if (typeof a.gemmBf16 !== "function")
    throw new Error(`${fn}: this build of the addon has no bf16 GEMM; rebuild it (npm run build:native)`);
  return a;
}

/** w [n, k] (transW = false, nn.Linear's [out, in]) or [k, n] (transW = true, GPT-2's Conv1D) -> bf16 for `be`. */
export function toBf16Matrix(be: Backend, w: Float32Array, n: number, k: number, transW: boolean): Bf16Matrix {
  if (w.length !== n * k) throw new RangeError(`toBf16Matrix: w has ${w.length} entries, expected n * k = ${n * k}`);
  return be.bf16Weight(w, n, k, transW);
}

/** out [m, n] = bf16(x [m, k]) . W^T with the kernels of the backend that made `w`. */
export function gemmBf16(x: Float32Array, m: number, w: Bf16Matrix, out: Float32Array): void {
  if (w.layout === "plain") {
    gemmBf16Ref(x, m, w.k, w.data, w.n, out);
    return;
  }
  const a = addon("gemmBf16");
  applyBf16KernelEnv(a);
  a.gemmBf16(x, m, w.k, w.data, w.n, out);
}

/** The kernels this CPU runs (widest first; "f32" always) and the one in use. */
export function bf16Kernels(): { available: Bf16KernelName[]; kernel: Bf16KernelName } {
  const a = addon("bf16Kernels");
  applyBf16KernelEnv(a);
  return a.bf16Kernels() as { available: Bf16KernelName[]; kernel: Bf16KernelName };
}

/** Forces a kernel ("auto": the widest available); one a CPU lacks is a one-line RangeError. */
export function setBf16Kernel(name: Bf16KernelName | "auto"): void {
  const a = addon("setBf16Kernel");
  bf16KernelChosen();
  a.setBf16Kernel(name);
}
