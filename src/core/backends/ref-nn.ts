/**
 * Ref backend, part 2 of 3: normalization, softmax / attention / cross-entropy and TopK as plain
 * float64 loops (see ref.ts for the conventions). Equations are on each method.
 */
import type { FloatArray } from "../backend.ts";
import { RefBasic } from "./ref-basic.ts";
import { dim, finite, floats, indicesIn, int, int32s, num, optFloats } from "./ref-check.ts";

export class RefNn extends RefBasic {
  // ---------------------------------------------------------------- normalization
  /** out = (x - mean) rstd gamma + beta per row; rstd = 1 / sqrt(var + eps), var biased. */
  layerNorm(
    x: FloatArray, // [rows, cols]
    gamma: FloatArray | null, // [cols]
    beta: FloatArray | null, // [cols]
    rows: number,
    cols: number,
    eps: number,
    out: FloatArray, // [rows, cols]
    mean: FloatArray, // [rows]
    rstd: FloatArray, // [rows]
  ): void {
    const K = "layerNorm";
    this.rowsCols(K, rows, cols);
    finite(K, "eps", eps, (e) => e >= 0, "finite and >= 0");
    floats(K, "x", x, rows * cols);
    optFloats(K, "gamma", gamma, cols, x);
    optFloats(K, "beta", beta, cols, x);
    floats(K, "out", out, rows * cols, x);
    floats(K, "mean", mean, rows, x);
    floats(K, "rstd", rstd, rows, x);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      for (let c = 0; c < cols; c++) s += x[o + c];
      const mu = s / cols;
      let v = 0;
      for (let c = 0; c < cols; c++) v += (x[o + c] - mu) ** 2;
      const rs = 1 / Math.sqrt(v / cols + eps);
      for (let c = 0; c < cols; c++) {
        let y = (x[o + c] - mu) * rs;
        if (gamma) y *= gamma[c];
        if (beta) y += beta[c];
        out[o + c] = y;
      }
      mean[r] = mu;
      rstd[r] = rs;
    }
  }

  /**
   * xhat = (x - mean) rstd, g = dy gamma: dx = rstd (g - mean(g) - xhat mean(g xhat));
   * dgamma += sum_r dy xhat; dbeta += sum_r dy.
   */
  layerNormBackward(
    dy: FloatArray, // [rows, cols]
    x: FloatArray, // [rows, cols]
    gamma: FloatArray | null, // [cols]
    mean: FloatArray, // [rows]
    rstd: FloatArray, // [rows]
    rows: number,
    cols: number,
    dx: FloatArray, // [rows, cols]
    dgamma: FloatArray | null, // [cols]
    dbeta: FloatArray | null, // [cols]
  ): void {
    const K = "layerNormBackward";
    this.rowsCols(K, rows, cols);
    floats(K, "dy", dy, rows * cols);
    floats(K, "x", x, rows * cols, dy);
    optFloats(K, "gamma", gamma, cols, dy);
    floats(K, "mean", mean, rows, dy);
    floats(K, "rstd", rstd, rows, dy);
    floats(K, "dx", dx, rows * cols, dy);
    optFloats(K, "dgamma", dgamma, cols, dy);
    optFloats(K, "dbeta", dbeta, cols, dy);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const mu = mean[r];
      const rs = rstd[r];
      let sg = 0;
      let sgx = 0;
      for (let c = 0; c < cols; c++) {
        const xh = (x[o + c] - mu) * rs;
        const g = gamma ? dy[o + c] * gamma[c] : dy[o + c];
        sg += g;
        sgx += g * xh;
        if (dgamma) dgamma[c] += dy[o + c] * xh;
        if (dbeta) dbeta[c] += dy[o + c];
      }
      const mg = sg / cols;
      const mgx = sgx / cols;
      for (let c = 0; c < cols; c++) {
        const xh = (x[o + c] - mu) * rs;
        const g = gamma ? dy[o + c] * gamma[c] : dy[o + c];
        dx[o + c] = rs * (g - mg - xh * mgx);
      }
    }
  }

  /** out = x rstd (offset + w), rstd = 1 / sqrt(mean(x^2) + eps). */
  rmsNorm(
    x: FloatArray, // [rows, cols]
    w: FloatArray, // [cols]
    offset: number,
    rows: number,
    cols: number,
    eps: number,
    out: FloatArray, // [rows, cols]
    rstd: FloatArray, // [rows]
    residual: FloatArray | null = null, // [rows, cols]: with sum, sum = residual + out
    sum: FloatArray | null = null, // [rows, cols]
  ): void {
    const K = "rmsNorm";
    this.rowsCols(K, rows, cols);
    num(K, "offset", offset);
    finite(K, "eps", eps, (e) => e >= 0, "finite and >= 0");
    floats(K, "x", x, rows * cols);
    floats(K, "w", w, cols, x);
    floats(K, "out", out, rows * cols, x);
    floats(K, "rstd", rstd, rows, x);
    optFloats(K, "residual", residual, rows * cols, x);
    optFloats(K, "sum", sum, rows * cols, x);
    if ((residual === null) !== (sum === null))
      throw new RangeError(`${K}: residual and sum are given together or not at all`);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let ss = 0;
      for (let c = 0; c < cols; c++) ss += x[o + c] * x[o + c];
      const rs = 1 / Math.sqrt(ss / cols + eps);
      for (let c = 0; c < cols; c++) out[o + c] = x[o + c] * rs * (offset + w[c]);
      rstd[r] = rs;
      if (residual && sum) for (let c = 0; c < cols; c++) sum[o + c] = residual[o + c] + out[o + c];
    }
  }

  /** g = dy (offset + w): dx = rstd g - x rstd^3 mean(g x) (accumulate: dx += it); dw += sum_r dy x rstd. */
  rmsNormBackward(
    dy: FloatArray, // [rows, cols]
    x: FloatArray, // [rows, cols]
    w: FloatArray, // [cols]
    offset: number,
    rstd: FloatArray, // [rows]
    rows: number,
    cols: number,
    dx: FloatArray, // [rows, cols]
    dw: FloatArray | null, // [cols]
    accumulate = false,
  ): void {
    const K = "rmsNormBackward";
    this.rowsCols(K, rows, cols);
    num(K, "offset", offset);
    floats(K, "dy", dy, rows * cols);
    floats(K, "x", x, rows * cols, dy);
    floats(K, "w", w, cols, dy);
    floats(K, "rstd", rstd, rows, dy);
    floats(K, "dx", dx, rows * cols, dy);
    optFloats(K, "dw", dw, cols, dy);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const rs = rstd[r];
      let sgx = 0;
      for (let c = 0; c < cols; c++) {
        sgx += dy[o + c] * (offset + w[c]) * x[o + c];
        if (dw) dw[c] += dy[o + c] * x[o + c] * rs;
      }
      const k = (rs * rs * rs * sgx) / cols;
      for (let c = 0; c < cols; c++) {
        const g = rs * dy[o + c] * (offset + w[c]) - x[o + c] * k;
        dx[o + c] = accumulate ? dx[o + c] + g : g;
      }
    }
  }

  // ---------------------------------------------------------------- softmax, attention, loss
  /** out[r, c] = exp(x[r, c] - max_r) / sum_c' exp(x[r, c'] - max_r). */
  softmax(x: FloatArray, rows: number, cols: number, out: FloatArray): void {
    const K = "softmax";
    this.rowsCols(K, rows, cols);
    floats(K, "x", x, rows * cols);
    floats(K, "out", out, rows * cols, x);
    for (let r = 0; r < rows; r++) this.softmaxSpan(x, out, r * cols, cols);
  }

  /** dx = y (dy - sum_c dy y) per row. */
  softmaxBackward(y: FloatArray, dy: FloatArray, rows: number, cols: number, dx: FloatArray): void {
    const K = "softmaxBackward";
    this.rowsCols(K, rows, cols);
    floats(K, "y", y, rows * cols);
    floats(K, "dy", dy, rows * cols, y);
    floats(K, "dx", dx, rows * cols, y);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let dot = 0;
      for (let c = 0; c < cols; c++) dot += dy[o + c] * y[o + c];
      for (let c = 0; c < cols; c++) dx[o + c] = y[o + c] * (dy[o + c] - dot);
    }
  }

  /** Row i of each group: softmax over keys j <= i with i - j < window (window <= 0: all); 0 elsewhere. */
  causalSoftmax(x: FloatArray, groups: number, t: number, window: number, out: FloatArray): void {
    const K = "causalSoftmax";
    dim(K, "groups", groups);
    dim(K, "t", t);
    int(K, "window", window);
    floats(K, "x", x, groups * t * t);
    floats(K, "out", out, groups * t * t, x);
    for (let g = 0; g < groups; g++) {
      for (let i = 0; i < t; i++) {
        const o = (g * t + i) * t;
        const lo = window > 0 ? Math.max(0, i - window + 1) : 0;
        this.softmaxSpan(x, out, o + lo, i + 1 - lo);
        for (let j = 0; j < lo; j++) out[o + j] = 0;
        for (let j = i + 1; j < t; j++) out[o + j] = 0;
      }
    }
  }

  /** losses[r] = logsumexp(logits[r]) - logits[r, target[r]]; 0 where target = -1. Returns the count kept. */
  crossEntropy(logits: FloatArray, targets: Int32Array, rows: number, vocab: number, losses: FloatArray): number {
    const K = "crossEntropy";
    this.rowsCols(K, rows, vocab, "vocab");
    floats(K, "logits", logits, rows * vocab);
    int32s(K, "targets", targets, rows);
    floats(K, "losses", losses, rows, logits);
    indicesIn(K, "targets", targets, vocab, true);
    let count = 0;
    for (let r = 0; r < rows; r++) {
      const t = targets[r];
      if (t === -1) {
        losses[r] = 0;
        continue;
      }
      losses[r] = this.logSumExp(logits, r * vocab, vocab) - logits[r * vocab + t];
      count++;
    }
    return count;
  }

  /** dlogits[r] = (softmax(logits[r]) - onehot(target[r])) dloss[r]; 0 for ignored rows. */
  crossEntropyBackward(
    logits: FloatArray, // [rows, vocab]
    targets: Int32Array, // [rows]
    dloss: FloatArray, // [rows]
    rows: number,
    vocab: number,
    dlogits: FloatArray, // [rows, vocab]
  ): void {
    const K = "crossEntropyBackward";
    this.rowsCols(K, rows, vocab, "vocab");
    floats(K, "logits", logits, rows * vocab);
    int32s(K, "targets", targets, rows);
    floats(K, "dloss", dloss, rows, logits);
    floats(K, "dlogits", dlogits, rows * vocab, logits);
    indicesIn(K, "targets", targets, vocab, true);
    for (let r = 0; r < rows; r++) {
      const o = r * vocab;
      const t = targets[r];
      if (t === -1) {
        for (let c = 0; c < vocab; c++) dlogits[o + c] = 0;
        continue;
      }
      const lse = this.logSumExp(logits, o, vocab);
      const d = dloss[r];
      for (let c = 0; c < vocab; c++) dlogits[o + c] = (Math.exp(logits[o + c] - lse) - (c === t ? 1 : 0)) * d;
    }
  }

  // ---------------------------------------------------------------- sparsity
  /**
   * Keeps the k largest of each row (ties: lower index first; NaN ranks below every number), zero
   * elsewhere. idx[r] lists the kept columns by value descending, equal values by column ascending.
   */
  topkRows(x: FloatArray, rows: number, cols: number, k: number, out: FloatArray, idx: Int32Array): void {
    const K = "topkRows";
    this.rowsCols(K, rows, cols);
    dim(K, "k", k);
    if (k > cols) throw new RangeError(`${K}: k = ${k} exceeds cols = ${cols}`);
    floats(K, "x", x, rows * cols);
    floats(K, "out", out, rows * cols, x);
    int32s(K, "idx", idx, rows * k);
    const vals = new Float64Array(k);
    const keys = new Float64Array(k); // the value, NaN ranked as -inf (ordering only)
    const cols_ = new Int32Array(k);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      // Insertion into a list sorted by (key desc, column asc); a later column displaces only a strictly smaller key.
      let count = 0;
      for (let c = 0; c < cols; c++) {
        const v = x[o + c];
        const key = Number.isNaN(v) ? Number.NEGATIVE_INFINITY : v;
        if (count === k && !(key > keys[k - 1])) continue;
        let p = count < k ? count++ : k - 1;
        while (p > 0 && keys[p - 1] < key) {
          vals[p] = vals[p - 1];
          keys[p] = keys[p - 1];
          cols_[p] = cols_[p - 1];
          p--;
        }
        vals[p] = v;
        keys[p] = key;
        cols_[p] = c;
      }
      for (let c = 0; c < cols; c++) out[o + c] = 0;
      for (let j = 0; j < k; j++) {
        out[o + cols_[j]] = vals[j];
        idx[r * k + j] = cols_[j];
      }
    }
  }

  /** dx[r, c] = dy[r, c] for c in idx[r], else 0. */
  topkRowsBackward(dy: FloatArray, idx: Int32Array, rows: number, cols: number, k: number, dx: FloatArray): void {
    const K = "topkRowsBackward";
    this.rowsCols(K, rows, cols);
    dim(K, "k", k);
    floats(K, "dy", dy, rows * cols);
    int32s(K, "idx", idx, rows * k);
    floats(K, "dx", dx, rows * cols, dy);
    indicesIn(K, "idx", idx, cols);
    const kept = new Float64Array(k);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let j = 0; j < k; j++) kept[j] = dy[o + idx[r * k + j]];
      for (let c = 0; c < cols; c++) dx[o + c] = 0;
      for (let j = 0; j < k; j++) dx[o + idx[r * k + j]] = kept[j];
    }
  }
}
