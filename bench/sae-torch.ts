/**
 * The PyTorch side of `msae bench sae`: bench/torch_sae.py --serve as a child process that stays
 * warm and answers one JSON line per `run ARCH D M BATCH K STEPS WARMUP SEED DIR` command (the
 * inputs read from DIR, bench/sae-inputs.ts), so msae and torch steps alternate case by case.
 * One child per OpenBLAS core (bench/openblas-core.ts: as installed, and the widest that passes),
 * each with OMP_NUM_THREADS / OPENBLAS_NUM_THREADS = msae's threads and msae's OMP_WAIT_POLICY.
 */
import { join } from "node:path";
import { packageRoot } from "../src/core/paths.ts";
import { JsonLinePeer } from "./torch-peer.ts";

export const TORCH_SAE_PEER = join(packageRoot, "bench", "torch_sae.py");

/** The peer's row for one case (bench/torch_sae.py header, --json). */
export interface TorchSaeRow {
  name: string;
  tok_s: number;
  step_s: number;
  cpu_util: number;
  l0: number;
  l0_frac: number;
  loss: Record<string, number>;
  first_loss: Record<string, number> | null;
}

export interface TorchSaeReady {
  torch: string;
  threads: number;
  blas: string | null;
  openblas_core: string | null;
  openblas_coretype: string | null;
}

export class TorchSaePeer {
  private readonly io: JsonLinePeer;
  ready: TorchSaeReady | null = null;

  /** core: null = as installed, else OPENBLAS_CORETYPE = core. */
  private constructor(python: string, threads: number, core: string | null) {
    this.io = new JsonLinePeer(
      "bench sae",
      TORCH_SAE_PEER,
      python,
      ["--serve", "--threads", `${threads}`],
      threads,
      core,
    );
  }

  static async start(python: string, threads: number, core: string | null): Promise<TorchSaePeer> {
    const peer = new TorchSaePeer(python, threads, core);
    peer.ready = (await peer.io.next("start")) as unknown as TorchSaeReady;
    return peer;
  }

  /** Warmup + timed steps of one case whose inputs are in `dir`. */
  async run(arch: string, d: number, m: number, batch: number, k: number, steps: number, warmup: number, dir: string) {
    return (await this.io.request(
      `run ${arch} ${d} ${m} ${batch} ${k} ${steps} ${warmup} 0 ${dir}`,
    )) as unknown as TorchSaeRow;
  }

  close(): Promise<void> {
    return this.io.close();
  }
}
