/**
 * Ref backend, part 1 of 3: GEMM, elementwise kernels and reductions as plain float64 loops
 * (see ref.ts for the conventions). Equations are on each method.
 */
import type { FloatArray } from "../backend.ts";
import { dim, finite, floats, gemmArgs, num } from "./ref-check.ts";

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

export class RefBasic {
  // ---------------------------------------------------------------- GEMM
  /** C = alpha op(A) op(B) + beta C (beta = 0: C is not read). */
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
    gemmArgs(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    // op(A)[i, p] = a[i * ai + p * ap], op(B)[p, j] = b[p * bp + j * bj]
    const [ai, ap] = transA ? [1, lda] : [lda, 1];
    const [bp, bj] = transB ? [1, ldb] : [ldb, 1];
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[i * ai + p * ap] * b[p * bp + j * bj];
        const ci = i * ldc + j;
        c[ci] = beta === 0 ? alpha * s : alpha * s + beta * c[ci];
      }
    }
  }

  // ---------------------------------------------------------------- elementwise
  /** out = a + b. */
  add(a: FloatArray, b: FloatArray, out: FloatArray): void {
    floats("add", "a", a, -1);
    floats("add", "b", b, a.length, a);
    floats("add", "out", out, a.length, a);
    for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  }

  /** out = a * b. */
  mul(a: FloatArray, b: FloatArray, out: FloatArray): void {
    floats("mul", "a", a, -1);
    floats("mul", "b", b, a.length, a);
    floats("mul", "out", out, a.length, a);
    for (let i = 0; i < a.length; i++) out[i] = a[i] * b[i];
  }

  /** out = alpha x. */
  scale(x: FloatArray, alpha: number, out: FloatArray): void {
    floats("scale", "x", x, -1);
    num("scale", "alpha", alpha);
    floats("scale", "out", out, x.length, x);
    for (let i = 0; i < x.length; i++) out[i] = alpha * x[i];
  }

  /** y += alpha x. */
  axpy(alpha: number, x: FloatArray, y: FloatArray): void {
    num("axpy", "alpha", alpha);
    floats("axpy", "x", x, -1);
    floats("axpy", "y", y, x.length, x);
    for (let i = 0; i < x.length; i++) y[i] += alpha * x[i];
  }

  /** out[r, c] = x[r, c] + bias[c]. */
  addBias(x: FloatArray, bias: FloatArray, rows: number, cols: number, out: FloatArray): void {
    const K = "addBias";
    this.rowsCols(K, rows, cols);
    floats(K, "x", x, rows * cols);
    floats(K, "bias", bias, cols, x);
    floats(K, "out", out, rows * cols, x);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = x[r * cols + c] + bias[c];
  }

  /** out[r, c] = x[r, c] s[r]. */
  scaleRows(x: FloatArray, s: FloatArray, rows: number, cols: number, out: FloatArray): void {
    const K = "scaleRows";
    this.rowsCols(K, rows, cols);
    floats(K, "x", x, rows * cols);
    floats(K, "s", s, rows, x);
    floats(K, "out", out, rows * cols, x);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = x[r * cols + c] * s[r];
  }

  /** out[r, c] = x[r, c] s[c]. */
  scaleCols(x: FloatArray, s: FloatArray, rows: number, cols: number, out: FloatArray): void {
    const K = "scaleCols";
    this.rowsCols(K, rows, cols);
    floats(K, "x", x, rows * cols);
    floats(K, "s", s, cols, x);
    floats(K, "out", out, rows * cols, x);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = x[r * cols + c] * s[c];
  }

  /** out = max(x, 0); NaN stays NaN (as in torch), so a NaN upstream is not hidden. */
  relu(x: FloatArray, out: FloatArray): void {
    this.unary("relu", x, out);
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      out[i] = v > 0 || Number.isNaN(v) ? v : 0;
    }
  }

  /** dx = dy [x > 0]. */
  reluBackward(x: FloatArray, dy: FloatArray, dx: FloatArray): void {
    this.binaryBackward("reluBackward", x, dy, dx);
    for (let i = 0; i < x.length; i++) dx[i] = x[i] > 0 ? dy[i] : 0;
  }

  /** gelu(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3). */
  gelu(x: FloatArray, out: FloatArray): void {
    this.unary("gelu", x, out);
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      out[i] = 0.5 * v * (1 + Math.tanh(GELU_C * (v + GELU_A * v * v * v)));
    }
  }

  /** gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 0.044715 x^2), t = tanh(u). */
  geluBackward(x: FloatArray, dy: FloatArray, dx: FloatArray): void {
    this.binaryBackward("geluBackward", x, dy, dx);
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      const t = Math.tanh(GELU_C * (v + GELU_A * v * v * v));
      const d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * v * v);
      dx[i] = dy[i] * d;
    }
  }

  /** out = cap tanh(x / cap). */
  softcap(x: FloatArray, cap: number, out: FloatArray): void {
    finite("softcap", "cap", cap, (c) => c > 0, "finite and > 0");
    this.unary("softcap", x, out);
    for (let i = 0; i < x.length; i++) out[i] = cap * Math.tanh(x[i] / cap);
  }

  /** dx = dy (1 - (y / cap)^2). */
  softcapBackward(y: FloatArray, dy: FloatArray, cap: number, dx: FloatArray): void {
    finite("softcapBackward", "cap", cap, (c) => c > 0, "finite and > 0");
    this.binaryBackward("softcapBackward", y, dy, dx, "y");
    for (let i = 0; i < y.length; i++) {
      const t = y[i] / cap;
      dx[i] = dy[i] * (1 - t * t);
    }
  }

  // ---------------------------------------------------------------- reductions
  /** out[c] (+)= sum_r x[r, c]. */
  sumRows(x: FloatArray, rows: number, cols: number, out: FloatArray, accumulate: boolean): void {
    const K = "sumRows";
    this.rowsCols(K, rows, cols);
    floats(K, "x", x, rows * cols);
    floats(K, "out", out, cols, x);
    for (let c = 0; c < cols; c++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += x[r * cols + c];
      out[c] = accumulate ? out[c] + s : s;
    }
  }

  /** out[r] (+)= sum_c x[r, c]. */
  sumCols(x: FloatArray, rows: number, cols: number, out: FloatArray, accumulate: boolean): void {
    const K = "sumCols";
    this.rowsCols(K, rows, cols);
    floats(K, "x", x, rows * cols);
    floats(K, "out", out, rows, x);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += x[r * cols + c];
      out[r] = accumulate ? out[r] + s : s;
    }
  }

  /** mean[c] = (1/R) sum_r x[r, c]; variance[c] = (1/R) sum_r (x[r, c] - mean[c])^2. */
  colMeanVar(x: FloatArray, rows: number, cols: number, mean: FloatArray, variance: FloatArray): void {
    const K = "colMeanVar";
    this.rowsCols(K, rows, cols);
    floats(K, "x", x, rows * cols);
    floats(K, "mean", mean, cols, x);
    floats(K, "variance", variance, cols, x);
    for (let c = 0; c < cols; c++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += x[r * cols + c];
      const mu = s / rows;
      let v = 0;
      for (let r = 0; r < rows; r++) {
        const d = x[r * cols + c] - mu;
        v += d * d;
      }
      mean[c] = mu;
      variance[c] = v / rows;
    }
  }

  /** sum_i x_i^2. */
  sumSquares(x: FloatArray): number {
    floats("sumSquares", "x", x, -1);
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i] * x[i];
    return s;
  }

  /** The first index of a NaN / +-Inf entry, or -1. */
  firstNonFinite(x: FloatArray): number {
    floats("firstNonFinite", "x", x, -1);
    for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return i;
    return -1;
  }

  // ---------------------------------------------------------------- helpers
  protected rowsCols(kernel: string, rows: number, cols: number, colsName = "cols", rowsName = "rows"): void {
    dim(kernel, rowsName, rows);
    dim(kernel, colsName, cols);
  }

  protected unary(kernel: string, x: FloatArray, out: FloatArray): void {
    floats(kernel, "x", x, -1);
    floats(kernel, "out", out, x.length, x);
  }

  protected binaryBackward(kernel: string, x: FloatArray, dy: FloatArray, dx: FloatArray, xName = "x"): void {
    floats(kernel, xName, x, -1);
    floats(kernel, "dy", dy, x.length, x);
    floats(kernel, "dx", dx, x.length, x);
  }

  /** out[o, o + len) = softmax(x[o, o + len)), max subtracted first. */
  protected softmaxSpan(x: FloatArray, out: FloatArray, o: number, len: number): void {
    let mx = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < len; c++) if (x[o + c] > mx) mx = x[o + c];
    let s = 0;
    for (let c = 0; c < len; c++) s += Math.exp(x[o + c] - mx);
    for (let c = 0; c < len; c++) out[o + c] = Math.exp(x[o + c] - mx) / s;
  }

  protected logSumExp(x: FloatArray, o: number, len: number): number {
    let mx = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < len; c++) if (x[o + c] > mx) mx = x[o + c];
    let s = 0;
    for (let c = 0; c < len; c++) s += Math.exp(x[o + c] - mx);
    return mx + Math.log(s);
  }
}
