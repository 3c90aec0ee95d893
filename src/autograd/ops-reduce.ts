/**
 * Op table, part 2: reductions (scalars are Vars of shape []).
 *
 *   sum        y = sum_i x_i                 dx_i = dy
 *   mean       y = sum_i x_i / n             dx_i = dy / n
 *   sumRows    y[c] = sum_r x[r, c]          dx[r, c] = dy[c]
 *   sumCols    y[r] = sum_c x[r, c]          dx[r, c] = dy[r]
 *   sumSquares y = sum_i x_i^2               dx = 2 x dy
 *   mse        y = sum_i (a_i - b_i)^2 / n   da = 2 (a - b) dy / n = -db
 * rowMean and rowVar drop the last dim (x [B, T, C] -> y [B, T]).
 *   rowMean    y[r] = mu_r = sum_c x[r, c] / C            dx[r, c] = dy[r] / C
 *   rowVar     y[r] = sum_c (x[r, c] - mu_r)^2 / C (biased)  dx[r, c] = 2 dy[r] (x[r, c] - mu_r) / C
 * (R, C: x viewed as [numel / C, C] with C its last dim.)
 */
import type { FloatArray } from "../core/backend.ts";
import { arity, type BwdCtx, fmt, need, op, rowsCols, sameShape } from "./types.ts";

/** dx[r, c] (+)= alpha * dy[r] (a per-row value broadcast across columns). */
function broadcastRows(g: BwdCtx, dy: FloatArray, rows: number, cols: number, alpha: number): void {
  g.grad(0, (dst, acc) => {
    for (let r = 0; r < rows; r++) {
      const v = alpha * dy[r];
      for (let c = 0; c < cols; c++) dst[r * cols + c] = acc ? dst[r * cols + c] + v : v;
    }
  });
}

export const reduceOps = {
  sum: op({
    doc: "y = sum of all entries (shape [])",
    shape: (xs) => {
      arity(xs, 1, "sum");
      return [];
    },
    forward: (f, [x], _, out) => f.backend.sumCols(x.data, 1, x.size, out, false),
    backward: (g, [x], _, _out, dy) => broadcastRows(g, dy, 1, x.size, 1),
  }),

  mean: op({
    doc: "y = mean of all entries (shape [])",
    shape: (xs) => {
      arity(xs, 1, "mean");
      need(xs[0].size > 0, "mean", "needs at least one entry");
      return [];
    },
    forward: (f, [x], _, out) => {
      f.backend.sumCols(x.data, 1, x.size, out, false);
      out[0] /= x.size;
    },
    backward: (g, [x], _, _out, dy) => broadcastRows(g, dy, 1, x.size, 1 / x.size),
  }),

  sumRows: op({
    doc: "y [C] = sum over rows of x [R, C]",
    shape: (xs) => {
      arity(xs, 1, "sumRows");
      need(xs[0].shape.length === 2, "sumRows", `needs a 2-D input, got ${fmt(xs[0].shape)}`);
      return [xs[0].shape[1]];
    },
    forward: (f, [x], _, out) => f.backend.sumRows(x.data, ...rowsCols(x), out, false),
    backward: (g, [x], _, _out, dy) => {
      const [rows, cols] = rowsCols(x);
      g.grad(0, (dst, acc) => {
        if (acc) g.backend.addBias(dst, dy, rows, cols, dst);
        else for (let r = 0; r < rows; r++) dst.set(dy, r * cols);
      });
    },
  }),

  sumCols: op({
    doc: "y [R] = sum over columns of x [R, C]",
    shape: (xs) => {
      arity(xs, 1, "sumCols");
      need(xs[0].shape.length === 2, "sumCols", `needs a 2-D input, got ${fmt(xs[0].shape)}`);
      return [xs[0].shape[0]];
    },
    forward: (f, [x], _, out) => f.backend.sumCols(x.data, ...rowsCols(x), out, false),
    backward: (g, [x], _, _out, dy) => broadcastRows(g, dy, ...rowsCols(x), 1),
  }),

  sumSquares: op({
    doc: "y = sum_i x_i^2 (shape [])",
    shape: (xs) => {
      arity(xs, 1, "sumSquares");
      return [];
    },
    forward: (f, [x], _, out) => {
      out[0] = f.backend.sumSquares(x.data);
    },
    backward: (g, [x], _, _out, dy) => {
      g.grad(0, (dst, acc) => (acc ? g.backend.axpy(2 * dy[0], x.data, dst) : g.backend.scale(x.data, 2 * dy[0], dst)));
    },
  }),

  mse: op({
    doc: "y = mean_i (a_i - b_i)^2 over all entries (shape [])",
    shape: (xs) => {
      arity(xs, 2, "mse");
      need(sameShape(xs[0].shape, xs[1].shape), "mse", `shapes differ: ${fmt(xs[0].shape)} and ${fmt(xs[1].shape)}`);
      need(xs[0].size > 0, "mse", "needs at least one entry");
      return [];
    },
    forward: (f, [a, b], _, out) => {
      const d = f.floats(0, a.size); // a - b, kept for the backward
      f.backend.scale(b.data, -1, d);
      f.backend.add(d, a.data, d);
      out[0] = f.backend.sumSquares(d) / a.size;
    },
    backward: (g, [a], _, _out, dy) => {
      const d = g.floats(0, a.size);
      const k = (2 * dy[0]) / a.size;
      for (const [i, sign] of [
        [0, 1],
        [1, -1],
      ]) {
        g.grad(i, (dst, acc) => (acc ? g.backend.axpy(sign * k, d, dst) : g.backend.scale(d, sign * k, dst)));
      }
    },
  }),

  rowMean: op({
    doc: "y [R] = mean over the last dim of x [R, C]",
    shape: (xs) => {
      arity(xs, 1, "rowMean");
      const [, c] = rowsCols(xs[0]);
      need(xs[0].shape.length >= 1 && c > 0, "rowMean", `needs a last dim > 0, got ${fmt(xs[0].shape)}`);
      return xs[0].shape.slice(0, -1);
    },
    forward: (f, [x], _, out) => {
      const [rows, cols] = rowsCols(x);
      f.backend.sumCols(x.data, rows, cols, out, false);
      f.backend.scale(out, 1 / cols, out);
    },
    backward: (g, [x], _, _out, dy) => {
      const [rows, cols] = rowsCols(x);
      broadcastRows(g, dy, rows, cols, 1 / cols);
    },
  }),

  rowVar: op({
    doc: "y [R] = biased variance over the last dim of x [R, C]",
    shape: (xs) => {
      arity(xs, 1, "rowVar");
      const [, c] = rowsCols(xs[0]);
      need(xs[0].shape.length >= 1 && c > 0, "rowVar", `needs a last dim > 0, got ${fmt(xs[0].shape)}`);
      return xs[0].shape.slice(0, -1);
    },
    forward: (f, [x], _, out) => {
      const [rows, cols] = rowsCols(x);
      const mu = f.floats(0, rows);
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let c = 0; c < cols; c++) s += x.data[r * cols + c];
        const m = s / cols;
        let v = 0;
        for (let c = 0; c < cols; c++) v += (x.data[r * cols + c] - m) ** 2;
        mu[r] = m;
        out[r] = v / cols;
      }
    },
    backward: (g, [x], _, _out, dy) => {
      const [rows, cols] = rowsCols(x);
      const mu = g.floats(0, rows);
      g.grad(0, (dst, acc) => {
        for (let r = 0; r < rows; r++) {
          const k = (2 * dy[r]) / cols;
          for (let c = 0; c < cols; c++) {
            const i = r * cols + c;
            const v = k * (x.data[i] - mu[r]);
            dst[i] = acc ? dst[i] + v : v;
          }
        }
      });
    },
  }),
};
