/**
 * `msae bench kernels`: fp32 GEMM throughput against the machine's measured FMA peak and PyTorch.
 *
 *   GFLOP/s = 2 m n k / seconds (best of `reps` timed calls after one warm-up call)
 *   % of peak = 100 * GFLOP/s / fmaPeak (independent FMA chains, widest vector ISA, all threads)
 *
 * For each layout NN, NT, TN (C[m, n] = op(A) op(B)) it times msae's default GEMM (BLAS when the
 * addon has one), the project's own packed GEMM, and PyTorch CPU on the same shapes in the same
 * run (bench/torch_gemm.py, same thread count). OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are reported,
 * never changed for msae. The peer runs at its best (DESIGN.md s.6, bench/openblas-core.ts): as
 * installed and, when it differs, with the widest OpenBLAS core that passes (OPENBLAS_CORETYPE set
 * in its child only); torch_gflops and msae/torch are the faster run's (torch_core names it).
 */
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpuInfo, fmaPeak, type GemmImpl, gemmInfo, setGemmImpl, sgemm } from "../src/core/native-gemm.ts";
import { choosePeerCores, peerEnv } from "./openblas-core.ts";

export const LAYOUTS = ["NN", "NT", "TN"] as const;
export type Layout = (typeof LAYOUTS)[number];

export interface KernelBenchOptions {
  reps: number;
  size: [number, number, number]; // m, n, k
  /** Run the PyTorch peer (default true). */
  torch?: boolean;
  /** Seconds spent measuring the FMA peak (default 0.5). */
  peakSeconds?: number;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

export interface GemmRow {
  layout: Layout;
  m: number;
  n: number;
  k: number;
  /** msae's default GEMM (impl `impl`). */
  gflops: number;
  pct_peak: number;
  /** The peer at its best: the faster of torch_gflops_installed and torch_gflops_widest (torch_core). */
  torch_gflops: number | null;
  torch_core: string | null;
  torch_gflops_installed: number | null;
  torch_gflops_widest: number | null;
  own_gflops: number;
  own_pct_peak: number;
  /** The CBLAS's GFLOP/s (null when the build has none). */
  blas_gflops: number | null;
  /** gflops / torch_gflops, null without torch. */
  ratio_torch: number | null;
}

export interface KernelBenchResult {
  peak_gflops: number;
  blas: string;
  gemm: GemmRow[];
  impl: GemmImpl;
  isa: string;
  threads: number;
  cpu: string;
  corename: string | null;
  own_kernel: string;
  openblas_coretype: string | null;
  openblas_l2_size: string | null;
  torch: {
    version: string;
    python: string;
    threads: number;
    blas: string | null;
    /** OpenBLAS core as installed and the widest that passes (bench/openblas-core.ts; null: none other). */
    core_installed: string | null;
    core_widest: string | null;
    rejected_cores: string[];
  } | null;
  /** Why the PyTorch column is empty (null when it ran). */
  torch_skipped: string | null;
  /** The FMA peak measured before and after the GEMMs (peak_gflops is the higher). */
  peak_samples: [number, number];
  /** Set when the two peak samples disagree by more than 15% (another process was running). */
  busy_warning: string | null;
}

const benchDir = dirname(fileURLToPath(import.meta.url));

/** Uniform values in [-1, 1) (a fast LCG; the values do not affect the timing). */
function randomArray(len: number, seed: number): Float32Array {
  const out = new Float32Array(len);
  let s = seed >>> 0;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

/** Best GFLOP/s of `reps` timed sgemm calls after one warm-up, with the current implementation. */
function timeGemm(layout: Layout, m: number, n: number, k: number, reps: number, bufs: Float32Array[]): number {
  const [a, b, c] = bufs; // a [m, k] or [k, m]; b [k, n] or [n, k]; c [m, n]
  const ta = layout[0] === "T";
  const tb = layout[1] === "T";
  const lda = ta ? m : k;
  const ldb = tb ? k : n;
  const run = () => sgemm(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, c, n);
  run();
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    run();
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (dt < best) best = dt;
  }
  return (2 * m * n * k) / Math.max(best, 1e-9) / 1e9;
}

interface TorchRun {
  version: string;
  python: string;
  threads: number;
  blas: string | null;
  gflops: Map<Layout, number>;
}

/** Runs bench/torch_gemm.py with /usr/bin/python3, else `python3`; a reason string when neither has torch. */
function runTorch(
  size: [number, number, number],
  reps: number,
  threads: number,
  core: string | null = null,
  pythons: readonly string[] = ["/usr/bin/python3", "python3"],
): TorchRun | string {
  const script = join(benchDir, "torch_gemm.py");
  const [m, n, k] = size;
  const args = [script, "--threads", String(threads), "--reps", String(reps), "--warmup", "1"];
  for (const layout of LAYOUTS) args.push("--shape", `${layout}:${m},${n},${k}`);
  const env = peerEnv(core, threads);
  const reasons: string[] = [];
  for (const python of pythons) {
    let stdout: string;
    try {
      stdout = execFileSync(python, args, {
        env,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 600_000,
      });
    } catch (e) {
      const err = e as { code?: string; status?: number; stdout?: string; stderr?: string; message: string };
      if (err.code === "ENOENT") reasons.push(`${python} not found`);
      else if (err.status === 3) reasons.push(`${python}: ${lastLine(err.stdout) || "cannot import torch"}`);
      else reasons.push(`${python} failed: ${lastLine(err.stderr) || err.message.split("\n")[0]}`);
      continue;
    }
    const parsed = JSON.parse(lastLine(stdout)) as {
      torch: string;
      threads: number;
      blas: string | null;
      results: { layout: Layout; gflops: number }[];
    };
    const gflops = new Map(parsed.results.map((r) => [r.layout, r.gflops] as const));
    return { version: parsed.torch, python, threads: parsed.threads, blas: parsed.blas, gflops };
  }
  return reasons.join("; ");
}

function lastLine(text: string | undefined): string {
  const lines = (text ?? "").trim().split("\n");
  const last = lines[lines.length - 1] ?? "";
  try {
    const obj = JSON.parse(last) as { error?: string };
    if (typeof obj.error === "string") return obj.error;
  } catch {}
  return last;
}

export async function runKernelBench(opts: KernelBenchOptions): Promise<KernelBenchResult> {
  const log = opts.log ?? (() => {});
  const [m, n, k] = opts.size;
  const cpu = cpuInfo();
  const info = gemmInfo();
  const defaultImpl = info.impl;
  const impls: GemmImpl[] = info.blas === "none" ? ["own"] : ["blas", "own"];
  // The peak is measured before and after the GEMMs (half the time each) and the higher one kept:
  // a transient load from another process then shows up as disagreeing samples, not a wrong peak.
  const peakSeconds = (opts.peakSeconds ?? 0.5) / 2;
  log(`measuring the FMA peak (${cpu.isa}, ${cpu.threads} threads)`);
  const peakBefore = fmaPeak(peakSeconds);
  const bufs = [randomArray(m * k, 1), randomArray(k * n, 2), new Float32Array(m * n)];
  const rows: GemmRow[] = [];
  try {
    for (const layout of LAYOUTS) {
      log(`timing ${layout} ${m}x${n}x${k}: ${impls.join(" and ")} GEMM, ${opts.reps} reps (default ${defaultImpl})`);
      const measured = new Map<GemmImpl, number>();
      for (const impl of impls) {
        setGemmImpl(impl);
        measured.set(impl, timeGemm(layout, m, n, k, opts.reps, bufs));
      }
      setGemmImpl(defaultImpl);
      const gflops = measured.get(defaultImpl)!;
      const own = measured.get("own")!;
      rows.push({
        layout,
        m,
        n,
        k,
        gflops,
        pct_peak: 0, // set once the peak is known
        torch_gflops: null,
        torch_core: null,
        torch_gflops_installed: null,
        torch_gflops_widest: null,
        own_gflops: own,
        own_pct_peak: 0,
        blas_gflops: measured.get("blas") ?? null,
        ratio_torch: null,
      });
    }
  } finally {
    setGemmImpl(defaultImpl);
  }
  const peakAfter = fmaPeak(peakSeconds);
  const peak = peakAfter.gflops > peakBefore.gflops ? peakAfter : peakBefore;
  for (const row of rows) {
    row.pct_peak = (100 * row.gflops) / peak.gflops;
    row.own_pct_peak = (100 * row.own_gflops) / peak.gflops;
  }
  const lo = Math.min(peakBefore.gflops, peakAfter.gflops);
  const busy =
    lo < 0.85 * peak.gflops
      ? `the machine was busy: the FMA peak measured ${peakBefore.gflops.toFixed(1)} before and ${peakAfter.gflops.toFixed(1)} GFLOP/s after the GEMMs; figures from this run are unreliable`
      : null;
  let torch: KernelBenchResult["torch"] = null;
  let torchSkipped: string | null = null;
  if (opts.torch === false) {
    torchSkipped = "disabled (--no-torch)";
  } else {
    log(`timing PyTorch on the same shapes (${cpu.threads} threads)`);
    const t = runTorch(opts.size, opts.reps, cpu.threads);
    if (typeof t === "string") {
      torchSkipped = t;
    } else {
      // the peer at its best (DESIGN.md s.6): also with the widest OpenBLAS core that passes
      const cores = choosePeerCores(t.python);
      for (const r of cores.rejected) log(r);
      const other = cores.widest !== null && cores.widest.toLowerCase() !== (cores.installed ?? "").toLowerCase();
      let wide: TorchRun | string | null = null;
      if (other) {
        log(`timing PyTorch again with OPENBLAS_CORETYPE=${cores.widest} (as installed: ${cores.installed ?? "?"})`);
        wide = runTorch(opts.size, opts.reps, cpu.threads, cores.widest, [t.python]);
        if (typeof wide === "string") log(`PyTorch with OpenBLAS core ${cores.widest} failed: ${wide}`);
      }
      torch = {
        version: t.version,
        python: t.python,
        threads: t.threads,
        blas: t.blas,
        core_installed: cores.installed,
        core_widest: other ? cores.widest : null,
        rejected_cores: cores.rejected,
      };
      for (const row of rows) {
        const gi = t.gflops.get(row.layout) ?? null;
        const gw = wide && typeof wide !== "string" ? (wide.gflops.get(row.layout) ?? null) : null;
        row.torch_gflops_installed = gi;
        row.torch_gflops_widest = gw;
        const useWide = gw !== null && (gi === null || gw > gi);
        const g = useWide ? gw : gi;
        row.torch_gflops = g;
        row.torch_core = g === null ? null : useWide ? cores.widest : (cores.installed ?? "installed");
        row.ratio_torch = g ? row.gflops / g : null;
      }
    }
  }
  return {
    peak_gflops: peak.gflops,
    blas: info.blas,
    gemm: rows,
    impl: defaultImpl,
    isa: peak.isa,
    threads: peak.threads,
    cpu: cpu.model,
    corename: info.corename,
    own_kernel: info.ownKernel,
    openblas_coretype: process.env.OPENBLAS_CORETYPE ?? null,
    openblas_l2_size: process.env.OPENBLAS_L2_SIZE ?? null,
    torch,
    torch_skipped: torchSkipped,
    peak_samples: [peakBefore.gflops, peakAfter.gflops],
    busy_warning: busy,
  };
}

// OpenBLAS core names whose sgemm kernels are AVX2 or narrower.
const NARROW_CORES =
  /^(haswell|zen|sandybridge|nehalem|core2|penryn|dunnington|atom|prescott|barcelona|bulldozer|piledriver|steamroller|excavator)$/i;

const fmt = (x: number | null, digits = 1) => (x === null ? "-" : x.toFixed(digits));

/** The human-readable report: machine, peak, BLAS, then one row per layout. */
export function formatKernelTable(r: KernelBenchResult): string {
  const env = [
    r.openblas_coretype !== null ? `OPENBLAS_CORETYPE=${r.openblas_coretype}` : "",
    r.openblas_l2_size !== null ? `OPENBLAS_L2_SIZE=${r.openblas_l2_size}` : "",
  ].filter(Boolean);
  const lines = [
    `machine    ${r.cpu}, ${r.isa}, ${r.threads} threads`,
    `FMA peak   ${fmt(r.peak_gflops)} GFLOP/s (fp32, ${r.isa}, ${r.threads} threads)`,
    `BLAS       ${r.blas}${r.corename ? `, OpenBLAS core ${r.corename}` : ""}${env.length ? ` (${env.join(", ")})` : ""}; msae uses "${r.impl}"`,
    `own GEMM   ${r.own_kernel}`,
    r.torch
      ? `PyTorch    ${r.torch.version} (${r.torch.python}, ${r.torch.threads} threads, BLAS ${r.torch.blas ?? "?"}, ` +
        `OpenBLAS core as installed ${r.torch.core_installed ?? "?"}, widest ${r.torch.core_widest ?? "the same"})`
      : `PyTorch    column skipped: ${r.torch_skipped}`,
  ];
  if (r.isa === "avx512" && r.corename && NARROW_CORES.test(r.corename)) {
    lines.push(
      `note       OpenBLAS core ${r.corename} runs AVX2 (or narrower) kernels on this AVX-512 CPU: BLAS is capped near half the peak`,
    );
  }
  if (r.busy_warning) lines.push(`warning    ${r.busy_warning}`);
  const header = [
    "layout",
    "m",
    "n",
    "k",
    "msae GFLOP/s",
    "% peak",
    "blas GFLOP/s",
    "own GFLOP/s",
    "own % peak",
    "torch inst",
    "torch widest",
    "msae/torch",
    "vs core",
  ];
  const body = r.gemm.map((g) => [
    g.layout,
    String(g.m),
    String(g.n),
    String(g.k),
    fmt(g.gflops),
    fmt(g.pct_peak),
    fmt(g.blas_gflops),
    fmt(g.own_gflops),
    fmt(g.own_pct_peak),
    fmt(g.torch_gflops_installed),
    fmt(g.torch_gflops_widest),
    fmt(g.ratio_torch, 2),
    g.torch_core ?? "-",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  lines.push("", line(header), ...body.map(line));
  return `${lines.join("\n")}\n`;
}
