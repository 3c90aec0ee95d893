/**
 * The native backend: every Backend kernel forwarded to the C++ addon (native/src/kernels/*.cc),
 * which validates dims and lengths itself and throws one-line RangeError / TypeError.
 * Semantics are those documented on the interface (src/core/backend.ts).
 *
 * The addon computes in float32 only; a Float64Array argument is refused here with a TypeError
 * pointing at the ref backend (which also takes float64, for gradient checks).
 */
import type { Backend, Bf16Matrix, FloatArray } from "../backend.ts";
import type { NativeAddon } from "./addon.ts";
import { f32 } from "./native-eval.ts";
import { NativeNn } from "./native-nn.ts";

const BF16_KERNEL_NAMES = ["amx", "avx512bf16", "f32", "auto"];
let bf16EnvApplied = false;

/**
 * Applies MSAE_BF16_KERNEL=amx|avx512bf16|f32|auto once per process (before the first bf16 GEMM);
 * another value, or a kernel this CPU lacks, is a one-line RangeError.
 */
export function applyBf16KernelEnv(addon: NativeAddon): void {
  if (bf16EnvApplied) return;
  bf16EnvApplied = true;
  const v = process.env.MSAE_BF16_KERNEL;
  if (v === undefined || v === "") return;
  if (!BF16_KERNEL_NAMES.includes(v))
    throw new RangeError(`MSAE_BF16_KERNEL is "${v}"; expected amx, avx512bf16, f32 or auto`);
  addon.setBf16Kernel(v);
}

/** Marks the environment as applied (an explicit setBf16Kernel wins over MSAE_BF16_KERNEL). */
export function bf16KernelChosen(): void {
  bf16EnvApplied = true;
}

export class NativeBackend extends NativeNn implements Backend {
  readonly name = "native" as const;

  constructor(addon: NativeAddon) {
    super(addon);
  }

  // ---------------------------------------------------------------- GEMM
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: FloatArray, // stored [m, k] (or [k, m] when transA), row stride lda
    lda: number,
    b: FloatArray, // stored [k, n] (or [n, k] when transB), row stride ldb
    ldb: number,
    beta: number,
    c: FloatArray, // [m, n], row stride ldc
    ldc: number,
  ): void {
    f32("gemm", a, b, c);
    this.addon.sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }

  // ---------------------------------------------------------------- bf16 weight GEMM (native/src/kernels/gemm_bf16.cc)
  bf16Weight(w: Float32Array, n: number, k: number, transW: boolean): Bf16Matrix {
    f32("bf16Weight", w);
    applyBf16KernelEnv(this.addon);
    return { n, k, layout: "packed", data: this.addon.bf16Pack(w, n, k, transW) as Uint16Array };
  }

  gemmBf16(x: Float32Array, m: number, w: Bf16Matrix, out: Float32Array): void {
    f32("gemmBf16", x, out);
    if (w.layout !== "packed") throw new TypeError("gemmBf16: this bf16 weight was made by the ref backend");
    applyBf16KernelEnv(this.addon);
    this.addon.gemmBf16(x, m, w.k, w.data, w.n, out);
  }

  // ---------------------------------------------------------------- elementwise
  add(a: FloatArray, b: FloatArray, out: FloatArray): void {
    f32("add", a, b, out);
    this.addon.add(a, b, out);
  }

  mul(a: FloatArray, b: FloatArray, out: FloatArray): void {
    f32("mul", a, b, out);
    this.addon.mul(a, b, out);
  }

  scale(x: FloatArray, alpha: number, out: FloatArray): void {
    f32("scale", x, out);
    this.addon.scale(x, alpha, out);
  }

  axpy(alpha: number, x: FloatArray, y: FloatArray): void {
    f32("axpy", x, y);
    this.addon.axpy(alpha, x, y);
  }

  addBias(
    x: FloatArray /* [rows, cols] */,
    bias: FloatArray /* [cols] */,
    rows: number,
    cols: number,
    out: FloatArray,
  ): void {
    f32("addBias", x, bias, out);
    this.addon.addBias(x, bias, rows, cols, out);
  }

  scaleRows(
    x: FloatArray /* [rows, cols] */,
    s: FloatArray /* [rows] */,
    rows: number,
    cols: number,
    out: FloatArray,
  ): void {
    f32("scaleRows", x, s, out);
    this.addon.scaleRows(x, s, rows, cols, out);
  }

  scaleCols(
    x: FloatArray /* [rows, cols] */,
    s: FloatArray /* [cols] */,
    rows: number,
    cols: number,
    out: FloatArray,
  ): void {
    f32("scaleCols", x, s, out);
    this.addon.scaleCols(x, s, rows, cols, out);
  }

  relu(x: FloatArray, out: FloatArray): void {
    f32("relu", x, out);
    this.addon.relu(x, out);
  }

  reluBackward(x: FloatArray, dy: FloatArray, dx: FloatArray): void {
    f32("reluBackward", x, dy, dx);
    this.addon.reluBackward(x, dy, dx);
  }

  gelu(x: FloatArray, out: FloatArray): void {
    f32("gelu", x, out);
    this.addon.gelu(x, out);
  }

  geluBackward(x: FloatArray, dy: FloatArray, dx: FloatArray): void {
    f32("geluBackward", x, dy, dx);
    this.addon.geluBackward(x, dy, dx);
  }

  softcap(x: FloatArray, cap: number, out: FloatArray): void {
    f32("softcap", x, out);
    this.addon.softcap(x, cap, out);
  }

  softcapBackward(y: FloatArray, dy: FloatArray, cap: number, dx: FloatArray): void {
    f32("softcapBackward", y, dy, dx);
    this.addon.softcapBackward(y, dy, cap, dx);
  }

  // ---------------------------------------------------------------- reductions
  sumRows(
    x: FloatArray /* [rows, cols] */,
    rows: number,
    cols: number,
    out: FloatArray /* [cols] */,
    accumulate: boolean,
  ): void {
    f32("sumRows", x, out);
    this.addon.sumRows(x, rows, cols, out, accumulate);
  }

  sumCols(
    x: FloatArray /* [rows, cols] */,
    rows: number,
    cols: number,
    out: FloatArray /* [rows] */,
    accumulate: boolean,
  ): void {
    f32("sumCols", x, out);
    this.addon.sumCols(x, rows, cols, out, accumulate);
  }

  colMeanVar(
    x: FloatArray, // [rows, cols]
    rows: number,
    cols: number,
    mean: FloatArray, // [cols]
    variance: FloatArray, // [cols]
  ): void {
    f32("colMeanVar", x, mean, variance);
    this.addon.colMeanVar(x, rows, cols, mean, variance);
  }

  sumSquares(x: FloatArray): number {
    f32("sumSquares", x);
    return this.addon.sumSquares(x);
  }

  firstNonFinite(x: FloatArray): number {
    f32("firstNonFinite", x);
    return this.addon.firstNonFinite(x);
  }

  // ---------------------------------------------------------------- optimizer
  adamw(
    param: FloatArray, // [n]
    grad: FloatArray, // [n]
    m: FloatArray, // [n]
    v: FloatArray, // [n]
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
  ): void {
    f32("adamw", param, grad, m, v);
    this.addon.adamw(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step);
  }

  // ---------------------------------------------------------------- dtype conversion
  f16ToF32(src: Uint16Array, out: Float32Array): void {
    f32("f16ToF32", out);
    this.addon.f16ToF32(src, out);
  }

  f32ToF16(src: Float32Array, out: Uint16Array): void {
    f32("f32ToF16", src);
    this.addon.f32ToF16(src, out);
  }

  bf16ToF32(src: Uint16Array, out: Float32Array): void {
    f32("bf16ToF32", out);
    this.addon.bf16ToF32(src, out);
  }

  f32ToBf16(src: Float32Array, out: Uint16Array): void {
    f32("f32ToBf16", src);
    this.addon.f32ToBf16(src, out);
  }
}
