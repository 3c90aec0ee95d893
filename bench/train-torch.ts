/**
 * The PyTorch side of `msae bench train`: bench/torch_train.py as a child process that answers one
 * JSON line per `step` command, so msae and torch steps alternate. The child gets msae's thread
 * count (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS and torch.set_num_threads), msae's OMP_WAIT_POLICY,
 * and OPENBLAS_CORETYPE when a core is asked for (bench/openblas-core.ts: the peer at its best).
 */
import { join } from "node:path";
import { packageRoot } from "../src/core/paths.ts";
import { JsonLinePeer } from "./torch-peer.ts";
import type { TrainHyper } from "./train-step.ts";

export const TORCH_TRAIN_PEER = join(packageRoot, "bench", "torch_train.py");

export interface TorchTrainArgs {
  python: string;
  modelDir: string;
  idsFile: string; // raw int32 [batch * seq]
  targetsFile: string; // raw int32 [batch * seq], -1 = ignored
  batch: number;
  seq: number;
  threads: number;
  hyper: TrainHyper;
  /** OpenBLAS core: null = as installed, else OPENBLAS_CORETYPE = core. */
  core: string | null;
}

export interface TorchTrainReady {
  torch: string;
  threads: number;
  blas_core: string | null;
}

export interface TorchStep {
  s: number;
  /** Process CPU seconds of the step (all threads). */
  cpu_s: number;
  loss: number;
  grad_norm: number;
}

export class TorchTrainPeer {
  private readonly io: JsonLinePeer;
  ready: TorchTrainReady | null = null;

  private constructor(a: TorchTrainArgs) {
    const h = a.hyper;
    const args = ["--model", a.modelDir, "--ids", a.idsFile, "--targets", a.targetsFile];
    args.push("--batch", `${a.batch}`, "--seq", `${a.seq}`, "--threads", `${a.threads}`);
    args.push("--lr", `${h.lr}`, "--beta1", `${h.beta1}`, "--beta2", `${h.beta2}`, "--eps", `${h.eps}`);
    args.push("--weight-decay", `${h.weightDecay}`, "--clip", `${h.clip}`);
    this.io = new JsonLinePeer("bench train", TORCH_TRAIN_PEER, a.python, args, a.threads, a.core);
  }

  static async start(a: TorchTrainArgs): Promise<TorchTrainPeer> {
    const peer = new TorchTrainPeer(a);
    peer.ready = (await peer.io.next("start")) as unknown as TorchTrainReady;
    return peer;
  }

  /** One training step: its wall seconds (measured inside Python), loss and gradient norm. */
  async step(): Promise<TorchStep> {
    return (await this.io.request("step")) as unknown as TorchStep;
  }

  close(): Promise<void> {
    return this.io.close();
  }
}
