/**
 * An independent, deliberately naive float64 evaluation of the paper architectures' forward and
 * loss (DESIGN.md s.2 + /work/notes/sae-pins.md), one token and one scalar at a time, written
 * straight from the equations with no shared code: the oracle the module's forward is compared
 * with, and the function finite differences of the gradient checks differentiate.
 */
import type { PaperArch } from "../../src/sae/types.ts";

export interface NaiveInput {
  arch: PaperArch;
  d: number;
  m: number;
  l1: number;
  l2: number;
  eps: number;
  reconstruct: "paper" | "denormalized";
  /** Parameters by DESIGN tensor name (row-major). */
  p: Record<string, ArrayLike<number>>;
  /** run_mean, run_var [d]; coact_ema [m, m] (the mask is [E > 0] off the diagonal). */
  state: Record<string, ArrayLike<number>>;
  x: ArrayLike<number>;
  rows: number;
}

export interface NaiveOutput {
  codes: number[][];
  recon: number[][];
  reconLoss: number;
  sparsity: number;
  ortho: number;
  total: number;
  l0: number;
}

const SC = [0.1, 0.5, 1, 2];

export function naivePaper(inp: NaiveInput): NaiveOutput {
  const { arch, d, m, p, state, rows } = inp;
  const normalized = arch !== "base";
  const adaptive = arch === "adaptive" || arch === "attention" || arch === "multiscale";
  const attention = arch === "attention" || arch === "multiscale";
  const multi = arch === "multiscale";
  const codes: number[][] = [];
  const recon: number[][] = [];
  let reconLoss = 0;
  let l1sum = 0;
  let active = 0;
  for (let b = 0; b < rows; b++) {
    const x = Array.from({ length: d }, (_, j) => inp.x[b * d + j]);
    const muT = x.reduce((s, v) => s + v, 0) / d;
    const varT = x.reduce((s, v) => s + (v - muT) ** 2, 0) / d;
    const a = adaptive ? 1 / (1 + Math.exp(-p.adapt_rho[0])) : 1;
    const mu = x.map((_, j) => (adaptive ? a * muT + (1 - a) * state.run_mean[j] : muT));
    const v = x.map((_, j) => (adaptive ? a * varT + (1 - a) * state.run_var[j] : varT));
    let input: number[];
    if (!normalized) input = x.map((xj, j) => xj - p.b_dec[j]);
    else if (multi) {
      const ex = SC.map((_, s) => Math.exp(p.ms_w[s]));
      const z = ex.reduce((s, e) => s + e, 0);
      input = x.map((xj, j) => {
        let acc = 0;
        for (let s = 0; s < 4; s++)
          acc +=
            (ex[s] / z) *
            ((p.ms_gamma[s * d + j] * (xj - mu[j])) / Math.sqrt(SC[s] * v[j] + inp.eps) + p.ms_beta[s * d + j]);
        return acc;
      });
    } else input = x.map((xj, j) => (p.ln_gamma[j] * (xj - mu[j])) / Math.sqrt(v[j] + inp.eps) + p.ln_beta[j]);
    const h: number[] = [];
    for (let i = 0; i < m; i++) {
      let s = p.b_enc[i];
      for (let j = 0; j < d; j++) s += input[j] * p.W_enc[j * m + i];
      h.push(Math.max(0, s));
    }
    let hp = h;
    if (attention) {
      const dk = d / 4;
      const q: number[] = [];
      for (let c = 0; c < dk; c++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += input[j] * p.attn_WQ[j * dk + c];
        q.push(s);
      }
      const sc: number[] = [];
      for (let i = 0; i < m; i++) {
        let s = 0;
        for (let c = 0; c < dk; c++) s += q[c] * p.attn_K[i * dk + c];
        sc.push((p.attn_alpha[0] * s) / Math.sqrt(dk));
      }
      const mx = Math.max(...sc);
      const e = sc.map((s) => Math.exp(s - mx));
      const z = e.reduce((s, t) => s + t, 0);
      hp = h.map((hi, i) => hi * m * (e[i] / z));
    }
    const y: number[] = [];
    for (let j = 0; j < d; j++) {
      let s = p.b_dec[j];
      for (let i = 0; i < m; i++) s += hp[i] * p.W_dec[i * d + j];
      y.push(s);
    }
    const xhat =
      normalized && inp.reconstruct === "denormalized" ? y.map((yj, j) => Math.sqrt(v[j] + inp.eps) * yj + mu[j]) : y;
    codes.push(hp);
    recon.push(xhat);
    for (let j = 0; j < d; j++) reconLoss += (x[j] - xhat[j]) ** 2;
    for (const t of hp) {
      l1sum += Math.abs(t);
      if (t !== 0) active++;
    }
  }
  let sq = 0;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < m; j++) {
      const masked = adaptive ? i === j || state.coact_ema[i * m + j] > 0 : true;
      if (!masked) continue;
      let g = 0;
      for (let c = 0; c < d; c++) g += p.W_dec[i * d + c] * p.W_dec[j * d + c];
      sq += (g - (i === j ? 1 : 0)) ** 2;
    }
  const ortho = inp.l2 * Math.sqrt(sq);
  const sparsity = (inp.l1 * l1sum) / rows;
  reconLoss /= rows;
  return { codes, recon, reconLoss, sparsity, ortho, total: reconLoss + sparsity + ortho, l0: active / rows };
}
