/**
 * Ref backend, fused LM-training kernels: the TypeScript twins of native/src/kernels/lm_fused.cc
 * and attention_fused.cc, plain float64 loops written from the equations (not from the C++):
 *
 *   geglu:          out = gelu(gate) * up,  gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 *   gegluBackward:  dUp = dOut gelu(gate);  dGate = dOut up gelu'(gate)
 *   softcapCrossEntropy, per row r of z [rows, vocab]: c = cap tanh(z / cap) (cap 0: c = z),
 *     loss_r = logsumexp(c) - c[t_r];  dz_r = (softmax(c) - onehot(t_r)) dloss_r (1 - (c / cap)^2)
 *   attentionForwardFused, head h of batch b reading kv head g = floor(h / (H / KV)), row i seeing
 *     keys j in [lo_i, i], lo_i = max(0, i - window + 1) (window <= 0: 0):
 *     S_ij = alpha q_i . k_j;  C_ij = cap tanh(S_ij / cap);  P_i = softmax(C_i) over the band;
 *     y_i = sum_j P_ij v_j;  scores = C, probs = P [B, H, T, T] (0 outside the band)
 *   attentionBackwardFused: dP_ij = dy_i . v_j;  dC_ij = P_ij (dP_ij - sum_j P_ij dP_ij);
 *     dS_ij = dC_ij (1 - (C_ij / cap)^2);  dq_i = alpha sum_j dS_ij k_j;
 *     dk_j = alpha sum_{h in g, i} dS_ij q_i;  dv_j = sum_{h in g, i} P_ij dy_i   (overwritten)
 *   stride > 0 (packed q|k|v): q, k, v, dq, dk, dv are row-strided views of [B*T, stride] matrices
 *   gegluPacked: out [rows, m] = gelu(gu[:, :m]) gu[:, m:];  gegluPackedBackward: dGu = dGate | dUp
 */
import type { FloatArray } from "../backend.ts";
import { dim, finite, floats, indicesIn, int, int32s, num, optFloats } from "./ref-check.ts";
import { RefSparse } from "./ref-sparse.ts";

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

interface AttnDims {
  B: number;
  T: number;
  H: number;
  KV: number;
  hd: number;
}

export class RefLm extends RefSparse {
  /** out = gelu(gate) * up. */
  geglu(gate: FloatArray /* [n] */, up: FloatArray /* [n] */, out: FloatArray /* [n] */): void {
    const K = "geglu";
    floats(K, "gate", gate, -1);
    floats(K, "up", up, gate.length, gate);
    floats(K, "out", out, gate.length, gate);
    for (let i = 0; i < gate.length; i++) {
      const x = gate[i];
      out[i] = 0.5 * x * (1 + Math.tanh(GELU_C * (x + GELU_A * x * x * x))) * up[i];
    }
  }

  /** dUp = dOut gelu(gate); dGate = dOut up gelu'(gate) (either may alias dOut). */
  gegluBackward(
    gate: FloatArray, // [n]
    up: FloatArray, // [n]
    dOut: FloatArray, // [n]
    dGate: FloatArray, // [n]
    dUp: FloatArray, // [n]
  ): void {
    const K = "gegluBackward";
    floats(K, "gate", gate, -1);
    for (const [name, a] of [
      ["up", up],
      ["dOut", dOut],
      ["dGate", dGate],
      ["dUp", dUp],
    ] as const)
      floats(K, name, a, gate.length, gate);
    for (let i = 0; i < gate.length; i++) {
      const x = gate[i];
      const u = up[i];
      const d = dOut[i];
      const t = Math.tanh(GELU_C * (x + GELU_A * x * x * x));
      dUp[i] = d * 0.5 * x * (1 + t);
      dGate[i] = d * u * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * x * x));
    }
  }

  /** out [rows, m] = gelu(gu[:, :m]) * gu[:, m:] (gate | up packed per row). */
  gegluPacked(gu: FloatArray /* [rows, 2m] */, rows: number, m: number, out: FloatArray /* [rows, m] */): void {
    const K = "gegluPacked";
    this.rowsCols(K, rows, m, "m");
    floats(K, "gu", gu, rows * 2 * m);
    floats(K, "out", out, rows * m, gu);
    const gate = new Float64Array(m);
    const up = new Float64Array(m);
    const o = new Float64Array(m);
    for (let r = 0; r < rows; r++) {
      gate.set(gu.subarray(r * 2 * m, r * 2 * m + m));
      up.set(gu.subarray(r * 2 * m + m, (r + 1) * 2 * m));
      this.geglu(gate, up, o);
      out.set(o, r * m);
    }
  }

  /** dGu [rows, 2m] = dGate | dUp of gegluPacked given dOut [rows, m] (dGu may alias gu). */
  gegluPackedBackward(
    gu: FloatArray, // [rows, 2m]
    dOut: FloatArray, // [rows, m]
    rows: number,
    m: number,
    dGu: FloatArray, // [rows, 2m]
  ): void {
    const K = "gegluPackedBackward";
    this.rowsCols(K, rows, m, "m");
    floats(K, "gu", gu, rows * 2 * m);
    floats(K, "dOut", dOut, rows * m, gu);
    floats(K, "dGu", dGu, rows * 2 * m, gu);
    const gate = new Float64Array(m);
    const up = new Float64Array(m);
    const d = new Float64Array(m);
    const dg = new Float64Array(m);
    const du = new Float64Array(m);
    for (let r = 0; r < rows; r++) {
      gate.set(gu.subarray(r * 2 * m, r * 2 * m + m));
      up.set(gu.subarray(r * 2 * m + m, (r + 1) * 2 * m));
      d.set(dOut.subarray(r * m, (r + 1) * m));
      this.gegluBackward(gate, up, d, dg, du);
      dGu.set(dg, r * 2 * m);
      dGu.set(du, r * 2 * m + m);
    }
  }

  /** Soft-capped logits + cross-entropy (+ its gradient when dloss and dz are given); returns the scored count. */
  softcapCrossEntropy(
    z: FloatArray, // [rows, vocab] raw logits
    targets: Int32Array, // [rows], -1 = ignored
    rows: number,
    vocab: number,
    cap: number, // 0 = no soft-capping
    dloss: FloatArray | null, // [rows]
    losses: FloatArray, // [rows]
    dz: FloatArray | null, // [rows, vocab], may alias z
  ): number {
    const K = "softcapCrossEntropy";
    this.rowsCols(K, rows, vocab, "vocab");
    floats(K, "z", z, rows * vocab);
    int32s(K, "targets", targets, rows);
    finite(K, "cap", cap, (c) => c >= 0, "finite and >= 0 (0 = no soft-capping)");
    optFloats(K, "dloss", dloss, rows, z);
    floats(K, "losses", losses, rows, z);
    optFloats(K, "dz", dz, rows * vocab, z);
    if ((dloss === null) !== (dz === null)) throw new RangeError(`${K}: dloss and dz are given together or not at all`);
    indicesIn(K, "targets", targets, vocab, true);
    const c = new Float64Array(vocab);
    let count = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * vocab;
      const t = targets[r];
      if (t === -1) {
        losses[r] = 0;
        if (dz) for (let j = 0; j < vocab; j++) dz[o + j] = 0;
        continue;
      }
      count++;
      let mx = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < vocab; j++) {
        c[j] = cap > 0 ? cap * Math.tanh(z[o + j] / cap) : z[o + j];
        mx = Math.max(mx, c[j]);
      }
      let s = 0;
      for (let j = 0; j < vocab; j++) s += Math.exp(c[j] - mx);
      const lse = mx + Math.log(s);
      losses[r] = lse - c[t];
      if (!dz || !dloss) continue;
      for (let j = 0; j < vocab; j++) {
        const g = (Math.exp(c[j] - lse) - (j === t ? 1 : 0)) * dloss[r];
        dz[o + j] = cap > 0 ? g * (1 - (c[j] / cap) ** 2) : g;
      }
    }
    return count;
  }

  private attnDims(
    K: string,
    q: FloatArray,
    k: FloatArray,
    v: FloatArray,
    dims: [number, number, number, number, number, number, number, number],
    stride: number,
  ): AttnDims {
    const [B, T, H, KV, hd, alpha, cap, window] = dims;
    for (const [name, x] of [
      ["batch", B],
      ["seq", T],
      ["heads", H],
      ["kvHeads", KV],
      ["headDim", hd],
    ] as const)
      dim(K, name, x);
    num(K, "alpha", alpha);
    finite(K, "cap", cap, (c) => c >= 0, "finite and >= 0 (0 = no soft-capping)");
    int(K, "window", window);
    if (KV < 1 || H % KV !== 0) throw new RangeError(`${K}: heads must be a positive multiple of kvHeads`);
    dim(K, "stride", stride);
    if (stride === 0) {
      floats(K, "q", q, B * T * H * hd);
      floats(K, "k", k, B * T * KV * hd, q);
      floats(K, "v", v, B * T * KV * hd, q);
    } else {
      if (stride < (H + 2 * KV) * hd) throw new RangeError(`${K}: stride must be >= (heads + 2 kvHeads) * headDim`);
      for (const [name, a, cols] of [
        ["q", q, H * hd],
        ["k", k, KV * hd],
        ["v", v, KV * hd],
      ] as const) {
        floats(K, name, a, -1, q);
        const min = B * T === 0 ? 0 : (B * T - 1) * stride + cols;
        if (a.length < min)
          throw new RangeError(`${K}: argument '${name}' has ${a.length} entries, expected at least ${min}`);
      }
    }
    return { B, T, H, KV, hd };
  }

  attentionForwardFused(
    q: FloatArray, // [B*T, H*hd]
    k: FloatArray, // [B*T, KV*hd]
    v: FloatArray, // [B*T, KV*hd]
    batch: number,
    seq: number,
    heads: number,
    kvHeads: number,
    headDim: number,
    alpha: number,
    cap: number, // 0 = no soft-capping
    window: number, // <= 0: unlimited
    scores: FloatArray, // [B, H, T, T] out: capped scores C
    probs: FloatArray, // [B, H, T, T] out: P
    y: FloatArray, // [B*T, H*hd] out
    stride = 0, // row stride of packed q, k, v; 0 = contiguous
  ): void {
    const K = "attentionForwardFused";
    const d = this.attnDims(K, q, k, v, [batch, seq, heads, kvHeads, headDim, alpha, cap, window], stride);
    const { B, T, H, KV, hd } = d;
    floats(K, "scores", scores, B * H * T * T, q);
    floats(K, "probs", probs, B * H * T * T, q);
    floats(K, "y", y, B * T * H * hd, q);
    const ys = H * hd;
    const qs = stride || ys;
    const ks = stride || KV * hd;
    const c = new Float64Array(T); // capped scores of one row, in float64
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / KV));
        for (let i = 0; i < T; i++) {
          const o = ((b * H + h) * T + i) * T;
          const lo = window > 0 ? Math.max(0, i - window + 1) : 0;
          const qi = (b * T + i) * qs + h * hd;
          let mx = Number.NEGATIVE_INFINITY;
          for (let j = lo; j <= i; j++) {
            let s = 0;
            for (let e = 0; e < hd; e++) s += q[qi + e] * k[(b * T + j) * ks + g * hd + e];
            s *= alpha;
            c[j] = cap > 0 ? cap * Math.tanh(s / cap) : s;
            mx = Math.max(mx, c[j]);
          }
          let sum = 0;
          for (let j = lo; j <= i; j++) sum += Math.exp(c[j] - mx);
          for (let j = 0; j < T; j++) {
            const inBand = j >= lo && j <= i;
            scores[o + j] = inBand ? c[j] : 0;
            probs[o + j] = inBand ? Math.exp(c[j] - mx) / sum : 0;
          }
          for (let e = 0; e < hd; e++) {
            let acc = 0;
            for (let j = lo; j <= i; j++) acc += probs[o + j] * v[(b * T + j) * ks + g * hd + e];
            y[(b * T + i) * ys + h * hd + e] = acc;
          }
        }
      }
  }

  attentionBackwardFused(
    q: FloatArray, // [B*T, H*hd]
    k: FloatArray, // [B*T, KV*hd]
    v: FloatArray, // [B*T, KV*hd]
    batch: number,
    seq: number,
    heads: number,
    kvHeads: number,
    headDim: number,
    alpha: number,
    cap: number,
    window: number,
    scores: FloatArray, // [B, H, T, T] C from the forward
    probs: FloatArray, // [B, H, T, T] P from the forward
    dy: FloatArray, // [B*T, H*hd]
    dq: FloatArray, // [B*T, H*hd] out
    dk: FloatArray, // [B*T, KV*hd] out
    dv: FloatArray, // [B*T, KV*hd] out
    stride = 0, // row stride of packed q, k, v (and dq, dk, dv); 0 = contiguous
  ): void {
    const K = "attentionBackwardFused";
    const d = this.attnDims(K, q, k, v, [batch, seq, heads, kvHeads, headDim, alpha, cap, window], stride);
    const { B, T, H, KV, hd } = d;
    floats(K, "scores", scores, B * H * T * T, q);
    floats(K, "probs", probs, B * H * T * T, q);
    floats(K, "dy", dy, B * T * H * hd, q);
    floats(K, "dq", dq, q.length, q);
    floats(K, "dk", dk, k.length, q);
    floats(K, "dv", dv, v.length, q);
    const ys = H * hd;
    const qs = stride || ys;
    const ks = stride || KV * hd;
    for (let r = 0; r < B * T; r++) {
      dq.fill(0, r * qs, r * qs + H * hd);
      dk.fill(0, r * ks, r * ks + KV * hd);
      dv.fill(0, r * ks, r * ks + KV * hd);
    }
    const ds = new Float64Array(T);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / KV));
        for (let i = 0; i < T; i++) {
          const o = ((b * H + h) * T + i) * T;
          const lo = window > 0 ? Math.max(0, i - window + 1) : 0;
          const qi = (b * T + i) * qs + h * hd;
          const yi = (b * T + i) * ys + h * hd;
          let rowDot = 0;
          for (let j = lo; j <= i; j++) {
            let dp = 0;
            for (let e = 0; e < hd; e++) dp += dy[yi + e] * v[(b * T + j) * ks + g * hd + e];
            ds[j] = dp;
            rowDot += dp * probs[o + j];
          }
          for (let j = lo; j <= i; j++) {
            const dc = probs[o + j] * (ds[j] - rowDot);
            const dsj = cap > 0 ? dc * (1 - (scores[o + j] / cap) ** 2) : dc;
            const kj = (b * T + j) * ks + g * hd;
            for (let e = 0; e < hd; e++) {
              dq[qi + e] += alpha * dsj * k[kj + e];
              dk[kj + e] += alpha * dsj * q[qi + e];
              dv[kj + e] += probs[o + j] * dy[yi + e];
            }
          }
        }
      }
  }
}
