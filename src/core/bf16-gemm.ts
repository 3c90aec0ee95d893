/**
 * The bf16 weight GEMM of the LM forward (`--precision bf16`): weights rounded to bfloat16 once
 * at load, the activation operand rounded inside each call, products accumulated in fp32.
 *
 *   out[i, j] = sum_k bf16(x[i, k]) * bf16(W[j, k])      x [m, k] fp32, W [n, k], out [m, n] fp32
 *   bf16(v)   = v rounded to the nearest bfloat16, ties to even (NaN kept quiet)
 *
 * On the native backend the weight is packed for the addon's kernels (native/src/kernels/gemm_bf16.cc:
 * AMX tiles, AVX512-BF16 dot products or fp32 FMA on the widened bf16 values, chosen at run time
 * from cpuid; MSAE_BF16_KERNEL=amx|avx512bf16|f32 or setBf16Kernel forces one). On the ref backend
 * the weight is kept as plain [n, k] bf16 bits and the TypeScript twin (bf16-ref.ts) runs.
 */

import type { Backend } from "./backend.ts";
import { addonLoadError, loadAddon, type NativeAddon } from "./backends/addon.ts";
import { gemmBf16Ref } from "./bf16-ref.ts";

export type Bf16KernelName = "amx" | "avx512bf16" | "f32";
export const BF16_KERNELS: readonly Bf16KernelName[] = ["amx", "avx512bf16", "f32"];

/** A weight matrix W [n, k] stored as bf16: "packed" for the addon, "plain" [n, k] bits for the ref twin. */
export interface Bf16Matrix {
  readonly n: number;
  readonly k: number;
  readonly layout: "packed" | "plain";
  readonly data: Uint16Array;
}

function addon(fn: string): NativeAddon {
  const a = loadAddon();
  if (!a) throw new Error(`${fn}: the native addon is not available (${addonLoadError()})`);
  if (typeof a.gemmBf16 !== "function")
    throw new Error(`${fn}: this build of the addon has no bf16 GEMM; rebuild it (npm run build:native)`);
  return a;
}

let envApplied = false;

/** Applies MSAE_BF16_KERNEL once (a value outside amx|avx512bf16|f32|auto is a one-line error). */
function applyEnvKernel(a: NativeAddon): void {
  if (envApplied) return;
  envApplied = true;
  const v = process.env.MSAE_BF16_KERNEL;
  if (v === undefined || v === "") return;
  if (v !== "auto" && !BF16_KERNELS.includes(v as Bf16KernelName))
    throw new RangeError(`MSAE_BF16_KERNEL is "${v}"; expected amx, avx512bf16, f32 or auto`);
  a.setBf16Kernel(v);
}

/**
 * w: [n, k] (transW = false, nn.Linear's [out, in]) or [k, n] (transW = true, GPT-2's Conv1D
 * [in, out]) -> its bf16 form for `be` (rounded to nearest even once, here).
 */
export function toBf16Matrix(be: Backend, w: Float32Array, n: number, k: number, transW: boolean): Bf16Matrix {
  if (w.length !== n * k) throw new RangeError(`toBf16Matrix: w has ${w.length} entries, expected n * k = ${n * k}`);
  if (be.name === "native") {
    const a = addon("toBf16Matrix");
    applyEnvKernel(a);
    return { n, k, layout: "packed", data: a.bf16Pack(w, n, k, transW) as Uint16Array };
  }
  let src = w;
  if (transW) {
    src = new Float32Array(n * k); // [n, k] = w^T
    for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) src[j * k + i] = w[i * n + j];
  }
  const data = new Uint16Array(n * k);
  be.f32ToBf16(src, data);
  return { n, k, layout: "plain", data };
}

/** out [m, n] = bf16(x [m, k]) . W^T on the backend that made `w` (native kernels or the TS twin). */
export function gemmBf16(x: Float32Array, m: number, w: Bf16Matrix, out: Float32Array): void {
  if (w.layout === "plain") {
    gemmBf16Ref(x, m, w.k, w.data, w.n, out);
    return;
  }
  addon("gemmBf16").gemmBf16(x, m, w.k, w.data, w.n, out);
}

/** The kernels this CPU runs (widest first; "f32" always) and the one in use. */
export function bf16Kernels(): { available: Bf16KernelName[]; kernel: Bf16KernelName } {
  const a = addon("bf16Kernels");
  applyEnvKernel(a);
  return a.bf16Kernels() as { available: Bf16KernelName[]; kernel: Bf16KernelName };
}

/** Forces a kernel ("auto": the widest available); one a CPU lacks is a one-line RangeError. */
export function setBf16Kernel(name: Bf16KernelName | "auto"): void {
  const a = addon("setBf16Kernel");
  envApplied = true;
  a.setBf16Kernel(name);
}
