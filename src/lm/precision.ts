/**
 * The precision of an LM forward's linear layers (`--precision`):
 *
 *   f32:  out = x W^T                                   (be.gemm, fp32 throughout)
 *   bf16: out = bf16(x) bf16(W)^T, fp32 accumulation    (Backend.gemmBf16; W rounded once at load)
 *
 * Everything else (embeddings, norms, attention scores and mixing, GELU, residual adds, soft-caps)
 * stays fp32, and the activations passed between layers are fp32. `Linears` holds the bf16 forms:
 * `toBf16` rounds a weight once and returns a zero-length placeholder that stands for it in the
 * weight struct (so the fp32 copy can be freed), or keeps the fp32 array as the key when it is
 * still needed elsewhere (a tied embedding).
 */
import type { Backend, Bf16Matrix } from "../core/backend.ts";

export type Precision = "f32" | "bf16";
export const PRECISIONS: readonly Precision[] = ["f32", "bf16"];

export class Linears {
  private readonly be: Backend;
  private readonly bf16 = new Map<Float32Array, Bf16Matrix>();
  precision: Precision = "f32";

  constructor(be: Backend) {
    this.be = be;
  }

  /** out [rows, n] = x [rows, k] W^T, W [n, k] (nn.Linear's [out, in]). */
  xWt(x: Float32Array, rows: number, k: number, w: Float32Array, n: number, out: Float32Array): void {
    const p = this.bf16.get(w);
    if (p) this.be.gemmBf16(x, rows, p, out);
    else this.be.gemm(false, true, rows, n, k, 1, x, k, w, k, 0, out, n);
  }

  /** out [rows, n] = x [rows, k] W, W [k, n] (GPT-2's Conv1D [in, out]). */
  xW(x: Float32Array, rows: number, k: number, w: Float32Array, n: number, out: Float32Array): void {
    const p = this.bf16.get(w);
    if (p) this.be.gemmBf16(x, rows, p, out);
    else this.be.gemm(false, false, rows, n, k, 1, x, k, w, n, 0, out, n);
  }

  /**
   * Rounds w ([n, k], or [k, n] with transW) to bf16 once. Returns the array the weight struct
   * should hold from now on: a zero-length placeholder (the fp32 data may be dropped), or w itself
   * with keep (it stays in use elsewhere, e.g. a tied embedding's gather).
   */
  toBf16(w: Float32Array, n: number, k: number, transW: boolean, keep = false): Float32Array {
    const key = keep ? w : new Float32Array(0);
    this.bf16.set(key, this.be.bf16Weight(w, n, k, transW));
    this.precision = "bf16";
    return key;
  }
}
