/**
 * The orthogonality penalty and the EMA co-activation mask (paper eq. 4 and 6, DESIGN.md s.2).
 *
 * Penalty, W = W_dec [m, d] (row i = feature i's direction), M [m, m] a 0/1 mask:
 *
 *   A = M o (W W^T - I),   ortho = l2 * ||A||_F   (the Frobenius norm, NOT squared)
 *   d ortho / d W = l2 * 2 A W / ||A||_F   (M symmetric, hence A symmetric);   0 when ||A||_F = 0.
 *
 * Cost: one m x m x d GEMM for W W^T and one for A W (2 m^2 d flops each), into preallocated
 * [m, m] buffers.
 *
 * Co-activation mask (the adaptive archs; base and layernorm use M = all ones): with H = h' [B, m]
 * the detached codes of one micro-batch and h'_i its column i,
 *
 *   C_ij = h'_i . h'_j / (|h'_i| |h'_j| + 1e-8)        (G = H^T H, one m x m x B GEMM; |h'_i| = sqrt(G_ii))
 *   E <- beta E + (1 - beta) (C - tau)                (every entry, the diagonal too; E starts at 0)
 *   M_ij = [E_ij > 0] for i != j,  M_ii = 1.
 *
 * E is the buffer `coact_ema` [m, m] (saved in checkpoints, not in the weights). The trainer
 * updates E with each micro-batch first and then uses M in that micro-batch's loss.
 */
import type { Backend, FloatArray } from "../core/backend.ts";

/** A float array of the same kind as `like` (Float32Array or Float64Array) of length n. */
export function floatLike<A extends FloatArray>(like: A | "f32" | "f64", n: number): A {
  if (like === "f32") return new Float32Array(n) as A;
  if (like === "f64") return new Float64Array(n) as A;
  return new (like.constructor as { new (len: number): A })(n);
}

/** Blocks at most this wide are computed as one full GEMM (both triangles). */
const GRAM_LEAF = 768;

/**
 * Symmetric Gram matrix C [n, n] = X X^T of the n rows of X [n, k] (trans = false) or C = X^T X of the
 * n columns of X [k, n] (trans = true); ld is X's row stride. The diagonal blocks are split in two
 * recursively down to GRAM_LEAF and only the upper off-diagonal blocks are multiplied (one GEMM each),
 * then mirrored: about 5/8 of a full product's flops at n = 2304 (a syrk built from gemm).
 */
export function symmetricGram<A extends FloatArray>(
  backend: Backend,
  trans: boolean,
  n: number,
  k: number,
  x: A, // [n, k] or [k, n], row stride ld
  ld: number,
  c: A, // [n, n]
): void {
  const block = (i0: number, size: number): void => {
    const xi = trans ? x.subarray(i0) : x.subarray(i0 * ld);
    if (size <= GRAM_LEAF) {
      backend.gemm(trans, !trans, size, size, k, 1, xi, ld, xi, ld, 0, c.subarray(i0 * n + i0), n);
      return;
    }
    const h = size >> 1;
    const xj = trans ? x.subarray(i0 + h) : x.subarray((i0 + h) * ld);
    backend.gemm(trans, !trans, h, size - h, k, 1, xi, ld, xj, ld, 0, c.subarray(i0 * n + i0 + h), n);
    block(i0, h);
    block(i0 + h, size - h);
  };
  // rows of X: X X^T = gemm(false, true); columns: X^T X = gemm(true, false).
  block(0, n);
  const T = 64;
  for (let i0 = 0; i0 < n; i0 += T)
    for (let j0 = i0; j0 < n; j0 += T)
      for (let i = i0; i < Math.min(i0 + T, n); i++)
        for (let j = Math.max(j0, i + 1); j < Math.min(j0 + T, n); j++) c[j * n + i] = c[i * n + j];
}

/** ||M o (W W^T - I)||_F and its gradient, with [m, m] work buffers allocated once. */
export class OrthoPenalty<A extends FloatArray> {
  readonly m: number;
  readonly d: number;
  private readonly backend: Backend;
  /** [m, m] W W^T, then A in place. */
  private readonly a: A;
  /** ||A||_F of the last evaluate(). */
  normA = 0;

  constructor(backend: Backend, m: number, d: number, arrayType: "f32" | "f64") {
    this.backend = backend;
    this.m = m;
    this.d = d;
    this.a = floatLike<A>(arrayType, m * m);
  }

  /**
   * Returns ||A||_F for W [m, d] and mask [m, m] (null = all ones); keeps A for addGradient.
   */
  evaluate(w: A, mask: Uint8Array | null): number {
    const { m, d, a } = this;
    symmetricGram(this.backend, false, m, d, w, d, a);
    let sum = 0;
    for (let i = 0; i < m; i++) {
      const row = i * m;
      a[row + i] -= 1;
      if (mask) {
        for (let j = 0; j < m; j++) {
          if (mask[row + j] === 0) a[row + j] = 0;
          else sum += a[row + j] * a[row + j];
        }
      } else {
        for (let j = 0; j < m; j++) sum += a[row + j] * a[row + j];
      }
    }
    this.normA = Math.sqrt(sum);
    return this.normA;
  }

  /** dW [m, d] += coef * 2 A W / ||A||_F for the A of the last evaluate(w, ...) (nothing when ||A|| = 0). */
  addGradient(w: A, coef: number, dw: A): void {
    if (this.normA === 0 || coef === 0) return;
    const { m, d } = this;
    this.backend.gemm(false, false, m, d, m, (2 * coef) / this.normA, this.a, m, w, d, 1, dw, d);
  }
}

/** The EMA co-activation estimate E (`coact_ema`) and the mask M derived from it. */
export class CoactMask<A extends FloatArray> {
  readonly m: number;
  readonly beta: number;
  readonly tau: number;
  /** E [m, m] (buffer `coact_ema`). */
  readonly ema: A;
  /** M [m, m], 0/1 (valid after refresh()). */
  readonly mask: Uint8Array;
  private readonly backend: Backend;
  /** [m, m] G = H^T H, then C in place. */
  private readonly gram: A;
  /** [m] column norms |h'_i|. */
  private readonly norms: Float64Array;

  constructor(backend: Backend, m: number, beta: number, tau: number, arrayType: "f32" | "f64") {
    this.backend = backend;
    this.m = m;
    this.beta = beta;
    this.tau = tau;
    this.ema = floatLike<A>(arrayType, m * m);
    this.gram = floatLike<A>(arrayType, m * m);
    this.mask = new Uint8Array(m * m);
    this.norms = new Float64Array(m);
    this.refresh();
  }

  /** C [m, m] of codes h' [rows, m] into `out` (exposed for tests and the benchmark). */
  cosine(codes: A, rows: number, out: A = this.gram): A {
    const m = this.m;
    symmetricGram(this.backend, true, m, rows, codes, m, out);
    const norms = this.norms;
    for (let i = 0; i < m; i++) norms[i] = Math.sqrt(Math.max(out[i * m + i], 0));
    for (let i = 0; i < m; i++) {
      const ni = norms[i];
      const row = i * m;
      for (let j = 0; j < m; j++) out[row + j] = out[row + j] / (ni * norms[j] + 1e-8);
    }
    return out;
  }

  /** E <- beta E + (1 - beta)(C - tau) with the codes h' [rows, m] of one micro-batch, then M = mask(E) (one pass). */
  update(codes: A, rows: number): void {
    const c = this.cosine(codes, rows);
    const { m, ema: e, mask, beta: b, tau } = this;
    const nb = 1 - b;
    for (let i = 0; i < m; i++) {
      const row = i * m;
      for (let j = 0; j < m; j++) {
        e[row + j] = b * e[row + j] + nb * (c[row + j] - tau);
        mask[row + j] = e[row + j] > 0 ? 1 : 0; // the stored value, as refresh() reads it
      }
      mask[row + i] = 1;
    }
  }

  /** M_ij = [E_ij > 0] (i != j), M_ii = 1, from the current E (call after E is loaded or changed). */
  refresh(): void {
    const { m, ema, mask } = this;
    for (let i = 0; i < m; i++) {
      const row = i * m;
      for (let j = 0; j < m; j++) mask[row + j] = i === j || ema[row + j] > 0 ? 1 : 0;
    }
  }
}
