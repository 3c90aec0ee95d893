/**
 * `msae bench sae`: train-step tokens/s of every SAE architecture, msae next to a PyTorch CPU
 * peer (bench/torch_sae.py) doing the same step (bench/sae-step.ts) on the same inputs
 * (bench/sae-inputs.ts, written once per case and read by both), in one run:
 *
 *   tokens/s = batch * steps / (wall time of `steps` timed steps after `warmup` untimed ones),
 *              best of `reps`; per rep the sides alternate: msae, torch as installed, torch with
 *              the widest OpenBLAS core that passes (bench/openblas-core.ts), each from a fresh
 *              module/optimizer built from the case's inputs; torch stays warm (--serve).
 *   torch_tok_s = the faster of the two torch runs (torch_core names it); ratio = msae / that.
 *   loss_max_abs_diff = max over the loss parts (recon, sparsity, ortho, aux, total) of
 *              |msae - torch| on the first step (the untouched inputs): both did the same work.
 *   profile: one extra msae step timed per backend kernel: GEMM seconds vs the rest of the step.
 *
 * Cases: every architecture at the paper's shape d = m = 2304, batch 2048 (k 32 for the TopK
 * family), and topk, batchtopk, matryoshka at d 512, m 16384, k 32, batch 4096.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend } from "../src/core/backend.ts";
import { fmaPeak } from "../src/core/native-gemm.ts";
import { TOPK_FAMILY } from "../src/sae/registry.ts";
import { SAE_ARCHS, type SaeArch } from "../src/sae/types.ts";
import { addonFacts } from "./lm.ts";
import { ProfilingBackend } from "./lm-profile.ts";
import { probeTorch } from "./lm-torch.ts";
import { choosePeerCores } from "./openblas-core.ts";
import { makeSaeBenchInputs, writeSaeBenchInputs } from "./sae-inputs.ts";
import { benchHyper, MsaeBenchStep } from "./sae-step.ts";
import { TorchSaePeer, type TorchSaeRow } from "./sae-torch.ts";

export interface SaeBenchCaseSpec {
  arch: SaeArch;
  d: number;
  m: number;
  batch: number;
  k: number;
}

export type SaeBenchShape = "paper" | "wide" | "all";

/** The cases (file header), paper shape first, in SAE_ARCHS order, filtered by archs. */
export function saeBenchCases(archs: readonly SaeArch[], shape: SaeBenchShape): SaeBenchCaseSpec[] {
  const out: SaeBenchCaseSpec[] = [];
  const list = SAE_ARCHS.filter((a) => archs.includes(a));
  if (shape !== "wide") for (const arch of list) out.push({ arch, d: 2304, m: 2304, batch: 2048, k: 32 });
  if (shape !== "paper")
    for (const arch of list) if (TOPK_FAMILY.includes(arch)) out.push({ arch, d: 512, m: 16384, batch: 4096, k: 32 });
  return out;
}

export const caseName = (c: SaeBenchCaseSpec) => `${c.arch}/d${c.d}/m${c.m}/b${c.batch}`;

export interface SaeBenchOptions {
  archs: readonly SaeArch[];
  shape: SaeBenchShape;
  steps: number;
  warmup: number;
  reps: number;
  torch: boolean;
  python: string;
  seed: number;
  backend: Backend;
  log: (line: string) => void;
}

export const DEFAULT_SAE_BENCH = {
  shape: "all" as SaeBenchShape,
  steps: 2,
  warmup: 1,
  reps: 2,
  python: "/usr/bin/python3",
  seed: 1234,
};

const PARTS = ["recon", "sparsity", "ortho", "aux", "total"] as const;

export interface SaeBenchCase {
  name: string;
  arch: SaeArch;
  d: number;
  m: number;
  batch: number;
  k: number | null;
  msae_tok_s: number;
  torch_tok_s: number | null;
  ratio: number | null;
  /** The OpenBLAS core of the faster torch run. */
  torch_core: string | null;
  torch_tok_s_installed: number | null;
  torch_tok_s_widest: number | null;
  torch_core_installed: string | null;
  torch_core_widest: string | null;
  msae_l0_frac: number;
  torch_l0_frac: number | null;
  /** max over the loss parts of |msae - torch| on the first step, and that over |torch total|. */
  loss_max_abs_diff: number | null;
  loss_rel_diff: number | null;
  msae_first_loss: Record<string, number>;
  torch_first_loss: Record<string, number> | null;
  /** Seconds per step of each rep (msae), best first not assumed. */
  msae_step_s: number[];
  torch_step_s_installed: number[] | null;
  torch_step_s_widest: number[] | null;
  /** Process CPU time / (wall * threads) of the torch runs (well below 1: the machine was busy). */
  torch_cpu_util: number[] | null;
  /** The same for msae's timed runs (process.cpuUsage, every thread of this process). */
  msae_cpu_util: number[];
  /**
   * One extra msae step timed per kernel: GEMM seconds and GFLOP (2 m n k per call), their rate,
   * and gemm_gflop / fma_peak_gflops (the seconds the step's GEMMs alone take at the FMA peak).
   */
  profile: {
    step_s: number;
    gemm_s: number;
    other_s: number;
    gemm_share: number;
    gemm_gflop: number;
    gemm_gflops: number;
    gemm_s_at_peak: number;
    kernels: string[];
  };
}

export interface SaeBenchResult {
  cases: SaeBenchCase[];
  threads: number;
  backend: string;
  /** fp32 FMA peak of this machine on all threads (native loop, widest ISA), measured at the start. */
  fma_peak_gflops: number;
  blas: {
    msae: string;
    msae_gemm: string;
    msae_core: string | null;
    torch_core_installed: string | null;
    torch_core_widest: string | null;
    rejected_cores: string[];
    openblas_coretype: string | null;
  };
  torch: string | null;
  steps: number;
  warmup: number;
  reps: number;
  load_average_before: number[];
  load_average_after: number[];
  skipped: string[];
}

function msaeRun(spec: SaeBenchCaseSpec, step: () => MsaeBenchStep, steps: number, warmup: number) {
  const s = step();
  let first: Record<string, number> | null = null;
  for (let i = 0; i < warmup; i++) {
    const p = s.step();
    first ??= { ...p };
  }
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let last = null;
  for (let i = 0; i < steps; i++) {
    last = s.step();
    first ??= { ...last };
  }
  const dt = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  return {
    stepS: dt / steps,
    cpuS: (cpu.user + cpu.system) / 1e6,
    wallS: dt,
    first: first!,
    l0: last!.l0,
    module: s,
    spec,
  };
}

export async function runSaeBench(opts: SaeBenchOptions): Promise<SaeBenchResult> {
  const facts = addonFacts(null);
  const threads = opts.backend.name === "native" ? facts.threads : 1;
  const skipped: string[] = [];
  const loadBefore = loadavg();
  const peakGflops = opts.backend.name === "native" ? fmaPeak(0.5).gflops : 0;
  const peers: { core: string | null; label: string | null; peer: TorchSaePeer }[] = [];
  let torchVersion: string | null = null;
  let rejected: string[] = [];
  if (opts.torch) {
    const probe = probeTorch(opts.python);
    if (probe.version === null) skipped.push(`torch column skipped: ${probe.reason}`);
    else {
      torchVersion = probe.version;
      const cores = choosePeerCores(opts.python);
      rejected = cores.rejected;
      for (const r of rejected) opts.log(r);
      peers.push({ core: null, label: cores.installed, peer: await TorchSaePeer.start(opts.python, threads, null) });
      if (cores.widest !== null && cores.widest.toLowerCase() !== (cores.installed ?? "").toLowerCase())
        peers.push({
          core: cores.widest,
          label: cores.widest,
          peer: await TorchSaePeer.start(opts.python, threads, cores.widest),
        });
      else skipped.push(`widest OpenBLAS core: ${cores.widest ?? "none passed"}, the installed one; one torch run`);
      opts.log(
        `torch ${torchVersion}: OpenBLAS core as installed ${cores.installed ?? "?"}, widest passing ${cores.widest ?? "none"}`,
      );
    }
  }
  const prof = new ProfilingBackend(opts.backend);
  const work = mkdtempSync(join(tmpdir(), "msae-bench-sae-"));
  const cases: SaeBenchCase[] = [];
  try {
    const specs = saeBenchCases(opts.archs, opts.shape);
    for (const [i, spec] of specs.entries()) {
      const name = caseName(spec);
      const inputs = makeSaeBenchInputs(spec.arch, spec.d, spec.m, spec.batch, opts.seed + i, opts.backend);
      const dir = join(work, `case${i}`);
      if (peers.length > 0) writeSaeBenchInputs(inputs, dir);
      const hyper = benchHyper(spec.arch, spec.d, spec.m, spec.k);
      const build = () => new MsaeBenchStep(inputs, hyper, prof.backend);
      const msae: ReturnType<typeof msaeRun>[] = [];
      const torch: TorchSaeRow[][] = peers.map(() => []);
      for (let r = 0; r < opts.reps; r++) {
        msae.push(msaeRun(spec, build, opts.steps, opts.warmup));
        for (const [j, p] of peers.entries())
          torch[j].push(await p.peer.run(spec.arch, spec.d, spec.m, spec.batch, spec.k, opts.steps, opts.warmup, dir));
      }
      // one more msae step, timed per kernel
      const last = msae[msae.length - 1].module;
      prof.reset();
      prof.enabled = true;
      const t0 = performance.now();
      last.step();
      const stepS = (performance.now() - t0) / 1000;
      prof.enabled = false;
      const table = prof.table();
      const gemms = table.filter((k) => k.kernel.startsWith("gemm"));
      const gemmS = gemms.reduce((s, k) => s + k.seconds, 0);
      const gemmGflop = gemms.reduce((s, k) => s + k.flops, 0) / 1e9;
      const row = buildRow(threads, spec, name, msae, torch, peers);
      row.profile = {
        step_s: stepS,
        gemm_s: gemmS,
        other_s: stepS - gemmS,
        gemm_share: gemmS / stepS,
        gemm_gflop: gemmGflop,
        gemm_gflops: gemmS > 0 ? gemmGflop / gemmS : 0,
        gemm_s_at_peak: peakGflops > 0 ? gemmGflop / peakGflops : 0,
        kernels: table.slice(0, 12).map((k) => `${k.kernel} x${k.calls} ${(k.seconds * 1e3).toFixed(1)} ms`),
      };
      cases.push(row);
      opts.log(formatCaseLine(row));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
    for (const p of peers) await p.peer.close();
  }
  const installed = peers.find((p) => p.core === null);
  const widest = peers.find((p) => p.core !== null);
  return {
    cases,
    threads,
    backend: opts.backend.name,
    fma_peak_gflops: peakGflops,
    blas: {
      msae: facts.blas,
      msae_gemm: facts.gemm,
      msae_core: facts.core,
      torch_core_installed: installed?.peer.ready?.openblas_core ?? null,
      torch_core_widest: widest?.peer.ready?.openblas_core ?? null,
      rejected_cores: rejected,
      openblas_coretype: process.env.OPENBLAS_CORETYPE ?? null,
    },
    torch: torchVersion,
    steps: opts.steps,
    warmup: opts.warmup,
    reps: opts.reps,
    load_average_before: loadBefore,
    load_average_after: loadavg(),
    skipped,
  };
}

function buildRow(
  threads: number,
  spec: SaeBenchCaseSpec,
  name: string,
  msae: ReturnType<typeof msaeRun>[],
  torch: TorchSaeRow[][],
  peers: { core: string | null; label: string | null; peer: TorchSaePeer }[],
): SaeBenchCase {
  const msaeBest = Math.min(...msae.map((r) => r.stepS));
  const tokS = (stepS: number) => spec.batch / stepS;
  const best = torch.map((rows) => (rows.length ? Math.min(...rows.map((r) => r.step_s)) : null));
  const iInst = peers.findIndex((p) => p.core === null);
  const iWide = peers.findIndex((p) => p.core !== null);
  const instS = iInst >= 0 ? best[iInst] : null;
  const wideS = iWide >= 0 ? best[iWide] : null;
  const faster = wideS !== null && (instS === null || wideS < instS) ? iWide : iInst;
  const torchS = faster >= 0 ? best[faster] : null;
  const mFirst = msae[0].first;
  const tFirst = faster >= 0 ? torch[faster][0].first_loss : null;
  let diff: number | null = null;
  if (tFirst) {
    diff = 0;
    for (const p of PARTS) diff = Math.max(diff, Math.abs(mFirst[p] - tFirst[p]));
  }
  const msaeFirst: Record<string, number> = {};
  for (const p of [...PARTS, "l0"] as const) msaeFirst[p] = mFirst[p];
  return {
    name,
    arch: spec.arch,
    d: spec.d,
    m: spec.m,
    batch: spec.batch,
    k: TOPK_FAMILY.includes(spec.arch) ? spec.k : null,
    msae_tok_s: tokS(msaeBest),
    torch_tok_s: torchS === null ? null : tokS(torchS),
    ratio: torchS === null ? null : torchS / msaeBest,
    torch_core: faster >= 0 ? (peers[faster].label ?? "installed") : null,
    torch_tok_s_installed: instS === null ? null : tokS(instS),
    torch_tok_s_widest: wideS === null ? null : tokS(wideS),
    torch_core_installed: iInst >= 0 ? peers[iInst].label : null,
    torch_core_widest: iWide >= 0 ? peers[iWide].label : null,
    msae_l0_frac: mFirst.l0 / spec.m,
    torch_l0_frac: tFirst ? tFirst.l0 / spec.m : null,
    loss_max_abs_diff: diff,
    loss_rel_diff: diff === null || !tFirst ? null : diff / Math.abs(tFirst.total),
    msae_first_loss: msaeFirst,
    torch_first_loss: tFirst,
    msae_step_s: msae.map((r) => r.stepS),
    torch_step_s_installed: iInst >= 0 ? torch[iInst].map((r) => r.step_s) : null,
    torch_step_s_widest: iWide >= 0 ? torch[iWide].map((r) => r.step_s) : null,
    torch_cpu_util: torch.length ? torch.flat().map((r) => r.cpu_util) : null,
    msae_cpu_util: msae.map((r) => r.cpuS / (r.wallS * threads)),
    profile: {
      step_s: 0,
      gemm_s: 0,
      other_s: 0,
      gemm_share: 0,
      gemm_gflop: 0,
      gemm_gflops: 0,
      gemm_s_at_peak: 0,
      kernels: [],
    },
  };
}

const fx = (v: number | null, digits = 0) => (v === null ? "-" : v.toFixed(digits));

export function formatCaseLine(c: SaeBenchCase): string {
  return (
    `${c.name}: msae ${fx(c.msae_tok_s)} tok/s, torch ${fx(c.torch_tok_s)} (${c.torch_core ?? "-"}), ` +
    `ratio ${c.ratio === null ? "-" : `${c.ratio.toFixed(2)}x`}, first-step loss max|diff| ` +
    `${c.loss_max_abs_diff === null ? "-" : c.loss_max_abs_diff.toExponential(1)}`
  );
}

/** The human-readable table. */
export function formatSaeBench(r: SaeBenchResult): string {
  const b = r.blas;
  const lines = [
    `msae bench sae: ${r.threads} threads, backend ${r.backend}, BLAS ${b.msae} (core ${b.msae_core ?? "?"}; GEMM ${b.msae_gemm}), ` +
      `torch ${r.torch ?? "-"} (OpenBLAS core as installed ${b.torch_core_installed ?? "-"}, widest ${b.torch_core_widest ?? "-"}; ` +
      `OPENBLAS_CORETYPE=${b.openblas_coretype ?? "unset"}); ${r.steps} steps after ${r.warmup}, best of ${r.reps}; ` +
      `load average ${r.load_average_before.map((v) => v.toFixed(1)).join(" ")} -> ${r.load_average_after.map((v) => v.toFixed(1)).join(" ")}`,
  ];
  const head = [
    "case",
    "msae tok/s",
    "torch inst",
    "torch widest",
    "ratio",
    "vs core",
    "L0 %m",
    "loss max|diff|",
    "GEMM share",
  ];
  const rows = r.cases.map((c) => [
    c.name,
    fx(c.msae_tok_s),
    fx(c.torch_tok_s_installed),
    fx(c.torch_tok_s_widest),
    c.ratio === null ? "-" : `${c.ratio.toFixed(2)}x`,
    c.torch_core ?? "-",
    (100 * c.msae_l0_frac).toFixed(1),
    c.loss_max_abs_diff === null ? "-" : c.loss_max_abs_diff.toExponential(1),
    `${(100 * c.profile.gemm_share).toFixed(0)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) => row.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
  lines.push(fmt(head), ...rows.map(fmt));
  for (const c of r.cases)
    lines.push(
      `  ${c.name}: one msae step ${(c.profile.step_s * 1e3).toFixed(0)} ms, GEMM ${(c.profile.gemm_s * 1e3).toFixed(0)} ms ` +
        `(${c.profile.gemm_gflop.toFixed(1)} GFLOP at ${c.profile.gemm_gflops.toFixed(0)} GFLOP/s; ` +
        `${(c.profile.gemm_s_at_peak * 1e3).toFixed(0)} ms at the FMA peak), ` +
        `rest ${(c.profile.other_s * 1e3).toFixed(0)} ms; top: ${c.profile.kernels.slice(0, 3).join("; ")}`,
    );
  for (const s of r.skipped) lines.push(s);
  return `${lines.join("\n")}\n`;
}
