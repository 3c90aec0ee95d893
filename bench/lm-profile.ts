/**
 * Where a Gemma-2 forward spends its work, for `msae bench lm`:
 *
 * - gemma2Flops: FLOPs of one forward by class. GEMM: 2 m n k per product (q, k, v, o, gate, up,
 *   down, the 2 B H per-head attention products S = Q K^T and Y = P V over the full [T, T], and the
 *   head when present). Everything else is an estimate per element (RMSNorm ~4, RoPE ~3, soft-cap ~3
 *   and softmax ~5 per score, GELU(tanh) ~10 + the GeGLU product 1, residual adds 1, head soft-cap 3).
 * - ProfilingBackend: a Backend that forwards every kernel and, while `enabled`, adds its wall time
 *   to a per-kernel table (GEMMs keyed by their m x n x k, with 2 m n k FLOPs each; the fused
 *   attention kernels with the FLOPs of the per-head products they replace, fusedAttentionFlops).
 */
import type { Backend } from "../src/core/backend.ts";

export interface ForwardShape {
  batch: number;
  seq: number;
  layers: number;
  d: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
  /** Vocabulary of the logits head, 0 when the forward stops at the final norm. */
  headVocab: number;
}

export interface FlopCount {
  gemm: number;
  other: number;
  /** gemm / (gemm + other). */
  gemmShare: number;
}

export function gemma2Flops(s: ForwardShape): FlopCount {
  const rows = s.batch * s.seq;
  const qDim = s.heads * s.headDim;
  const kvDim = s.kvHeads * s.headDim;
  const scores = s.batch * s.heads * s.seq * s.seq;
  const perLayerGemm =
    2 * rows * s.d * (qDim + 2 * kvDim) + // q, k, v
    2 * rows * qDim * s.d + // o
    3 * 2 * rows * s.d * s.ffn + // gate, up, down
    2 * 2 * scores * s.headDim; // Q K^T and P V
  const perLayerOther =
    4 * 4 * rows * s.d + // four RMSNorms
    3 * rows * (qDim + kvDim) + // RoPE
    8 * scores + // soft-cap + softmax
    11 * rows * s.ffn + // GELU and the GeGLU product
    2 * rows * s.d; // two residual adds
  const gemm = s.layers * perLayerGemm + 2 * rows * s.d * s.headVocab;
  const other = s.layers * perLayerOther + 2 * rows * s.d + 4 * rows * s.d + 3 * rows * s.headVocab;
  return { gemm, other, gemmShare: gemm / (gemm + other) };
}

/**
 * The FLOPs of the per-head products a fused attention kernel replaces, counted as gemma2Flops
 * counts them (full [T, T] scores): forward Q K^T and P V, 2 * 2 B H T^2 hd; backward dP, dQ, dK,
 * dV, 4 * 2 B H T^2 hd. (The kernels compute only the causal band, about half of that.)
 */
export function fusedAttentionFlops(name: string, args: unknown[]): number {
  const [B, T, H, , hd] = args.slice(3, 8) as number[];
  return (name === "attentionForwardFused" ? 2 : 4) * 2 * B * H * T * T * hd;
}

export interface KernelStat {
  /** "gemm 3072x2048x2304" or the Backend method name. */
  kernel: string;
  calls: number;
  seconds: number;
  /** GEMM FLOPs (2 m n k per call), 0 for other kernels. */
  flops: number;
}

/** A Backend wrapper timing every kernel call while `enabled` (see the file header). */
export class ProfilingBackend {
  enabled = false;
  private readonly stats = new Map<string, KernelStat>();
  readonly backend: Backend;

  constructor(inner: Backend) {
    const wrapped = new Map<PropertyKey, unknown>();
    const record = (kernel: string, seconds: number, flops: number) => {
      let s = this.stats.get(kernel);
      if (!s) this.stats.set(kernel, (s = { kernel, calls: 0, seconds: 0, flops: 0 }));
      s.calls++;
      s.seconds += seconds;
      s.flops += flops;
    };
    this.backend = new Proxy(inner, {
      get: (target, prop) => {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        let w = wrapped.get(prop);
        if (!w) {
          const name = String(prop);
          w = (...args: unknown[]) => {
            if (!this.enabled) return value.apply(target, args);
            const t0 = performance.now();
            const r = value.apply(target, args);
            const seconds = (performance.now() - t0) / 1000;
            if (name === "gemm") {
              const [m, n, k] = args.slice(2, 5) as number[];
              record(`gemm ${m}x${n}x${k}`, seconds, 2 * m * n * k);
            } else if (name === "gemmBf16") {
              const m = args[1] as number;
              const { n, k } = args[2] as { n: number; k: number };
              record(`gemmBf16 ${m}x${n}x${k}`, seconds, 2 * m * n * k);
            } else if (name === "attentionForwardFused" || name === "attentionBackwardFused") {
              record(name, seconds, fusedAttentionFlops(name, args));
            } else {
              record(name, seconds, 0);
            }
            return r;
          };
          wrapped.set(prop, w);
        }
        return w;
      },
    });
  }

  /** The table, slowest kernel first. */
  table(): KernelStat[] {
    return [...this.stats.values()].sort((a, b) => b.seconds - a.seconds);
  }

  reset(): void {
    this.stats.clear();
  }
}
