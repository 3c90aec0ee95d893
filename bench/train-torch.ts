/**
 * The PyTorch side of `msae bench train`: bench/torch_train.py as a child process that answers one
 * JSON line per `step` command, so msae and torch steps alternate. The child gets msae's thread
 * count (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS and torch.set_num_threads), msae's OMP_WAIT_POLICY,
 * and OPENBLAS_CORETYPE when a core is asked for (bench/openblas-core.ts: the peer at its best).
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { packageRoot } from "../src/core/paths.ts";
import { peerEnv } from "./openblas-core.ts";
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
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly queue: ((line: string | null) => void)[] = [];
  private stderr = "";
  private closed = false;
  ready: TorchTrainReady | null = null;

  private constructor(a: TorchTrainArgs) {
    const h = a.hyper;
    const args = [TORCH_TRAIN_PEER, "--model", a.modelDir, "--ids", a.idsFile, "--targets", a.targetsFile];
    args.push("--batch", `${a.batch}`, "--seq", `${a.seq}`, "--threads", `${a.threads}`);
    args.push("--lr", `${h.lr}`, "--beta1", `${h.beta1}`, "--beta2", `${h.beta2}`, "--eps", `${h.eps}`);
    args.push("--weight-decay", `${h.weightDecay}`, "--clip", `${h.clip}`);
    this.child = spawn(a.python, args, { env: peerEnv(a.core, a.threads), stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    createInterface({ input: this.child.stdout }).on("line", (line) => this.queue.shift()?.(line));
    const end = () => {
      this.closed = true;
      for (const f of this.queue.splice(0)) f(null);
    };
    this.child.on("close", end);
    this.child.on("error", (e) => {
      this.stderr += `\n${e.message}`;
      end();
    });
  }

  static async start(a: TorchTrainArgs): Promise<TorchTrainPeer> {
    const peer = new TorchTrainPeer(a);
    peer.ready = (await peer.next("start")) as unknown as TorchTrainReady;
    return peer;
  }

  private next(what: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const take = (line: string | null) => {
        if (line === null) {
          const last = this.stderr.trim().split("\n").pop() ?? "";
          reject(new Error(`bench train: the torch peer (${TORCH_TRAIN_PEER}) exited during "${what}": ${last}`));
          return;
        }
        let obj: Record<string, unknown>;
        try {
          obj = JSON.parse(line);
        } catch {
          reject(new Error(`bench train: the torch peer printed ${JSON.stringify(line.slice(0, 80))}; expected JSON`));
          return;
        }
        if (typeof obj.error === "string") reject(new Error(`bench train: the torch peer: ${obj.error}`));
        else resolve(obj);
      };
      if (this.closed) take(null);
      else this.queue.push(take);
    });
  }

  /** One training step: its wall seconds (measured inside Python), loss and gradient norm. */
  async step(): Promise<TorchStep> {
    const reply = this.next("step");
    if (!this.closed) this.child.stdin.write("step\n");
    return (await reply) as unknown as TorchStep;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((resolve) => this.child.once("close", () => resolve()));
    this.child.stdin.end("quit\n");
    await done;
  }
}
