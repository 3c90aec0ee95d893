/**
 * Op table, part 3: pointwise functions y = f(x) with dx = dy f'(x).
 *
 *   relu     max(x, 0)                      f' = [x > 0]
 *   gelu     0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   f' from the backend
 *   softcap  cap tanh(x / cap)              f' = 1 - (y / cap)^2
 *   abs      |x|                            f' = sign(x)  (0 at 0)
 *   sigmoid  1 / (1 + e^-x)                 f' = y (1 - y)
 *   exp      e^x                            f' = y
 *   log      ln x                           f' = 1 / x
 *   sqrt     sqrt(x)                        f' = 1 / (2 y)
 */
import type { FloatArray } from "../core/backend.ts";
import { arity, type BwdCtx, need, op, type Var } from "./types.ts";

const one = (name: string) => (xs: readonly Var[]) => {
  arity(xs, 1, name);
  return xs[0].shape;
};

/** dx (+)= dy * deriv(i) for every i (deriv reads x or y at i). */
function pointwiseGrad(g: BwdCtx, dy: FloatArray, deriv: (i: number) => number): void {
  g.grad(0, (dst, acc) => {
    for (let i = 0; i < dy.length; i++) {
      const v = dy[i] * deriv(i);
      dst[i] = acc ? dst[i] + v : v;
    }
  });
}

function capOf(at: { cap: number } | undefined): number {
  need(typeof at?.cap === "number" && at.cap > 0, "softcap", "needs { cap: number > 0 }");
  return at.cap;
}

export const pointwiseOps = {
  relu: op({
    doc: "y = max(x, 0)",
    shape: one("relu"),
    forward: (f, [x], _, out) => f.backend.relu(x.data, out),
    backward: (g, [x], _, _out, dy) => g.into(0, (dst) => g.backend.reluBackward(x.data, dy, dst)),
  }),

  gelu: op({
    doc: "y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  (tanh approximation)",
    shape: one("gelu"),
    forward: (f, [x], _, out) => f.backend.gelu(x.data, out),
    backward: (g, [x], _, _out, dy) => g.into(0, (dst) => g.backend.geluBackward(x.data, dy, dst)),
  }),

  softcap: op<{ cap: number }>({
    doc: "y = cap tanh(x / cap)",
    shape: (xs, at) => {
      capOf(at);
      return one("softcap")(xs);
    },
    forward: (f, [x], at, out) => f.backend.softcap(x.data, at.cap, out),
    backward: (g, _xs, at, out, dy) => g.into(0, (dst) => g.backend.softcapBackward(out.data, dy, at.cap, dst)),
  }),

  abs: op({
    doc: "y = |x|  (gradient sign(x), 0 at 0)",
    shape: one("abs"),
    forward: (_f, [x], _, out) => {
      for (let i = 0; i < out.length; i++) out[i] = Math.abs(x.data[i]);
    },
    backward: (g, [x], _, _out, dy) => pointwiseGrad(g, dy, (i) => Math.sign(x.data[i])),
  }),

  sigmoid: op({
    doc: "y = 1 / (1 + exp(-x))",
    shape: one("sigmoid"),
    forward: (_f, [x], _, out) => {
      for (let i = 0; i < out.length; i++) {
        const v = x.data[i];
        // Stable on both sides: never exp of a large positive number.
        out[i] = v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
      }
    },
    backward: (g, _xs, _, out, dy) => pointwiseGrad(g, dy, (i) => out.data[i] * (1 - out.data[i])),
  }),

  exp: op({
    doc: "y = exp(x)",
    shape: one("exp"),
    forward: (_f, [x], _, out) => {
      for (let i = 0; i < out.length; i++) out[i] = Math.exp(x.data[i]);
    },
    backward: (g, _xs, _, out, dy) => g.into(0, (dst) => g.backend.mul(dy, out.data, dst)),
  }),

  log: op({
    doc: "y = ln(x)",
    shape: one("log"),
    forward: (_f, [x], _, out) => {
      for (let i = 0; i < out.length; i++) out[i] = Math.log(x.data[i]);
    },
    backward: (g, [x], _, _out, dy) => pointwiseGrad(g, dy, (i) => 1 / x.data[i]),
  }),

  sqrt: op({
    doc: "y = sqrt(x)",
    shape: one("sqrt"),
    forward: (_f, [x], _, out) => {
      for (let i = 0; i < out.length; i++) out[i] = Math.sqrt(x.data[i]);
    },
    backward: (g, _xs, _, out, dy) => pointwiseGrad(g, dy, (i) => 0.5 / out.data[i]),
  }),
};
