/**
 * Op table, part 1: products and elementwise arithmetic with broadcasting.
 *
 *   matmul   Y = op(A) op(B)                dA = dY op(B)^T,  dB = op(A)^T dY  (stored layout)
 *   bmm      the same for each group g of A [G, ., .], B [G, ., .]
 *   add/sub  Y = A +- B                     dA = dY, dB = +-dY
 *   mul      Y = A * B                      dA = dY * B, dB = dY * A
 *   scale    Y = alpha X                    dX = alpha dY
 *   addScalar Y = X + c                     dX = dY
 *   mulScalar Y = X * s, s a Var of shape [] dX = s dY, ds = sum(dY * X)
 *   {add,sub,mul}RowVec  X [R, C] with v [C] broadcast over rows   dv = +-sum_r dY (* X)
 *   {add,sub,mul,div}ColVec  X [R, C] with s [R] broadcast over columns  ds = sum_c of the same
 * (R, C: X viewed as [numel / C, C] with C its last dim.)
 */
import type { Backend, FloatArray } from "../core/backend.ts";
import { arity, type BwdCtx, fmt, need, op, rowsCols, sameShape, type Var } from "./types.ts";

/** C [m, n] = op(A) op(B) + beta C with packed strides (A stored [m, k] or [k, m], B [k, n] or [n, k]). */
export function mm(
  be: Backend,
  tA: boolean,
  tB: boolean,
  m: number,
  n: number,
  k: number,
  a: FloatArray,
  b: FloatArray,
  c: FloatArray,
  beta: number,
): void {
  be.gemm(tA, tB, m, n, k, 1, a, tA ? m : k, b, tB ? k : n, beta, c, n);
}

/**
 * Gradients of C_q = op(A_q) op(B_q) for groups q < G stored back to back (A_q [m*k], B_q [k*n],
 * dy_q [m*n]). Each input's gradient is produced in one call so the tape sees one contribution.
 */
function mmBackward(
  g: BwdCtx,
  tA: boolean,
  tB: boolean,
  G: number,
  m: number,
  n: number,
  k: number,
  a: FloatArray,
  b: FloatArray,
  dy: FloatArray,
): void {
  const be = g.backend;
  const part = (x: FloatArray, q: number, len: number) => x.subarray(q * len, (q + 1) * len);
  g.grad(0, (dst, acc) => {
    for (let q = 0; q < G; q++) {
      const [B, D, dA] = [part(b, q, k * n), part(dy, q, m * n), part(dst, q, m * k)];
      if (!tA) mm(be, false, !tB, m, k, n, D, B, dA, acc ? 1 : 0);
      else mm(be, tB, true, k, m, n, B, D, dA, acc ? 1 : 0);
    }
  });
  g.grad(1, (dst, acc) => {
    for (let q = 0; q < G; q++) {
      const [A, D, dB] = [part(a, q, m * k), part(dy, q, m * n), part(dst, q, k * n)];
      if (!tB) mm(be, !tA, false, k, n, m, A, D, dB, acc ? 1 : 0);
      else mm(be, true, tA, n, k, m, D, A, dB, acc ? 1 : 0);
    }
  });
}

export interface MatmulAttrs {
  /** Use A^T (A stored [k, m]). */
  transA?: boolean;
  /** Use B^T (B stored [n, k]). */
  transB?: boolean;
}

/** m, n, k of op(A) [m, k] op(B) [k, n] from the last two dims of A and B. */
function mmDims(name: string, a: Var, b: Var, at: MatmulAttrs | undefined, rank: number): [number, number, number] {
  need(
    a.shape.length === rank && b.shape.length === rank,
    name,
    `needs ${rank}-D inputs, got ${fmt(a.shape)} and ${fmt(b.shape)}`,
  );
  const [a0, a1] = a.shape.slice(rank - 2);
  const [b0, b1] = b.shape.slice(rank - 2);
  const [m, k] = at?.transA ? [a1, a0] : [a0, a1];
  const [kb, n] = at?.transB ? [b1, b0] : [b0, b1];
  need(k === kb, name, `inner dims differ: op(A) is [${m}, ${k}], op(B) is [${kb}, ${n}]`);
  return [m, n, k];
}

/** Pass dy (times alpha) to input i. */
function pass(g: BwdCtx, i: number, dy: FloatArray, alpha = 1): void {
  g.grad(i, (dst, acc) => (acc ? g.backend.axpy(alpha, dy, dst) : g.backend.scale(dy, alpha, dst)));
}

function sameShapes(name: string, xs: readonly Var[]) {
  arity(xs, 2, name);
  need(sameShape(xs[0].shape, xs[1].shape), name, `shapes differ: ${fmt(xs[0].shape)} and ${fmt(xs[1].shape)}`);
  return xs[0].shape;
}

/** x [R, C] and a row vector v [C] (any shape of C entries). */
function rowVecShape(name: string, xs: readonly Var[]) {
  arity(xs, 2, name);
  const [, c] = rowsCols(xs[0]);
  need(
    xs[0].shape.length >= 1 && xs[1].size === c,
    name,
    `v must have ${c} entries (x's last dim), got ${fmt(xs[1].shape)}`,
  );
  return xs[0].shape;
}

/** x [R, C] and a column vector s [R] (any shape of R entries). */
function colVecShape(name: string, xs: readonly Var[]) {
  arity(xs, 2, name);
  const [r] = rowsCols(xs[0]);
  need(
    xs[0].shape.length >= 1 && xs[1].size === r,
    name,
    `s must have ${r} entries (x's rows), got ${fmt(xs[1].shape)}`,
  );
  return xs[0].shape;
}

/** out[r, c] = x[r, c] + sign * s[r]. */
function addCols(x: FloatArray, s: FloatArray, sign: number, rows: number, cols: number, out: FloatArray): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = x[r * cols + c] + sign * s[r];
}

/** ds (+)= sign * sum_c (dy [* x]) per row, via a temp for the product. */
function colVecGrad(g: BwdCtx, dy: FloatArray, x: FloatArray | null, rows: number, cols: number, sign: number): void {
  g.grad(1, (dst, acc) => {
    const be = g.backend;
    let src = dy;
    if (x) {
      src = g.temp(dy.length);
      be.mul(dy, x, src);
    }
    const t = g.temp(rows, 1);
    be.sumCols(src, rows, cols, t, false);
    if (acc) be.axpy(sign, t, dst);
    else be.scale(t, sign, dst);
  });
}

export const linearOps = {
  matmul: op<MatmulAttrs | undefined>({
    doc: "Y [m, n] = op(A) op(B); A [m, k] (or [k, m] with transA), B [k, n] (or [n, k] with transB)",
    shape: (xs, at) => {
      arity(xs, 2, "matmul");
      const [m, n] = mmDims("matmul", xs[0], xs[1], at, 2);
      return [m, n];
    },
    forward: (f, [a, b], at, out) => {
      const [m, n, k] = mmDims("matmul", a, b, at, 2);
      mm(f.backend, !!at?.transA, !!at?.transB, m, n, k, a.data, b.data, out, 0);
    },
    backward: (g, [a, b], at, _out, dy) => {
      const [m, n, k] = mmDims("matmul", a, b, at, 2);
      mmBackward(g, !!at?.transA, !!at?.transB, 1, m, n, k, a.data, b.data, dy);
    },
  }),

  bmm: op<MatmulAttrs | undefined>({
    doc: "Y [G, m, n] = op(A_g) op(B_g) for each group g; A [G, m, k], B [G, k, n] (transposes per group)",
    shape: (xs, at) => {
      arity(xs, 2, "bmm");
      const [m, n] = mmDims("bmm", xs[0], xs[1], at, 3);
      need(
        xs[0].shape[0] === xs[1].shape[0],
        "bmm",
        `group counts differ: ${fmt(xs[0].shape)} and ${fmt(xs[1].shape)}`,
      );
      return [xs[0].shape[0], m, n];
    },
    forward: (f, [a, b], at, out) => {
      const [m, n, k] = mmDims("bmm", a, b, at, 3);
      for (let q = 0; q < a.shape[0]; q++) {
        const A = a.data.subarray(q * m * k, (q + 1) * m * k);
        const B = b.data.subarray(q * k * n, (q + 1) * k * n);
        mm(f.backend, !!at?.transA, !!at?.transB, m, n, k, A, B, out.subarray(q * m * n, (q + 1) * m * n), 0);
      }
    },
    backward: (g, [a, b], at, _out, dy) => {
      const [m, n, k] = mmDims("bmm", a, b, at, 3);
      mmBackward(g, !!at?.transA, !!at?.transB, a.shape[0], m, n, k, a.data, b.data, dy);
    },
  }),

  add: op({
    doc: "Y = A + B (same shape)",
    shape: (xs) => sameShapes("add", xs),
    forward: (f, [a, b], _, out) => f.backend.add(a.data, b.data, out),
    backward: (g, _xs, _, _out, dy) => {
      pass(g, 0, dy);
      pass(g, 1, dy);
    },
  }),

  sub: op({
    doc: "Y = A - B (same shape)",
    shape: (xs) => sameShapes("sub", xs),
    forward: (f, [a, b], _, out) => {
      f.backend.scale(b.data, -1, out);
      f.backend.add(out, a.data, out);
    },
    backward: (g, _xs, _, _out, dy) => {
      pass(g, 0, dy);
      pass(g, 1, dy, -1);
    },
  }),

  mul: op({
    doc: "Y = A * B elementwise (same shape)",
    shape: (xs) => sameShapes("mul", xs),
    forward: (f, [a, b], _, out) => f.backend.mul(a.data, b.data, out),
    backward: (g, [a, b], _, _out, dy) => {
      g.into(0, (dst) => g.backend.mul(dy, b.data, dst));
      g.into(1, (dst) => g.backend.mul(dy, a.data, dst));
    },
  }),

  scale: op<{ alpha: number }>({
    doc: "Y = alpha X (alpha a constant)",
    shape: (xs, at) => {
      arity(xs, 1, "scale");
      need(typeof at?.alpha === "number", "scale", "needs { alpha: number }");
      return xs[0].shape;
    },
    forward: (f, [x], at, out) => f.backend.scale(x.data, at.alpha, out),
    backward: (g, _xs, at, _out, dy) => pass(g, 0, dy, at.alpha),
  }),

  addScalar: op<{ c: number }>({
    doc: "Y = X + c (c a constant)",
    shape: (xs, at) => {
      arity(xs, 1, "addScalar");
      need(typeof at?.c === "number", "addScalar", "needs { c: number }");
      return xs[0].shape;
    },
    forward: (_f, [x], at, out) => {
      for (let i = 0; i < out.length; i++) out[i] = x.data[i] + at.c;
    },
    backward: (g, _xs, _, _out, dy) => pass(g, 0, dy),
  }),

  mulScalar: op({
    doc: "Y = X * s with s a Var of one entry (shape []); ds = sum(dY * X)",
    shape: (xs) => {
      arity(xs, 2, "mulScalar");
      need(xs[1].size === 1, "mulScalar", `s must have one entry, got ${fmt(xs[1].shape)}`);
      return xs[0].shape;
    },
    forward: (f, [x, s], _, out) => f.backend.scale(x.data, s.data[0], out),
    backward: (g, [x, s], _, _out, dy) => {
      pass(g, 0, dy, s.data[0]);
      g.grad(1, (dst, acc) => {
        let t = 0;
        for (let i = 0; i < dy.length; i++) t += dy[i] * x.data[i];
        dst[0] = acc ? dst[0] + t : t;
      });
    },
  }),

  addRowVec: op({
    doc: "Y[r, c] = X[r, c] + v[c]  (bias); dv = sum_r dY",
    shape: (xs) => rowVecShape("addRowVec", xs),
    forward: (f, [x, v], _, out) => f.backend.addBias(x.data, v.data, ...rowsCols(x), out),
    backward: (g, [x], _, _out, dy) => {
      pass(g, 0, dy);
      g.grad(1, (dst, acc) => g.backend.sumRows(dy, ...rowsCols(x), dst, acc));
    },
  }),

  subRowVec: op({
    doc: "Y[r, c] = X[r, c] - v[c]; dv = -sum_r dY",
    shape: (xs) => rowVecShape("subRowVec", xs),
    forward: (f, [x, v], _, out) => {
      const neg = f.temp(v.size);
      f.backend.scale(v.data, -1, neg);
      f.backend.addBias(x.data, neg, ...rowsCols(x), out);
    },
    backward: (g, [x, v], _, _out, dy) => {
      pass(g, 0, dy);
      g.grad(1, (dst, acc) => {
        const t = g.temp(v.size);
        g.backend.sumRows(dy, ...rowsCols(x), t, false);
        if (acc) g.backend.axpy(-1, t, dst);
        else g.backend.scale(t, -1, dst);
      });
    },
  }),

  mulRowVec: op({
    doc: "Y[r, c] = X[r, c] v[c]  (per-column gain); dX = dY v, dv = sum_r dY X",
    shape: (xs) => rowVecShape("mulRowVec", xs),
    forward: (f, [x, v], _, out) => f.backend.scaleCols(x.data, v.data, ...rowsCols(x), out),
    backward: (g, [x, v], _, _out, dy) => {
      g.into(0, (dst) => g.backend.scaleCols(dy, v.data, ...rowsCols(x), dst));
      g.grad(1, (dst, acc) => {
        const t = g.temp(dy.length);
        g.backend.mul(dy, x.data, t);
        g.backend.sumRows(t, ...rowsCols(x), dst, acc);
      });
    },
  }),

  addColVec: op({
    doc: "Y[r, c] = X[r, c] + s[r]; ds = sum_c dY",
    shape: (xs) => colVecShape("addColVec", xs),
    forward: (_f, [x, s], _, out) => addCols(x.data, s.data, 1, ...rowsCols(x), out),
    backward: (g, [x], _, _out, dy) => {
      pass(g, 0, dy);
      colVecGrad(g, dy, null, ...rowsCols(x), 1);
    },
  }),

  subColVec: op({
    doc: "Y[r, c] = X[r, c] - s[r]; ds = -sum_c dY",
    shape: (xs) => colVecShape("subColVec", xs),
    forward: (_f, [x, s], _, out) => addCols(x.data, s.data, -1, ...rowsCols(x), out),
    backward: (g, [x], _, _out, dy) => {
      pass(g, 0, dy);
      colVecGrad(g, dy, null, ...rowsCols(x), -1);
    },
  }),

  mulColVec: op({
    doc: "Y[r, c] = X[r, c] s[r]; dX = dY s, ds = sum_c dY X",
    shape: (xs) => colVecShape("mulColVec", xs),
    forward: (f, [x, s], _, out) => f.backend.scaleRows(x.data, s.data, ...rowsCols(x), out),
    backward: (g, [x, s], _, _out, dy) => {
      g.into(0, (dst) => g.backend.scaleRows(dy, s.data, ...rowsCols(x), dst));
      colVecGrad(g, dy, x.data, ...rowsCols(x), 1);
    },
  }),

  divColVec: op({
    doc: "Y[r, c] = X[r, c] / s[r]; dX = dY / s, ds = -sum_c dY X / s^2 = -sum_c dY Y / s",
    shape: (xs) => colVecShape("divColVec", xs),
    forward: (f, [x, s], _, out) => {
      const inv = f.temp(s.size);
      for (let r = 0; r < s.size; r++) inv[r] = 1 / s.data[r];
      f.backend.scaleRows(x.data, inv, ...rowsCols(x), out);
    },
    backward: (g, [x, s], _, out, dy) => {
      const [rows, cols] = rowsCols(x);
      const inv = g.temp(rows, 2);
      for (let r = 0; r < rows; r++) inv[r] = 1 / s.data[r];
      g.into(0, (dst) => g.backend.scaleRows(dy, inv, rows, cols, dst));
      g.grad(1, (dst, acc) => {
        const t = g.temp(rows, 1);
        for (let r = 0; r < rows; r++) {
          let sum = 0;
          for (let c = 0; c < cols; c++) sum += dy[r * cols + c] * out.data[r * cols + c];
          t[r] = -sum * inv[r];
        }
        if (acc) g.backend.axpy(1, t, dst);
        else dst.set(t);
      });
    },
  }),
};
