/**
 * Op table, part 5: data movement. Gradients move back the same way (no arithmetic beyond sums
 * where one input feeds several outputs).
 *
 *   reshape     same data, another shape (a view; one dim may be -1)
 *   transpose   y [C, R] = x [R, C]^T
 *   swapAxes01  y [B, A, C] from x [A, B, C] (e.g. [T, heads, hd] <-> [heads, T, hd])
 *   sliceFirst  y = x[start:end] along the first dim (a view)
 *   sliceLast   y = x[..., start:end] along the last dim
 *   concatFirst / concatLast  inputs joined along the first / last dim
 */
import { numel, type Shape } from "../core/tensor.ts";
import { fmt, need, op, rowsCols, sameShape, type Var } from "./types.ts";

export interface SliceAttrs {
  start: number;
  end: number;
}

function sliceCheck(name: string, xs: readonly Var[], at: SliceAttrs | undefined, axis: "first" | "last"): number {
  need(xs.length === 1, name, `takes 1 input, got ${xs.length}`);
  const s = xs[0].shape;
  need(s.length >= 1, name, "needs an input of rank >= 1");
  const len = axis === "first" ? s[0] : s[s.length - 1];
  const start = at?.start ?? Number.NaN;
  const end = at?.end ?? Number.NaN;
  need(
    Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= len,
    name,
    `needs { start, end } with 0 <= start <= end <= ${len}, got ${start}, ${end}`,
  );
  return numel(s.slice(1));
}

function concatCheck(name: string, xs: readonly Var[], axis: "first" | "last"): Shape {
  need(xs.length >= 1, name, "needs at least one input");
  const s0 = xs[0].shape;
  need(s0.length >= 1, name, "needs inputs of rank >= 1");
  const rest = (s: Shape) => (axis === "first" ? s.slice(1) : s.slice(0, -1));
  let total = 0;
  for (const x of xs) {
    need(
      x.shape.length === s0.length && sameShape(rest(x.shape), rest(s0)),
      name,
      `shapes ${fmt(s0)} and ${fmt(x.shape)} differ off the joined axis`,
    );
    total += axis === "first" ? x.shape[0] : x.shape[x.shape.length - 1];
  }
  return axis === "first" ? [total, ...rest(s0)] : [...rest(s0), total];
}

function resolveShape(x: Var, shape: Shape | undefined): Shape {
  need(Array.isArray(shape), "reshape", "needs { shape: number[] }");
  const free = shape.indexOf(-1);
  const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const out = free >= 0 && known > 0 ? shape.map((d) => (d === -1 ? x.size / known : d)) : shape;
  need(
    out.every((d) => Number.isInteger(d) && d >= 0) && numel(out) === x.size,
    "reshape",
    `cannot view ${fmt(x.shape)} (${x.size} entries) as ${fmt(shape)}`,
  );
  return out;
}

export const shapeOps = {
  reshape: op<{ shape: Shape }>({
    doc: "the same data viewed with another shape of the same size (one dim may be -1)",
    shape: (xs, at) => {
      need(xs.length === 1, "reshape", `takes 1 input, got ${xs.length}`);
      return resolveShape(xs[0], at?.shape);
    },
    view: ([x]) => x.data,
    forward: () => {},
    backward: (g, _xs, _, _out, dy) => g.grad(0, (dst, acc) => (acc ? g.backend.axpy(1, dy, dst) : dst.set(dy))),
  }),

  transpose: op({
    doc: "y [C, R] = x [R, C]^T",
    shape: (xs) => {
      need(xs.length === 1 && xs[0].shape.length === 2, "transpose", "takes one 2-D input");
      return [xs[0].shape[1], xs[0].shape[0]];
    },
    forward: (_f, [x], _, out) => {
      const [r, c] = x.shape;
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = x.data[i * c + j];
    },
    backward: (g, [x], _, _out, dy) => {
      const [r, c] = x.shape;
      g.grad(0, (dst, acc) => {
        for (let i = 0; i < r; i++) {
          for (let j = 0; j < c; j++) dst[i * c + j] = acc ? dst[i * c + j] + dy[j * r + i] : dy[j * r + i];
        }
      });
    },
  }),

  swapAxes01: op({
    doc: "y [B, A, C] = x [A, B, C] with the first two axes swapped",
    shape: (xs) => {
      need(xs.length === 1 && xs[0].shape.length === 3, "swapAxes01", "takes one 3-D input");
      const [a, b, c] = xs[0].shape;
      return [b, a, c];
    },
    forward: (_f, [x], _, out) => {
      const [A, B, C] = x.shape;
      for (let a = 0; a < A; a++)
        for (let b = 0; b < B; b++) out.set(x.data.subarray((a * B + b) * C, (a * B + b + 1) * C), (b * A + a) * C);
    },
    backward: (g, [x], _, _out, dy) => {
      const [A, B, C] = x.shape;
      g.grad(0, (dst, acc) => {
        for (let a = 0; a < A; a++) {
          for (let b = 0; b < B; b++) {
            const s = (b * A + a) * C;
            const d = (a * B + b) * C;
            for (let c = 0; c < C; c++) dst[d + c] = acc ? dst[d + c] + dy[s + c] : dy[s + c];
          }
        }
      });
    },
  }),

  sliceFirst: op<SliceAttrs>({
    doc: "y = x[start:end] along the first dim (a view, no copy)",
    shape: (xs, at) => {
      sliceCheck("sliceFirst", xs, at, "first");
      return [at.end - at.start, ...xs[0].shape.slice(1)];
    },
    view: ([x], at) => {
      const inner = numel(x.shape.slice(1));
      return x.data.subarray(at.start * inner, at.end * inner);
    },
    forward: () => {},
    backward: (g, [x], at, _out, dy) => {
      const inner = numel(x.shape.slice(1));
      g.acc(0, (dst) => g.backend.axpy(1, dy, dst.subarray(at.start * inner, at.end * inner)));
    },
  }),

  sliceLast: op<SliceAttrs>({
    doc: "y = x[..., start:end] along the last dim",
    shape: (xs, at) => {
      sliceCheck("sliceLast", xs, at, "last");
      return [...xs[0].shape.slice(0, -1), at.end - at.start];
    },
    forward: (_f, [x], at, out) => {
      const [rows, cols] = rowsCols(x);
      const w = at.end - at.start;
      for (let r = 0; r < rows; r++) out.set(x.data.subarray(r * cols + at.start, r * cols + at.end), r * w);
    },
    backward: (g, [x], at, _out, dy) => {
      const [rows, cols] = rowsCols(x);
      const w = at.end - at.start;
      g.acc(0, (dst) => {
        for (let r = 0; r < rows; r++) for (let c = 0; c < w; c++) dst[r * cols + at.start + c] += dy[r * w + c];
      });
    },
  }),

  concatFirst: op({
    doc: "inputs joined along the first dim",
    shape: (xs) => concatCheck("concatFirst", xs, "first"),
    forward: (_f, xs, _, out) => {
      let off = 0;
      for (const x of xs) {
        out.set(x.data, off);
        off += x.size;
      }
    },
    backward: (g, xs, _, _out, dy) => {
      let off = 0;
      xs.forEach((x, i) => {
        const part = dy.subarray(off, off + x.size);
        g.grad(i, (dst, acc) => (acc ? g.backend.axpy(1, part, dst) : dst.set(part)));
        off += x.size;
      });
    },
  }),

  concatLast: op({
    doc: "inputs joined along the last dim",
    shape: (xs) => concatCheck("concatLast", xs, "last"),
    forward: (_f, xs, _, out) => {
      const width = xs.reduce((p, x) => p + rowsCols(x)[1], 0);
      let off = 0;
      for (const x of xs) {
        const [rows, w] = rowsCols(x);
        for (let r = 0; r < rows; r++) out.set(x.data.subarray(r * w, (r + 1) * w), r * width + off);
        off += w;
      }
    },
    backward: (g, xs, _, _out, dy) => {
      const width = xs.reduce((p, x) => p + rowsCols(x)[1], 0);
      let off = 0;
      xs.forEach((x, i) => {
        const [rows, w] = rowsCols(x);
        const o = off;
        g.grad(i, (dst, acc) => {
          for (let r = 0; r < rows; r++) {
            for (let c = 0; c < w; c++)
              dst[r * w + c] = acc ? dst[r * w + c] + dy[r * width + o + c] : dy[r * width + o + c];
          }
        });
        off += w;
      });
    },
  }),
};
