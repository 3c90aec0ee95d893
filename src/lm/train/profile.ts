/**
 * Kernel profile of a run: wraps a Backend so that every kernel call is timed (wall clock,
 * performance.now around the call) and counted; gemm calls also sum their flops 2 m n k.
 * `msae lm train --profile` prints the table at the end: where the time of a training step goes
 * (share of GEMM versus everything else, including the TypeScript between kernels).
 */
import type { Backend } from "../../core/backend.ts";

export interface KernelStat {
  calls: number;
  seconds: number;
  flops: number;
}

export class KernelProfile {
  readonly stats = new Map<string, KernelStat>();
  /** Calls are recorded only while enabled (the trainer enables it around training steps). */
  enabled = true;

  record(name: string, seconds: number, flops: number): void {
    if (!this.enabled) return;
    const s = this.stats.get(name) ?? { calls: 0, seconds: 0, flops: 0 };
    s.calls++;
    s.seconds += seconds;
    s.flops += flops;
    this.stats.set(name, s);
  }

  /** gemm calls by transposes and m x n x k (not counted again in kernelSeconds). */
  readonly gemmShapes = new Map<string, KernelStat>();

  recordShape(shape: string, seconds: number, flops: number): void {
    if (!this.enabled) return;
    const s = this.gemmShapes.get(shape) ?? { calls: 0, seconds: 0, flops: 0 };
    s.calls++;
    s.seconds += seconds;
    s.flops += flops;
    this.gemmShapes.set(shape, s);
  }

  /** Seconds inside kernels. */
  kernelSeconds(): number {
    let t = 0;
    for (const s of this.stats.values()) t += s.seconds;
    return t;
  }

  /** Table lines, slowest kernel first; shares are of `wallSeconds`. */
  table(wallSeconds: number): string[] {
    const rows = [...this.stats.entries()].sort((a, b) => b[1].seconds - a[1].seconds);
    const lines = [`kernel               calls      seconds   share   GFLOP/s`];
    for (const [name, s] of rows) {
      const gf = s.flops > 0 ? (s.flops / s.seconds / 1e9).toFixed(1) : "";
      lines.push(
        `${name.padEnd(18)} ${String(s.calls).padStart(8)} ${s.seconds.toFixed(3).padStart(12)} ${((100 * s.seconds) / wallSeconds).toFixed(1).padStart(6)}%   ${gf}`,
      );
    }
    const shapes = [...this.gemmShapes.entries()].sort((a, b) => b[1].seconds - a[1].seconds).slice(0, 12);
    if (shapes.length) lines.push("gemm by shape (op(A) op(B), m x n x k), slowest first:");
    for (const [shape, s] of shapes)
      lines.push(
        `  ${shape.padEnd(20)} ${String(s.calls).padStart(8)} ${s.seconds.toFixed(3).padStart(10)} ${((100 * s.seconds) / wallSeconds).toFixed(1).padStart(6)}%   ${(s.flops / s.seconds / 1e9).toFixed(1)}`,
      );
    const k = this.kernelSeconds();
    lines.push(
      `outside kernels             ${(wallSeconds - k).toFixed(3).padStart(12)} ${((100 * (wallSeconds - k)) / wallSeconds).toFixed(1).padStart(6)}%`,
    );
    return lines;
  }
}

/** A Backend whose every method call is timed into `profile`. */
export function profiledBackend(be: Backend, profile: KernelProfile): Backend {
  return new Proxy(be, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      const name = String(prop);
      return (...args: unknown[]) => {
        const t0 = performance.now();
        const out = v.apply(target, args);
        const dt = (performance.now() - t0) / 1000;
        if (name === "gemm") {
          const [ta, tb, m, n, k] = args as [boolean, boolean, number, number, number];
          const flops = 2 * m * n * k;
          profile.record(name, dt, flops);
          profile.recordShape(`${ta ? "T" : "N"}${tb ? "T" : "N"} ${m}x${n}x${k}`, dt, flops);
        } else if (name === "attentionForwardFused" || name === "attentionBackwardFused") {
          // the FLOPs of the per-head products the kernel replaces (full T x T; it computes the causal band)
          const [B, T, H, , hd] = args.slice(3, 8) as number[];
          profile.record(name, dt, (name === "attentionForwardFused" ? 2 : 4) * 2 * B * H * T * T * hd);
        } else profile.record(name, dt, 0);
        return out;
      };
    },
  });
}
