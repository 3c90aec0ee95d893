/**
 * The PyTorch side of `msae bench sae`: bench/torch_sae.py --serve as a child process that stays
 * warm and answers one JSON line per `run ARCH D M BATCH K STEPS WARMUP SEED DIR` command (the
 * inputs read from DIR, bench/sae-inputs.ts), so msae and torch steps alternate case by case.
 * One child per OpenBLAS core (bench/openblas-core.ts: as installed, and the widest that passes),
 * each with OMP_NUM_THREADS / OPENBLAS_NUM_THREADS = msae's threads and msae's OMP_WAIT_POLICY.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { packageRoot } from "../src/core/paths.ts";
import { peerEnv } from "./openblas-core.ts";

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
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly queue: ((line: string | null) => void)[] = [];
  private stderr = "";
  private closed = false;
  ready: TorchSaeReady | null = null;

  /** core: null = as installed, else OPENBLAS_CORETYPE = core. */
  private constructor(python: string, threads: number, core: string | null) {
    const args = [TORCH_SAE_PEER, "--serve", "--threads", `${threads}`];
    this.child = spawn(python, args, { env: peerEnv(core, threads), stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on("line", (line) => this.queue.shift()?.(line));
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

  static async start(python: string, threads: number, core: string | null): Promise<TorchSaePeer> {
    const peer = new TorchSaePeer(python, threads, core);
    peer.ready = (await peer.next("start")) as unknown as TorchSaeReady;
    return peer;
  }

  private next(what: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const take = (line: string | null) => {
        if (line === null) {
          const last = this.stderr.trim().split("\n").pop() ?? "";
          reject(new Error(`bench sae: the torch peer (${TORCH_SAE_PEER}) exited during "${what}": ${last}`));
          return;
        }
        let obj: Record<string, unknown>;
        try {
          obj = JSON.parse(line);
        } catch {
          reject(new Error(`bench sae: the torch peer printed ${JSON.stringify(line.slice(0, 80))}; expected JSON`));
          return;
        }
        if (typeof obj.error === "string") reject(new Error(`bench sae: the torch peer: ${obj.error}`));
        else resolve(obj);
      };
      if (this.closed) take(null);
      else this.queue.push(take);
    });
  }

  /** Warmup + timed steps of one case whose inputs are in `dir`. */
  async run(arch: string, d: number, m: number, batch: number, k: number, steps: number, warmup: number, dir: string) {
    const cmd = `run ${arch} ${d} ${m} ${batch} ${k} ${steps} ${warmup} 0 ${dir}`;
    const reply = this.next("run");
    if (!this.closed) this.child.stdin.write(`${cmd}\n`);
    return (await reply) as unknown as TorchSaeRow;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((resolve) => this.child.once("close", () => resolve()));
    this.child.stdin.end("quit\n");
    await done;
  }
}
