/**
 * The native backend's SAE training kernels (src/core/backend-sae.ts, native/src/kernels/sae.cc);
 * NativeBackend (native.ts) extends this class. The addon validates dims and lengths itself.
 */
import type { FloatArray } from "../backend.ts";
import type { SaeKernels, ScaleNormConstants } from "../backend-sae.ts";
import { f32, NativeEval } from "./native-eval.ts";

export class NativeSae extends NativeEval implements SaeKernels {
  sqDiff(a: FloatArray, b: FloatArray, scale: number, out: FloatArray | null): number {
    f32("sqDiff", a, b, out);
    return this.addon.sqDiff(a, b, scale, out);
  }

  activeStats(x: FloatArray, rows: number, cols: number, counts: Int32Array | null, stats: Float64Array): void {
    f32("activeStats", x);
    this.addon.activeStats(x, rows, cols, counts, stats);
  }

  addWherePositive(x: FloatArray, c: number, y: FloatArray): void {
    f32("addWherePositive", x, y);
    this.addon.addWherePositive(x, c, y);
  }

  scaleNormForward(
    x: FloatArray, // [rows, d]
    rows: number,
    d: number,
    k: ScaleNormConstants,
    shift: FloatArray, // [d]
    n: FloatArray, // [rows, d]
    r1: FloatArray, // [rows, d]
    muT: FloatArray, // [rows]
    varT: FloatArray, // [rows]
  ): void {
    f32("scaleNormForward", x, k.omRm, k.omRv, k.coef, k.scales, shift, n, r1, muT, varT);
    this.addon.scaleNormForward(x, rows, d, k.a, k.eps, k.omRm, k.omRv, k.coef, k.scales, shift, n, r1, muT, varT);
  }

  scaleNormBackward(
    dn: FloatArray, // [rows, d]
    x: FloatArray, // [rows, d]
    rows: number,
    d: number,
    k: ScaleNormConstants,
    muT: FloatArray, // [rows]
    varT: FloatArray, // [rows]
    rm: FloatArray, // [d]
    rv: FloatArray, // [d]
    adaptive: boolean,
    acc: Float64Array, // [(S + 1) * d]
  ): number {
    f32("scaleNormBackward", dn, x, k.omRm, k.omRv, k.coef, k.scales, muT, varT, rm, rv);
    return this.addon.scaleNormBackward(
      dn,
      x,
      rows,
      d,
      k.a,
      k.eps,
      k.omRm,
      k.omRv,
      k.coef,
      k.scales,
      muT,
      varT,
      rm,
      rv,
      adaptive,
      acc,
    );
  }

  denormalize(
    y: FloatArray, // [rows, d]
    r1: FloatArray, // [rows, d]
    muT: FloatArray, // [rows]
    rows: number,
    d: number,
    a: number,
    omRm: FloatArray, // [d]
    out: FloatArray, // [rows, d]
  ): void {
    f32("denormalize", y, r1, muT, omRm, out);
    this.addon.denormalize(y, r1, muT, rows, d, a, omRm, out);
  }

  denormalizeBackward(
    dx: FloatArray, // [rows, d]
    y: FloatArray, // [rows, d]
    r1: FloatArray, // [rows, d]
    muT: FloatArray, // [rows]
    varT: FloatArray, // [rows]
    rm: FloatArray, // [d]
    rv: FloatArray, // [d]
    rows: number,
    d: number,
    adaptive: boolean,
    dy: FloatArray, // [rows, d]
  ): number {
    f32("denormalizeBackward", dx, y, r1, muT, varT, rm, rv, dy);
    return this.addon.denormalizeBackward(dx, y, r1, muT, varT, rm, rv, rows, d, adaptive, dy);
  }
}
