/**
 * Op table, part 4: normalization, softmax, loss, sparsity, embeddings and positions. The math of
 * each forward/backward pair is that of the backend kernel it calls (src/core/backend.ts):
 *
 *   layerNorm      y = (x - mu) rstd [* gamma + beta] over the last dim, rstd = 1/sqrt(var + eps)
 *   rmsNorm        y = x rstd (offset + w), rstd = 1/sqrt(mean(x^2) + eps)
 *   softmax        y = softmax over the last dim;  dx = y (dy - sum(dy y))
 *   causalSoftmax  softmax over keys j <= i (i - j < window) of scores [G, T, T]; same backward
 *   crossEntropy   y = mean over rows with target != -1 of logsumexp(z_r) - z_r[t_r]  (0 if none);
 *                  dz_r = (softmax(z_r) - onehot(t_r)) dy / count
 *   topkRows       keep the k largest per row, zero elsewhere; dx = dy at the kept positions
 *   embedding      y[i] = table[ids[i]];  dtable[ids[i]] += dy[i]
 *   rope           rotate pairs (i, i + h/2) of each head by pos theta^(-2i/h); dx = inverse rotation of dy
 */
import { arity, fmt, need, op, rowsCols, type Var } from "./types.ts";

export interface LayerNormAttrs {
  /** Added to the variance inside the sqrt (default 1e-5). */
  eps?: number;
}

export interface RmsNormAttrs {
  /** 1 for Gemma's (1 + w), 0 for the plain form (default 0). */
  offset?: number;
  /** Default 1e-6. */
  eps?: number;
}

function lastDimParams(name: string, xs: readonly Var[], from: number): void {
  const [, c] = rowsCols(xs[0]);
  need(xs[0].shape.length >= 1, name, "needs an input of rank >= 1");
  for (let i = from; i < xs.length; i++) {
    need(xs[i].size === c, name, `input ${i} must have ${c} entries (x's last dim), got ${fmt(xs[i].shape)}`);
  }
}

export const nnOps = {
  layerNorm: op<LayerNormAttrs | undefined>({
    doc: "y = (x - mean) / sqrt(var + eps) [* gamma + beta] over the last dim; inputs x or x, gamma, beta",
    shape: (xs) => {
      need(xs.length === 1 || xs.length === 3, "layerNorm", `takes x or x, gamma, beta; got ${xs.length} inputs`);
      lastDimParams("layerNorm", xs, 1);
      return xs[0].shape;
    },
    forward: (f, xs, at, out) => {
      const [rows, cols] = rowsCols(xs[0]);
      const [gamma, beta] = xs.length === 3 ? [xs[1].data, xs[2].data] : [null, null];
      const eps = at?.eps ?? 1e-5;
      f.backend.layerNorm(xs[0].data, gamma, beta, rows, cols, eps, out, f.floats(0, rows), f.floats(1, rows));
    },
    backward: (g, xs, _, _out, dy) => {
      const [rows, cols] = rowsCols(xs[0]);
      const affine = xs.length === 3;
      const gamma = affine ? xs[1].data : null;
      const dgamma = affine ? g.accBuffer(1) : null;
      const dbeta = affine ? g.accBuffer(2) : null;
      const run = (dx: typeof dy) =>
        g.backend.layerNormBackward(
          dy,
          xs[0].data,
          gamma,
          g.floats(0, rows),
          g.floats(1, rows),
          rows,
          cols,
          dx,
          dgamma,
          dbeta,
        );
      if (g.needs(0)) g.into(0, run);
      else if (dgamma || dbeta) run(g.temp(dy.length));
    },
  }),

  rmsNorm: op<RmsNormAttrs | undefined>({
    doc: "y = x / sqrt(mean(x^2) + eps) * (offset + w) over the last dim; inputs x, w",
    shape: (xs) => {
      arity(xs, 2, "rmsNorm");
      lastDimParams("rmsNorm", xs, 1);
      return xs[0].shape;
    },
    forward: (f, [x, w], at, out) => {
      const [rows, cols] = rowsCols(x);
      f.backend.rmsNorm(x.data, w.data, at?.offset ?? 0, rows, cols, at?.eps ?? 1e-6, out, f.floats(0, rows));
    },
    backward: (g, [x, w], at, _out, dy) => {
      const [rows, cols] = rowsCols(x);
      const dw = g.accBuffer(1);
      const run = (dx: typeof dy) =>
        g.backend.rmsNormBackward(dy, x.data, w.data, at?.offset ?? 0, g.floats(0, rows), rows, cols, dx, dw);
      if (g.needs(0)) g.into(0, run);
      else if (dw) run(g.temp(dy.length));
    },
  }),

  softmax: op({
    doc: "y = softmax over the last dim",
    shape: (xs) => {
      arity(xs, 1, "softmax");
      need(xs[0].shape.length >= 1, "softmax", "needs an input of rank >= 1");
      return xs[0].shape;
    },
    forward: (f, [x], _, out) => f.backend.softmax(x.data, ...rowsCols(x), out),
    backward: (g, [x], _, out, dy) => g.into(0, (dst) => g.backend.softmaxBackward(out.data, dy, ...rowsCols(x), dst)),
  }),

  causalSoftmax: op<{ window?: number } | undefined>({
    doc: "scores [G, T, T] (or [T, T]) -> causal softmax per row, keys j <= i with i - j < window (<= 0: all)",
    shape: (xs) => {
      arity(xs, 1, "causalSoftmax");
      const s = xs[0].shape;
      need(
        (s.length === 2 || s.length === 3) && s[s.length - 1] === s[s.length - 2],
        "causalSoftmax",
        `needs scores [G, T, T] or [T, T], got ${fmt(s)}`,
      );
      return s;
    },
    forward: (f, [x], at, out) => {
      const t = x.shape[x.shape.length - 1];
      f.backend.causalSoftmax(x.data, x.size / (t * t) || 0, t, at?.window ?? 0, out);
    },
    backward: (g, [x], _, out, dy) => g.into(0, (dst) => g.backend.softmaxBackward(out.data, dy, ...rowsCols(x), dst)),
  }),

  crossEntropy: op<{ targets: Int32Array }>({
    doc: "y = mean over rows with target != -1 of logsumexp(logits_r) - logits_r[target_r]; logits [R, V], targets [R]",
    shape: (xs, at) => {
      arity(xs, 1, "crossEntropy");
      need(xs[0].shape.length === 2, "crossEntropy", `needs logits [R, V], got ${fmt(xs[0].shape)}`);
      need(
        at?.targets instanceof Int32Array && at.targets.length === xs[0].shape[0],
        "crossEntropy",
        `needs { targets: Int32Array } of ${xs[0].shape[0]} entries (one per row)`,
      );
      return [];
    },
    forward: (f, [z], at, out) => {
      const [rows, vocab] = z.shape;
      const losses = f.temp(rows);
      const count = f.backend.crossEntropy(z.data, at.targets, rows, vocab, losses);
      let s = 0;
      for (let r = 0; r < rows; r++) s += losses[r];
      out[0] = count > 0 ? s / count : 0;
    },
    backward: (g, [z], at, _out, dy) => {
      const [rows, vocab] = z.shape;
      let count = 0;
      for (let r = 0; r < rows; r++) if (at.targets[r] !== -1) count++;
      const dloss = g.temp(rows, 1);
      dloss.fill(count > 0 ? dy[0] / count : 0);
      g.into(0, (dst) => g.backend.crossEntropyBackward(z.data, at.targets, dloss, rows, vocab, dst));
    },
  }),

  topkRows: op<{ k: number }>({
    doc: "keep the k largest entries of each row (last dim; ties to the lower index), zero elsewhere",
    shape: (xs, at) => {
      arity(xs, 1, "topkRows");
      const [, c] = rowsCols(xs[0]);
      need(
        xs[0].shape.length >= 1 && Number.isInteger(at?.k) && at.k >= 0 && at.k <= c,
        "topkRows",
        `needs { k } an integer in [0, ${c}], got ${at?.k}`,
      );
      return xs[0].shape;
    },
    forward: (f, [x], at, out) => {
      const [rows, cols] = rowsCols(x);
      f.backend.topkRows(x.data, rows, cols, at.k, out, f.ints(0, rows * at.k));
    },
    backward: (g, [x], at, _out, dy) => {
      const [rows, cols] = rowsCols(x);
      g.into(0, (dst) => g.backend.topkRowsBackward(dy, g.ints(0, rows * at.k), rows, cols, at.k, dst));
    },
  }),

  embedding: op<{ ids: Int32Array }>({
    doc: "y [n, D] = table[ids] for table [V, D], ids [n]",
    shape: (xs, at) => {
      arity(xs, 1, "embedding");
      need(xs[0].shape.length === 2, "embedding", `needs a table [V, D], got ${fmt(xs[0].shape)}`);
      need(at?.ids instanceof Int32Array, "embedding", "needs { ids: Int32Array }");
      return [at.ids.length, xs[0].shape[1]];
    },
    forward: (f, [t], at, out) => f.backend.embeddingGather(t.data, at.ids, t.shape[0], t.shape[1], out),
    backward: (g, [t], at, _out, dy) =>
      g.acc(0, (dst) => g.backend.embeddingScatterAdd(dy, at.ids, t.shape[0], t.shape[1], dst)),
  }),

  rope: op<{ positions: Int32Array; theta: number }>({
    doc: "rotary embedding (rotate_half layout) of x [n, heads, headDim] at positions [n] with base theta",
    shape: (xs, at) => {
      arity(xs, 1, "rope");
      const s = xs[0].shape;
      need(s.length === 3 && s[2] % 2 === 0, "rope", `needs x [n, heads, headDim] with headDim even, got ${fmt(s)}`);
      need(
        at?.positions instanceof Int32Array && at.positions.length === s[0] && typeof at.theta === "number",
        "rope",
        `needs { positions: Int32Array of ${s[0]} entries, theta: number }`,
      );
      return s;
    },
    forward: (f, [x], at, out) => {
      const [n, heads, hd] = x.shape;
      f.backend.rope(x.data, at.positions, n, heads, hd, at.theta, false, out);
    },
    backward: (g, [x], at, _out, dy) => {
      const [n, heads, hd] = x.shape;
      g.into(0, (dst) => g.backend.rope(dy, at.positions, n, heads, hd, at.theta, true, dst));
    },
  }),
};
