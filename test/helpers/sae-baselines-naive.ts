// An independent, deliberately naive float64 model of the six baseline SAEs (sae-pins.md), written
// from the equations with plain nested loops and sorts (no Backend, nothing shared with src/sae/).
// Tests compare the modules' loss parts and codes with it and take finite differences of its loss.
//
// `frozen` pins what the equations detach: gated's sg(W_dec), sg(b_dec) in its auxiliary
// reconstruction and AuxK's residual e = x - x^. Without it they are computed from `p` (the
// forward value is the same; finite differences then need `frozen` from the unperturbed point).
import type { BaselineArch, SaeHyper } from "../../src/sae/types.ts";

export type NaiveParams = Record<string, Float64Array>;

export interface NaiveFrozen {
  W_dec: Float64Array;
  b_dec: Float64Array;
  e: Float64Array; // [B, d]
}

export interface NaiveOut {
  recon: number;
  sparsity: number;
  aux: number;
  total: number;
  l0: number;
  codes: Float64Array; // [B, m]
  xhat: Float64Array; // [B, d] (matryoshka: the full prefix)
  pre: Float64Array; // [B, m] (gated: pi_gate)
  /** Which entries are active / selected: changes iff a finite difference crossed a kink. */
  pattern: string;
  /** Smallest distance of a pre-activation to a kink or of a selection to a tie. */
  margin: number;
}

export interface NaiveState {
  dead: Uint8Array | null;
  /** batchtopk / matryoshka inference threshold (only read when `inference`). */
  threshold?: Float64Array;
  inference?: boolean;
  frozen?: NaiveFrozen;
}

function encodeNaive(
  x: Float64Array,
  B: number,
  d: number,
  m: number,
  W: Float64Array,
  b: Float64Array | null,
  bdec: Float64Array,
): Float64Array {
  const pre = new Float64Array(B * m);
  for (let r = 0; r < B; r++)
    for (let i = 0; i < m; i++) {
      let s = b ? b[i] : 0;
      for (let j = 0; j < d; j++) s += (x[r * d + j] - bdec[j]) * W[j * m + i];
      pre[r * m + i] = s;
    }
  return pre;
}

function decodeNaive(
  h: Float64Array,
  B: number,
  d: number,
  m: number,
  W: Float64Array,
  bdec: Float64Array | null,
  upto = m,
): Float64Array {
  const out = new Float64Array(B * d);
  for (let r = 0; r < B; r++)
    for (let j = 0; j < d; j++) {
      let s = bdec ? bdec[j] : 0;
      for (let i = 0; i < upto; i++) s += h[r * m + i] * W[i * d + j];
      out[r * d + j] = s;
    }
  return out;
}

function meanSq(x: Float64Array, y: Float64Array, B: number): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] - y[i]) ** 2;
  return s / B;
}

function rowNorm(W: Float64Array, i: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += W[i * d + j] ** 2;
  return Math.sqrt(s);
}

/** Indices of `vals` sorted by value descending, ties by index ascending. */
function order(vals: number[]): number[] {
  return vals.map((_, i) => i).sort((a, b) => vals[b] - vals[a] || a - b);
}

/** Keep the n largest of vals (ties lower index); returns kept indices and the gap at the cut. */
function keepTop(vals: number[], n: number): { kept: number[]; gap: number } {
  const o = order(vals);
  const kept = o.slice(0, n);
  let gap = Number.POSITIVE_INFINITY;
  if (n < vals.length && vals[o[n - 1]] > 0) gap = vals[o[n - 1]] - vals[o[n]];
  return { kept, gap };
}

export function naiveSae(
  arch: BaselineArch,
  hp: SaeHyper,
  p: NaiveParams,
  x: Float64Array,
  B: number,
  st: NaiveState,
): NaiveOut {
  const { d, m, k, l1 } = hp;
  let margin = Number.POSITIVE_INFINITY;
  const pats: string[] = [];
  const codes = new Float64Array(B * m);
  let pre: Float64Array;
  let sparsity = 0;
  let aux = 0;
  if (arch === "gated") {
    const P = encodeNaive(x, B, d, m, p.W_enc, null, p.b_dec);
    pre = new Float64Array(B * m);
    const g = new Float64Array(B * m);
    for (let r = 0; r < B; r++)
      for (let i = 0; i < m; i++) {
        const q = r * m + i;
        const pg = P[q] + p.b_gate[i];
        const pm = P[q] * Math.exp(p.r_mag[i]) + p.b_mag[i];
        pre[q] = pg;
        g[q] = Math.max(pg, 0);
        codes[q] = pg > 0 ? Math.max(pm, 0) : 0;
        margin = Math.min(margin, Math.abs(pg), Math.abs(pm));
        pats.push(`${pg > 0 ? 1 : 0}${pm > 0 ? 1 : 0}`);
        sparsity += (l1 * g[q] * rowNorm(p.W_dec, i, d)) / B;
      }
    const Wf = st.frozen ? st.frozen.W_dec : p.W_dec;
    const bf = st.frozen ? st.frozen.b_dec : p.b_dec;
    aux = meanSq(x, decodeNaive(g, B, d, m, Wf, bf), B);
  } else {
    pre = encodeNaive(x, B, d, m, p.W_enc, p.b_enc, p.b_dec);
    const relu = Array.from(pre, (v) => Math.max(v, 0));
    for (const v of pre) margin = Math.min(margin, Math.abs(v));
    if (arch === "relu") {
      for (let q = 0; q < B * m; q++) {
        codes[q] = relu[q];
        sparsity += (l1 * relu[q] * rowNorm(p.W_dec, q % m, d)) / B;
      }
    } else if (arch === "jumprelu") {
      margin = Number.POSITIVE_INFINITY;
      for (let q = 0; q < B * m; q++) {
        const t = p.threshold[q % m];
        codes[q] = pre[q] > t ? pre[q] : 0;
        if (pre[q] > t) sparsity += l1 / B;
        margin = Math.min(margin, Math.abs(pre[q] - t));
      }
    } else if (arch === "topk") {
      for (let r = 0; r < B; r++) {
        const { kept, gap } = keepTop(relu.slice(r * m, (r + 1) * m), k);
        margin = Math.min(margin, gap);
        for (const i of kept) codes[r * m + i] = relu[r * m + i];
        pats.push(kept.join(","));
      }
    } else if (st.inference) {
      // batchtopk / matryoshka at inference: JumpReLU with the threshold buffer.
      const t = st.threshold ?? new Float64Array(m);
      for (let q = 0; q < B * m; q++) codes[q] = pre[q] > 0 && pre[q] > t[q % m] ? pre[q] : 0;
    } else {
      const { kept, gap } = keepTop(relu, k * B);
      margin = Math.min(margin, gap);
      for (const q of kept) codes[q] = relu[q];
      pats.push(kept.join(","));
    }
  }
  // Reconstruction.
  let xhat: Float64Array;
  let recon: number;
  if (arch === "matryoshka" && !st.inference) {
    let end = 0;
    recon = 0;
    xhat = new Float64Array(0);
    for (const f of hp.matryoshkaFractions) {
      end += Math.round(f * m);
      xhat = decodeNaive(codes, B, d, m, p.W_dec, p.b_dec, end);
      recon += meanSq(x, xhat, B) / hp.matryoshkaFractions.length;
    }
  } else {
    xhat = decodeNaive(codes, B, d, m, p.W_dec, p.b_dec);
    recon = meanSq(x, xhat, B);
  }
  // AuxK.
  if (
    (arch === "topk" || arch === "batchtopk" || arch === "matryoshka") &&
    !st.inference &&
    st.dead &&
    hp.auxKCoef > 0
  ) {
    const deadIdx: number[] = [];
    st.dead.forEach((v, i) => {
      if (v) deadIdx.push(i);
    });
    if (deadIdx.length > 0) {
      const kAux = Math.min(hp.auxK, deadIdx.length);
      const e = st.frozen ? st.frozen.e : Float64Array.from(x, (v, i) => v - xhat[i]);
      const a = new Float64Array(B * m);
      for (let r = 0; r < B; r++) {
        const vals = deadIdx.map((i) => Math.max(pre[r * m + i], 0));
        const { kept, gap } = keepTop(vals, kAux);
        margin = Math.min(margin, gap);
        for (const j of kept) a[r * m + deadIdx[j]] = vals[j];
        pats.push(`aux${kept.join(",")}`);
      }
      const ehat = decodeNaive(a, B, d, m, p.W_dec, null);
      aux = hp.auxKCoef * Math.min(deadIdx.length / hp.auxK, 1) * meanSq(e, ehat, B);
    }
  }
  let nz = 0;
  for (const v of codes) if (v !== 0) nz++;
  if (arch === "relu" || arch === "jumprelu") for (const v of codes) pats.push(v !== 0 ? "1" : "0");
  return {
    recon,
    sparsity,
    aux,
    total: recon + sparsity + aux,
    l0: nz / B,
    codes,
    xhat,
    pre,
    pattern: pats.join("|"),
    margin,
  };
}
