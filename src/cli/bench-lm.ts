/**
 * `msae bench lm [--json]`: forward tokens/s of msae's Gemma-2 runtime next to a PyTorch CPU
 * forward of the same weights (bench/lm.ts, bench/torch_lm.py), on a gemma-2-2b-shaped 2-layer
 * stack with random weights and on the default model (models/tiny-gemma2) when it exists.
 * The peer runs as installed and with the widest OpenBLAS core that passes; the ratio is against
 * the faster (torch_core). Prints a table (or JSON: {"cases": [{name, msae_tok_s, torch_tok_s,
 * ratio, torch_core, torch_tok_s_installed, torch_tok_s_widest, ...}], ...}).
 */
import type { Command } from "commander";
import { DEFAULT_LM_BENCH, type LmBenchCase, type LmBenchResult, runLmBench } from "../../bench/lm.ts";
import { getBackend } from "../core/backends/index.ts";
import { PRECISIONS, type Precision } from "../lm/precision.ts";
import { badOption, parseIntOption, UsageError } from "./errors.ts";

interface BenchLmOpts {
  json?: boolean;
  batch: string;
  seq: string;
  reps: string;
  warmup: string;
  torch: boolean;
  python: string;
  model: string;
  headVocab?: string;
  profile?: boolean;
  gemm?: string;
  precision: string;
}

export function registerBenchLm(bench: Command): void {
  bench
    .command("lm")
    .description("forward tokens/s of the LM runtime vs a PyTorch CPU forward of the same weights")
    .option("--json", "print the results as JSON")
    .option("--batch <n>", "sequences per forward", `${DEFAULT_LM_BENCH.batch}`)
    .option("--seq <n>", "tokens per sequence (capped at the model's context)", `${DEFAULT_LM_BENCH.seq}`)
    .option("--reps <n>", "timed forwards per side (the best counts)", `${DEFAULT_LM_BENCH.reps}`)
    .option("--warmup <n>", "untimed forwards first", `${DEFAULT_LM_BENCH.warmup}`)
    .option("--no-torch", "skip the PyTorch column")
    .option("--python <path>", "Python with torch for the peer", DEFAULT_LM_BENCH.python)
    .option("--model <dir>", "the default-model case's folder", DEFAULT_LM_BENCH.modelDir)
    .option("--head-vocab <n>", "add the tied logits head over an n-token vocabulary to the 2b-shaped case")
    .option("--profile", "time each msae kernel and each torch stage in one extra forward")
    .option("--gemm <impl>", "msae's GEMM: blas (CBLAS) or own (the project's packed GEMM); default: the addon's")
    .option("--precision <p>", "msae's forward: f32, or bf16 (bf16 weights and GEMMs; the peer stays fp32)", "f32")
    .action(async (opts: BenchLmOpts) => {
      const backend = getBackend();
      if (backend.name !== "native")
        throw new UsageError("msae bench lm needs the native backend (the addon is not built or MSAE_BACKEND=ref)");
      if (opts.gemm !== undefined && opts.gemm !== "blas" && opts.gemm !== "own")
        throw badOption("--gemm", opts.gemm, '"blas" or "own"');
      if (!(PRECISIONS as readonly string[]).includes(opts.precision))
        throw badOption("--precision", opts.precision, PRECISIONS.join(" or "));
      const log = (line: string) => process.stderr.write(`msae bench lm: ${line}\n`);
      const result = await runLmBench({
        batch: parseIntOption("--batch", opts.batch, 1, 4096),
        seq: parseIntOption("--seq", opts.seq, 1, 1 << 16),
        reps: parseIntOption("--reps", opts.reps, 1, 1000),
        warmup: parseIntOption("--warmup", opts.warmup, 0, 1000),
        torch: opts.torch,
        python: opts.python,
        modelDir: opts.model,
        headVocab: opts.headVocab === undefined ? null : parseIntOption("--head-vocab", opts.headVocab, 1, 1 << 22),
        profile: opts.profile ?? false,
        gemm: (opts.gemm as "blas" | "own" | undefined) ?? null,
        precision: opts.precision as Precision,
        backend,
        log: opts.json ? () => {} : log,
      });
      if (opts.json) {
        for (const s of result.skipped) log(s);
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } else {
        process.stdout.write(formatLmBench(result));
      }
    });
}

const num = (x: number | null, digits: number) => (x === null ? "-" : x.toFixed(digits));

/** The human-readable table (and profiles) of a result. */
export function formatLmBench(r: LmBenchResult): string {
  const lines: string[] = [];
  const core = (c: string | null) => c ?? "?";
  lines.push(
    `msae bench lm: ${r.threads} threads, backend ${r.backend}, precision ${r.precision}${r.bf16_kernel ? ` (bf16 kernel ${r.bf16_kernel})` : ""}, BLAS ${r.blas.msae} (core ${core(r.blas.msae_core)}; GEMM ${r.blas.msae_gemm}; ` +
      `torch's core ${core(r.blas.torch_core)}; OPENBLAS_CORETYPE=${r.blas.openblas_coretype ?? "unset"}), ` +
      `torch ${r.torch ?? "-"}`,
  );
  const head = [
    "case",
    "tokens",
    "msae tok/s",
    "torch inst",
    "torch widest",
    "ratio",
    "vs core",
    "GFLOP/fwd",
    "msae GFLOP/s",
    "GEMM FLOPs",
    "max|diff|",
  ];
  const rows = r.cases.map((c: LmBenchCase) => [
    c.name,
    `${c.batch}x${c.seq}`,
    num(c.msae_tok_s, 0),
    num(c.torch_tok_s_installed, 0),
    num(c.torch_tok_s_widest, 0),
    c.ratio === null ? "-" : `${c.ratio.toFixed(2)}x`,
    c.torch_core ?? "-",
    num(c.gflop_per_forward, 1),
    num(c.msae_gflop_s, 1),
    `${(100 * c.gemm_flop_share).toFixed(2)}%`,
    c.max_abs_diff === null ? "-" : c.max_abs_diff.toExponential(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) => row.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
  lines.push(fmt(head), ...rows.map(fmt));
  for (const c of r.cases) lines.push(`  ${c.name}: ${c.scope}`);
  for (const s of r.skipped) lines.push(s);
  for (const c of r.cases) {
    if (!c.profile) continue;
    lines.push(`profile of one msae forward, ${c.name} (kernel, calls, ms, GFLOP/s):`);
    for (const k of c.profile.msae) {
      const gf = k.flops > 0 ? `  ${(k.flops / 1e9 / k.seconds).toFixed(1)}` : "";
      lines.push(
        `  ${k.kernel.padEnd(24)} ${String(k.calls).padStart(5)} ${(k.seconds * 1e3).toFixed(1).padStart(9)}${gf}`,
      );
    }
    const stages = c.profile.torch_stages_s;
    if (stages) {
      lines.push(`profile of one torch forward, ${c.name} (stage, ms):`);
      for (const [k, v] of Object.entries(stages).sort((a, b) => b[1] - a[1]))
        lines.push(`  ${k.padEnd(24)} ${(v * 1e3).toFixed(1).padStart(15)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
