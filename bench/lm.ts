/**
 * `msae bench lm`: forward tokens/s of msae's Gemma-2 runtime, side by side with a PyTorch CPU
 * forward (bench/torch_lm.py) of the SAME weights (one model folder read by both) in the same run.
 *
 *   tokens/s = batch * seq / (best wall time of `reps` forwards after `warmup` forwards)
 *   (msae and torch forwards alternate, so a burst of load on a shared machine hits both)
 *   ratio    = msae tokens/s / torch tokens/s
 *
 * Cases:
 * - "gemma2-2b-shape": gemma-2-2b's block shapes (d 2304, 8 heads of 256, 4 kv heads, ffn 9216),
 *   2 layers, random weights: embedding, the blocks and the final RMSNorm. No logits head by
 *   default (vocab 8192 for the embedding); headVocab V adds the tied unembedding over a V-token
 *   vocabulary (and the final soft-cap) on both sides.
 * - the default model (models/tiny-gemma2), when its folder exists: the full forward with logits.
 * Each case also checks that both sides computed the same thing (max |diff| over the first rows).
 * With precision "bf16" msae's linear layers run on the bf16 kernels (src/core/bf16-gemm.ts: AMX,
 * AVX512-BF16 or fp32, from cpuid) while the peer stays fp32 (its best here: torch's own bf16 linear
 * is slower than its fp32 one on these CPUs); max |diff| then also holds bf16's rounding.
 * The peer at its best (DESIGN.md s.6, bench/openblas-core.ts): torch runs as installed and with
 * the widest OpenBLAS core that passes (when that differs), alternating with msae; torch_tok_s
 * and the ratio are the faster run's (torch_core names it), both runs are in the row.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { Backend } from "../src/core/backend.ts";
import { loadAddon } from "../src/core/backends/addon.ts";
import { getBackend } from "../src/core/backends/index.ts";
import { bf16Kernels } from "../src/core/bf16-gemm.ts";
import { defaultModelDir } from "../src/core/paths.ts";
import type { Gemma2Model } from "../src/lm/gemma2/forward.ts";
import { loadModel, readModelConfig } from "../src/lm/loader.ts";
import type { Precision } from "../src/lm/precision.ts";
import { type FlopCount, gemma2Flops, type KernelStat, ProfilingBackend } from "./lm-profile.ts";
import { GEMMA2_2B_SHAPE, type Gemma2Shape, randomIds, writeSyntheticGemma2 } from "./lm-synthetic.ts";
import { probeTorch, TorchPeer } from "./lm-torch.ts";
import { choosePeerCores } from "./openblas-core.ts";

export const DEFAULT_MODEL_DIR = defaultModelDir;

export interface LmBenchOptions {
  batch: number;
  seq: number;
  warmup: number;
  reps: number;
  /** Run the PyTorch peer (when `python` can import torch). */
  torch: boolean;
  python: string;
  /** The default model's folder; the case is skipped (one line) when it does not exist. */
  modelDir: string;
  /** The synthetic case's shape. */
  shape: Gemma2Shape;
  /** Include the tied logits head over this vocabulary in the synthetic case (null: stop at the final norm). */
  headVocab: number | null;
  /** Time every kernel (msae) and every stage (torch) in one extra forward. */
  profile: boolean;
  /** msae's GEMM for this run: "blas" (CBLAS), "own" (the project's packed GEMM), null: as it is. */
  gemm: "blas" | "own" | null;
  /** msae's forward precision: "bf16" rounds the linear weights once at load and runs bf16 GEMMs (the peer stays fp32). */
  precision: Precision;
  backend?: Backend;
  /** Progress and skip lines. */
  log?: (line: string) => void;
}

export const DEFAULT_LM_BENCH: LmBenchOptions = {
  batch: 24,
  seq: 128,
  warmup: 1,
  reps: 3,
  torch: true,
  python: "/usr/bin/python3",
  modelDir: DEFAULT_MODEL_DIR,
  shape: GEMMA2_2B_SHAPE,
  headVocab: null,
  profile: false,
  gemm: null,
  precision: "f32",
};

export interface LmBenchCase {
  name: string;
  msae_tok_s: number;
  torch_tok_s: number | null;
  ratio: number | null;
  /** What one forward covers. */
  scope: string;
  batch: number;
  seq: number;
  gflop_per_forward: number;
  gemm_flop_share: number;
  msae_best_s: number;
  msae_gflop_s: number;
  torch_best_s: number | null;
  /** Every timed forward, in order (msae and torch alternate). */
  msae_times_s: number[];
  torch_times_s: number[] | null;
  /** max |torch - msae| over the compared rows, and the largest |value| there (scale). */
  max_abs_diff: number | null;
  max_abs_value: number | null;
  /** The OpenBLAS core of the faster torch run (torch_tok_s is that run's), and both runs. */
  torch_core: string | null;
  torch_tok_s_installed: number | null;
  torch_tok_s_widest: number | null;
  torch_core_installed: string | null;
  torch_core_widest: string | null;
  profile?: { msae: KernelStat[]; torch_stages_s: Record<string, number> | null };
}

export interface LmBenchResult {
  cases: LmBenchCase[];
  /** One line per skipped case or column. */
  skipped: string[];
  threads: number;
  backend: string;
  /** msae's forward precision, and with bf16 the kernel that ran (amx, avx512bf16 or f32). */
  precision: Precision;
  bf16_kernel: string | null;
  /** The CBLAS msae was built with and the OpenBLAS core each side runs. */
  blas: {
    msae: string;
    /** The GEMM msae ran: "blas" or "own" (with its microkernel). */
    msae_gemm: string;
    msae_core: string | null;
    torch_core: string | null;
    openblas_coretype: string | null;
  };
  torch: string | null;
}

interface CaseSpec {
  name: string;
  scope: string;
  dir: string;
  head: boolean;
  batch: number;
  seq: number;
}

/** Wall seconds of fn(). */
function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

export interface AddonFacts {
  threads: number;
  blas: string;
  gemm: string;
  core: string | null;
}

/** Thread count, BLAS and GEMM facts of the addon; selects its GEMM first when `gemm` is given. */
export function addonFacts(gemm: "blas" | "own" | null): AddonFacts {
  const addon = loadAddon();
  if (!addon) return { threads: 1, blas: "none (ref backend)", gemm: "ref", core: null };
  const has = (fn: string) => typeof addon[fn] === "function";
  if (gemm !== null) {
    if (!has("setGemmImpl")) throw new Error("bench lm: this build of the addon cannot switch GEMMs (no setGemmImpl)");
    addon.setGemmImpl(gemm);
  }
  const info = addon.buildInfo() as { threads: number; blas: string };
  const g = has("gemmInfo")
    ? (addon.gemmInfo() as { impl: string; corename: string | null; ownKernel?: string })
    : null;
  const impl = g ? (g.impl === "own" ? `own (${g.ownKernel ?? "?"})` : g.impl) : "blas";
  return { threads: info.threads, blas: info.blas, gemm: impl, core: g?.corename ?? null };
}

interface CaseContext {
  opts: LmBenchOptions;
  backend: Backend;
  threads: number;
  work: string;
  torchOk: boolean;
  /** The OpenBLAS cores the peer runs with: null = as installed, then the widest that passes. */
  peerCores: (string | null)[];
  torchCores: (string | null)[];
}

async function runCase(spec: CaseSpec, ctx: CaseContext): Promise<LmBenchCase> {
  const { opts, work } = ctx;
  const log = opts.log ?? (() => {});
  const prof = opts.profile ? new ProfilingBackend(ctx.backend) : null;
  const model = loadModel(spec.dir, {
    backend: prof?.backend ?? ctx.backend,
    tokenizer: false,
    precision: opts.precision,
  });
  if (model.info.architecture !== "gemma2")
    throw new Error(`bench lm: ${spec.dir} holds a ${model.info.architecture} model; expected gemma2`);
  const arch = model.arch as Gemma2Model;
  const cfg = arch.cfg;
  const { batch, seq, head } = spec;
  const rows = batch * seq;
  const d = cfg.hiddenSize;
  const ids = randomIds(rows, cfg.vocabSize, 7);
  const normOut = new Float32Array(rows * d); // [rows, d] final-norm output (no-head forward)
  const normRstd = new Float32Array(rows);
  const be = model.backend;
  let out: Float32Array = normOut;
  // Without the head, a splice on the last residual applies the final norm (no copy): the run
  // then covers every block and stops there.
  const finalNorm = (x: Float32Array /* [rows, d] */) =>
    be.rmsNorm(x, arch.w.finalNorm, 1, rows, d, cfg.rmsNormEps, normOut, normRstd);
  const runOptions = head
    ? { batch }
    : { batch, logits: false, splice: { [`blocks.${cfg.numLayers - 1}.hook_resid_post`]: finalNorm } };
  const forward = () => {
    const r = model.run(ids, runOptions);
    if (head) out = r.logits!.data as Float32Array;
  };
  // msae's ids and output files for the torch side (the same tokens; the output compared below)
  const idsFile = join(work, `${spec.name}.ids.i32`);
  writeFileSync(idsFile, new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength));
  const peers: TorchPeer[] = [];
  if (ctx.torchOk) {
    const threads = ctx.threads;
    for (const core of ctx.peerCores) {
      log(`${spec.name}: starting the torch peer (OpenBLAS core ${core ?? "as installed"})`);
      const p = await TorchPeer.start({
        python: opts.python,
        modelDir: spec.dir,
        idsFile,
        batch,
        seq,
        threads,
        head,
        core,
      });
      peers.push(p);
      ctx.torchCores.push(p.ready?.blas_core ?? null);
    }
  }
  try {
    const what = `${opts.warmup} warm-up + ${opts.reps} timed forwards of ${batch} x ${seq} tokens per side`;
    log(`${spec.name}: ${what}${peers.length ? ", msae and torch alternating" : ""}`);
    for (let i = 0; i < opts.warmup; i++) {
      forward();
      for (const p of peers) await p.forward();
    }
    const msaeTimes: number[] = [];
    const torchTimesBy: number[][] = peers.map(() => []);
    for (let i = 0; i < opts.reps; i++) {
      msaeTimes.push(timed(forward));
      for (const [j, p] of peers.entries()) torchTimesBy[j].push(await p.forward());
    }
    // the peer at its best: the faster of its OpenBLAS cores counts
    const bests = torchTimesBy.map((t) => Math.min(...t));
    const fastest = bests.length ? bests.indexOf(Math.min(...bests)) : -1;
    const peer = fastest >= 0 ? peers[fastest] : null;
    const torchTimes = fastest >= 0 ? torchTimesBy[fastest] : [];
    const flops: FlopCount = gemma2Flops({
      batch,
      seq,
      layers: cfg.numLayers,
      d,
      heads: cfg.numHeads,
      kvHeads: cfg.numKvHeads,
      headDim: cfg.headDim,
      ffn: cfg.intermediateSize,
      headVocab: head ? cfg.vocabSize : 0,
    });
    let msaeProfile: KernelStat[] | undefined;
    let torchStages: Record<string, number> | null = null;
    if (prof) {
      prof.enabled = true;
      forward();
      prof.enabled = false;
      msaeProfile = prof.table();
      if (peer) torchStages = await peer.profile();
    }
    // msae's output of the first rows (<= 8M values) against the torch peer's last output
    const width = head ? cfg.vocabSize : d;
    const compareRows = Math.max(1, Math.min(rows, Math.floor(8_388_608 / width)));
    const outFile = join(work, `${spec.name}.msae.f32`);
    const slice = out.subarray(0, compareRows * width);
    writeFileSync(outFile, new Uint8Array(slice.buffer, slice.byteOffset, slice.byteLength));
    const cmp = peer ? await peer.compare(outFile, compareRows) : null;
    const msaeBest = Math.min(...msaeTimes);
    const torchBest = torchTimes.length ? Math.min(...torchTimes) : null;
    const msaeTok = rows / msaeBest;
    const torchTok = torchBest ? rows / torchBest : null;
    const c: LmBenchCase = {
      name: spec.name,
      msae_tok_s: msaeTok,
      torch_tok_s: torchTok,
      ratio: torchTok ? msaeTok / torchTok : null,
      scope: spec.scope,
      batch,
      seq,
      gflop_per_forward: (flops.gemm + flops.other) / 1e9,
      gemm_flop_share: flops.gemmShare,
      msae_best_s: msaeBest,
      msae_gflop_s: (flops.gemm + flops.other) / 1e9 / msaeBest,
      torch_best_s: torchBest,
      msae_times_s: msaeTimes,
      torch_times_s: peer ? torchTimes : null,
      max_abs_diff: cmp?.max_abs_diff ?? null,
      max_abs_value: cmp?.max_abs_value ?? null,
      torch_core: peer ? (peer.ready?.blas_core ?? "?") : null,
      torch_tok_s_installed: peers.length ? rows / bests[0] : null,
      torch_tok_s_widest: peers.length > 1 ? rows / bests[1] : null,
      torch_core_installed: peers.length ? (peers[0].ready?.blas_core ?? "?") : null,
      torch_core_widest: peers.length > 1 ? (peers[1].ready?.blas_core ?? "?") : null,
    };
    if (msaeProfile) c.profile = { msae: msaeProfile, torch_stages_s: torchStages };
    return c;
  } finally {
    for (const p of peers) await p.close();
  }
}

export async function runLmBench(options: Partial<LmBenchOptions> = {}): Promise<LmBenchResult> {
  const opts: LmBenchOptions = { ...DEFAULT_LM_BENCH, ...options };
  const log = opts.log ?? (() => {});
  const backend = opts.backend ?? getBackend();
  const facts = addonFacts(backend.name === "native" ? opts.gemm : null);
  const threads = backend.name === "native" ? facts.threads : 1;
  const skipped: string[] = [];
  let torchVersion: string | null = null;
  if (opts.torch) {
    const probe = probeTorch(opts.python);
    torchVersion = probe.version;
    if (probe.reason) skipped.push(`torch column skipped: ${probe.reason}`);
  } else {
    skipped.push("torch column skipped: disabled (--no-torch)");
  }
  const work = mkdtempSync(join(tmpdir(), "msae-bench-lm-"));
  const peerCores: (string | null)[] = [];
  if (torchVersion !== null) {
    const cores = choosePeerCores(opts.python);
    for (const r of cores.rejected) log(r);
    peerCores.push(null);
    if (cores.widest !== null && cores.widest.toLowerCase() !== (cores.installed ?? "").toLowerCase())
      peerCores.push(cores.widest);
    else skipped.push(`widest OpenBLAS core: ${cores.widest ?? "none passed"}, the installed one; one torch run`);
  }
  const ctx: CaseContext = { opts, backend, threads, work, torchOk: torchVersion !== null, peerCores, torchCores: [] };
  const cases: LmBenchCase[] = [];
  try {
    const shape = opts.headVocab ? { ...opts.shape, vocab: opts.headVocab } : opts.shape;
    const synth = join(work, "synthetic");
    mkdirSync(synth);
    log(`writing random weights (${shape.layers} layers, d ${shape.d}, vocab ${shape.vocab}) to ${synth}`);
    await writeSyntheticGemma2(synth, shape);
    const scope = opts.headVocab
      ? `embedding + ${shape.layers} blocks + final norm + tied logits head (vocab ${shape.vocab}) + soft-cap`
      : `embedding + ${shape.layers} blocks + final norm (no logits head)`;
    const name = opts.shape === GEMMA2_2B_SHAPE ? "gemma2-2b-shape" : "gemma2-synthetic";
    cases.push(
      await runCase({ name, scope, dir: synth, head: opts.headVocab !== null, batch: opts.batch, seq: opts.seq }, ctx),
    );
    rmSync(synth, { recursive: true, force: true });

    if (!existsSync(opts.modelDir)) {
      const why = opts.modelDir === DEFAULT_MODEL_DIR ? " (the default model is not shipped yet)" : "";
      skipped.push(`default model case skipped: ${opts.modelDir} does not exist${why}`);
    } else {
      const { arch, config } = readModelConfig(opts.modelDir);
      const seq = Math.min(opts.seq, arch.dims(config).contextLength);
      const spec = { dir: opts.modelDir, head: true, batch: opts.batch, seq };
      cases.push(await runCase({ ...spec, name: basename(opts.modelDir), scope: "full forward with logits" }, ctx));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return {
    cases,
    skipped,
    threads,
    backend: backend.name,
    precision: opts.precision,
    bf16_kernel: opts.precision === "bf16" && backend.name === "native" ? bf16Kernels().kernel : null,
    blas: {
      msae: facts.blas,
      msae_gemm: facts.gemm,
      msae_core: facts.core,
      torch_core: ctx.torchCores.find((c) => c !== null) ?? null,
      openblas_coretype: process.env.OPENBLAS_CORETYPE ?? null,
    },
    torch: torchVersion,
  };
}
