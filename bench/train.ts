/**
 * `msae bench train`: Gemma-2 LM training-step tokens/s of msae (bench/train-step.ts, the step of
 * `msae lm train`) next to a PyTorch CPU peer doing the same step (bench/torch_train.py: autograd,
 * clip_grad_norm_, AdamW) on the same ids and targets from the same initial weights (one model
 * folder read by both: models/tiny-gemma2 by default), in the same run:
 *
 *   tokens/s = batch * seq / (best wall time of `steps` timed steps after `warmup` untimed ones)
 *   (msae and torch steps alternate, so a burst of load on a shared machine hits both; an untimed
 *   0.25 s pause before each step lets the other side's idle BLAS threads stop spinning)
 *   ratio    = msae tokens/s / torch tokens/s (the faster torch run: the peer at its best)
 *   first-step check: |loss_msae - loss_torch| and the relative gradient-norm difference on the
 *   first step (same weights, same batch: both sides did the same work)
 *   cpu_util = CPU seconds / (wall * threads) per step, and the load average before and after:
 *   well below 1 means other work shared the cores and the figures are noisy
 *
 * The peer at its best (DESIGN.md s.6, bench/openblas-core.ts): torch runs as installed and with the
 * widest OpenBLAS core that passes (when that differs); torch_core names the faster. Same thread
 * count on both sides. gflop_per_step counts the GEMMs as 3x the forward's (forward, the two
 * backward products), bench/lm-profile.ts's gemma2Flops.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { Backend } from "../src/core/backend.ts";
import { getBackend } from "../src/core/backends/index.ts";
import { defaultModelDir } from "../src/core/paths.ts";
import { KernelProfile, profiledBackend } from "../src/lm/train/profile.ts";
import { addonFacts } from "./lm.ts";
import { gemma2Flops } from "./lm-profile.ts";
import { probeTorch } from "./lm-torch.ts";
import { choosePeerCores } from "./openblas-core.ts";
import { MsaeTrainStep, TRAIN_BENCH_HYPER, type TrainHyper } from "./train-step.ts";
import { type TorchStep, TorchTrainPeer } from "./train-torch.ts";

export interface TrainBenchOptions {
  batch: number;
  seq: number;
  warmup: number;
  steps: number;
  torch: boolean;
  python: string;
  modelDir: string;
  /** Time every msae kernel of one extra step (src/lm/train/profile.ts). */
  profile: boolean;
  hyper: TrainHyper;
  backend?: Backend;
  log?: (line: string) => void;
}

export const DEFAULT_TRAIN_BENCH: TrainBenchOptions = {
  batch: 16,
  seq: 128,
  warmup: 1,
  steps: 3,
  torch: true,
  python: "/usr/bin/python3",
  modelDir: defaultModelDir,
  profile: false,
  hyper: TRAIN_BENCH_HYPER,
};

export interface TrainBenchCase {
  name: string;
  msae_tok_s: number;
  torch_tok_s: number | null;
  ratio: number | null;
  torch_core: string | null;
  torch_tok_s_installed: number | null;
  torch_tok_s_widest: number | null;
  torch_core_installed: string | null;
  torch_core_widest: string | null;
  batch: number;
  seq: number;
  parameters: number;
  gflop_per_step: number;
  msae_gflop_s: number;
  /** Every timed step's seconds, in order (msae and torch alternate); torch's are the faster run's. */
  msae_step_s: number[];
  torch_step_s: number[] | null;
  /** First step (before any update): loss and global gradient norm of each side. */
  msae_first_loss: number;
  torch_first_loss: number | null;
  loss_abs_diff: number | null;
  msae_first_grad_norm: number;
  torch_first_grad_norm: number | null;
  grad_norm_rel_diff: number | null;
  /** CPU seconds / (wall seconds * threads) of each timed step: well below 1 = the machine was busy. */
  msae_cpu_util: number[];
  torch_cpu_util: number[] | null;
  /** Kernel table of one extra msae step (--profile). */
  profile?: string[];
}

export interface TrainBenchResult {
  cases: TrainBenchCase[];
  skipped: string[];
  threads: number;
  backend: string;
  blas: { msae: string; msae_gemm: string; msae_core: string | null; openblas_coretype: string | null };
  torch: string | null;
  hyper: TrainHyper;
  /** os.loadavg() before and after the run (a busy machine makes every figure noisy). */
  load_average_before: number[];
  load_average_after: number[];
}

export async function runTrainBench(options: Partial<TrainBenchOptions> = {}): Promise<TrainBenchResult> {
  const opts: TrainBenchOptions = { ...DEFAULT_TRAIN_BENCH, ...options };
  const log = opts.log ?? (() => {});
  const backend = opts.backend ?? getBackend();
  const facts = addonFacts(null);
  const threads = backend.name === "native" ? facts.threads : 1;
  const skipped: string[] = [];
  const loadBefore = loadavg();
  let torchVersion: string | null = null;
  const cores: (string | null)[] = [];
  if (opts.torch) {
    const probe = probeTorch(opts.python);
    torchVersion = probe.version;
    if (probe.reason) skipped.push(`torch column skipped: ${probe.reason}`);
    else {
      const c = choosePeerCores(opts.python);
      for (const r of c.rejected) log(r);
      cores.push(null);
      if (c.widest !== null && c.widest.toLowerCase() !== (c.installed ?? "").toLowerCase()) cores.push(c.widest);
      else skipped.push(`widest OpenBLAS core: ${c.widest ?? "none passed"}, the installed one; one torch run`);
    }
  } else skipped.push("torch column skipped: disabled (--no-torch)");

  const msae = new MsaeTrainStep(opts.modelDir, opts.batch, opts.seq, opts.hyper, backend);
  const cfg = msae.model.cfg;
  const { batch, seq } = opts;
  const rows = batch * seq;
  const work = mkdtempSync(join(tmpdir(), "msae-bench-train-"));
  const peers: TorchTrainPeer[] = [];
  try {
    const idsFile = join(work, "ids.i32");
    const targetsFile = join(work, "targets.i32");
    const raw = (a: Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    writeFileSync(idsFile, raw(msae.ids));
    writeFileSync(targetsFile, raw(msae.targets));
    for (const core of cores) {
      log(`starting the torch peer (OpenBLAS core ${core ?? "as installed"})`);
      const args = { python: opts.python, modelDir: opts.modelDir, idsFile, targetsFile, batch, seq, threads };
      peers.push(await TorchTrainPeer.start({ ...args, hyper: opts.hyper, core }));
    }
    log(`${opts.warmup} warm-up + ${opts.steps} timed steps of ${batch} x ${seq} tokens per side`);
    const firstTorch: (TorchStep | null)[] = peers.map(() => null);
    let first: { loss: number; gradNorm: number } | null = null;
    const msaeTimes: number[] = [];
    const msaeUtil: number[] = [];
    const torchTimes: number[][] = peers.map(() => []);
    const torchUtil: number[][] = peers.map(() => []);
    for (let i = 0; i < opts.warmup + opts.steps; i++) {
      if (peers.length) await settle();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const r = msae.step();
      const dt = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(c0);
      first ??= r;
      if (i >= opts.warmup) {
        msaeTimes.push(dt);
        msaeUtil.push((cpu.user + cpu.system) / 1e6 / (dt * threads));
      }
      for (const [j, p] of peers.entries()) {
        await settle();
        const s = await p.step();
        firstTorch[j] ??= s;
        if (i >= opts.warmup) {
          torchTimes[j].push(s.s);
          torchUtil[j].push(s.cpu_s / (s.s * threads));
        }
      }
    }
    if (!first) throw new Error("bench train: no step ran (steps + warmup must be >= 1)");
    let profile: string[] | undefined;
    if (opts.profile) {
      const prof = new KernelProfile();
      const profiled = new MsaeTrainStep(
        opts.modelDir,
        batch,
        seq,
        opts.hyper,
        profiledBackend(backend, prof),
        7,
        backend,
      );
      prof.enabled = false;
      profiled.step();
      if (peers.length) await settle();
      prof.enabled = true;
      const t0 = performance.now();
      profiled.step();
      profile = prof.table((performance.now() - t0) / 1000);
    }
    const bests = torchTimes.map((t) => Math.min(...t));
    const fastest = bests.length ? bests.indexOf(Math.min(...bests)) : -1;
    const torchFirst = fastest >= 0 ? firstTorch[fastest] : null;
    const coreOf = (p: TorchTrainPeer | undefined) => (p ? (p.ready?.blas_core ?? "?") : null);
    const flops = gemma2Flops({
      batch,
      seq,
      layers: cfg.numLayers,
      d: cfg.hiddenSize,
      heads: cfg.numHeads,
      kvHeads: cfg.numKvHeads,
      headDim: cfg.headDim,
      ffn: cfg.intermediateSize,
      headVocab: cfg.vocabSize,
    });
    const msaeBest = Math.min(...msaeTimes);
    const msaeTok = rows / msaeBest;
    const torchTok = fastest >= 0 ? rows / bests[fastest] : null;
    const c: TrainBenchCase = {
      name: basename(opts.modelDir),
      msae_tok_s: msaeTok,
      torch_tok_s: torchTok,
      ratio: torchTok ? msaeTok / torchTok : null,
      torch_core: fastest >= 0 ? coreOf(peers[fastest]) : null,
      torch_tok_s_installed: peers.length ? rows / bests[0] : null,
      torch_tok_s_widest: peers.length > 1 ? rows / bests[1] : null,
      torch_core_installed: coreOf(peers[0]),
      torch_core_widest: coreOf(peers[1]),
      batch,
      seq,
      parameters: msae.params.list.reduce((s, p) => s + p.data.length, 0),
      gflop_per_step: (3 * flops.gemm) / 1e9,
      msae_gflop_s: (3 * flops.gemm) / 1e9 / msaeBest,
      msae_step_s: msaeTimes,
      torch_step_s: fastest >= 0 ? torchTimes[fastest] : null,
      msae_cpu_util: msaeUtil,
      torch_cpu_util: fastest >= 0 ? torchUtil[fastest] : null,
      msae_first_loss: first.loss,
      torch_first_loss: torchFirst?.loss ?? null,
      loss_abs_diff: torchFirst ? Math.abs(first.loss - torchFirst.loss) : null,
      msae_first_grad_norm: first.gradNorm,
      torch_first_grad_norm: torchFirst?.grad_norm ?? null,
      grad_norm_rel_diff: torchFirst
        ? Math.abs(first.gradNorm - torchFirst.grad_norm) / Math.max(1e-30, Math.abs(torchFirst.grad_norm))
        : null,
    };
    if (profile) c.profile = profile;
    return {
      cases: [c],
      skipped,
      threads,
      backend: backend.name,
      blas: {
        msae: facts.blas,
        msae_gemm: facts.gemm,
        msae_core: facts.core,
        openblas_coretype: process.env.OPENBLAS_CORETYPE ?? null,
      },
      torch: torchVersion,
      hyper: opts.hyper,
      load_average_before: loadBefore,
      load_average_after: loadavg(),
    };
  } finally {
    for (const p of peers) await p.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * A pause between the sides' steps, untimed: an OpenBLAS at its installed OPENBLAS_THREAD_TIMEOUT
 * (2^28 cycles; msae sets 2^16 for both sides unless the user sets it) keeps its idle workers
 * spinning for about 0.1 s after a GEMM, which would run into the other side's timed step.
 */
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 250));

const num = (x: number | null, digits: number) => (x === null ? "-" : x.toFixed(digits));

/** The human-readable table of a result. */
export function formatTrainBench(r: TrainBenchResult): string {
  const lines = [
    `msae bench train: ${r.threads} threads, backend ${r.backend}, BLAS ${r.blas.msae} (core ${r.blas.msae_core ?? "?"}; ` +
      `GEMM ${r.blas.msae_gemm}; OPENBLAS_CORETYPE=${r.blas.openblas_coretype ?? "unset"}), torch ${r.torch ?? "-"}`,
  ];
  const head = ["case", "tokens", "msae tok/s", "torch inst", "torch widest", "ratio", "vs core", "GFLOP/s", "|dloss|"];
  const rows = r.cases.map((c) => [
    c.name,
    `${c.batch}x${c.seq}`,
    num(c.msae_tok_s, 0),
    num(c.torch_tok_s_installed, 0),
    num(c.torch_tok_s_widest, 0),
    c.ratio === null ? "-" : `${c.ratio.toFixed(2)}x`,
    c.torch_core ?? "-",
    num(c.msae_gflop_s, 1),
    c.loss_abs_diff === null ? "-" : c.loss_abs_diff.toExponential(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) => row.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
  lines.push(fmt(head), ...rows.map(fmt));
  for (const c of r.cases) {
    lines.push(
      `  ${c.name}: first-step loss msae ${c.msae_first_loss.toFixed(6)} torch ${num(c.torch_first_loss, 6)}, ` +
        `grad norm msae ${c.msae_first_grad_norm.toFixed(6)} torch ${num(c.torch_first_grad_norm, 6)}`,
    );
  }
  const mean = (x: number[] | null) => (x?.length ? x.reduce((a, b) => a + b, 0) / x.length : null);
  for (const c of r.cases)
    lines.push(
      `  CPU use per step (1 = all ${r.threads} threads busy): msae ${num(mean(c.msae_cpu_util), 2)}, torch ${num(mean(c.torch_cpu_util), 2)}; ` +
        `load average ${r.load_average_before.map((v) => v.toFixed(1)).join(" ")} -> ${r.load_average_after.map((v) => v.toFixed(1)).join(" ")}`,
    );
  for (const s of r.skipped) lines.push(s);
  for (const c of r.cases) {
    if (!c.profile) continue;
    lines.push(`profile of one msae training step, ${c.name}:`, ...c.profile.map((l) => `  ${l}`));
  }
  return `${lines.join("\n")}\n`;
}
