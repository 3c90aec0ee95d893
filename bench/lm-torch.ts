/**
 * The PyTorch side of `msae bench lm`: probes whether a Python can import torch, and drives
 * bench/torch_lm.py (a float32 Gemma-2 forward of the same model folder) as a child process that
 * answers one JSON line per command, so msae and torch forwards can alternate. The child gets
 * OMP_NUM_THREADS / OPENBLAS_NUM_THREADS = msae's thread count (and calls torch.set_num_threads)
 * and msae's OMP_WAIT_POLICY (passive unless set: idle OpenMP threads sleep instead of spinning),
 * and OPENBLAS_CORETYPE when a core is asked for (bench/openblas-core.ts: the peer at its best).
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { packageRoot } from "../src/core/paths.ts";
import { peerEnv } from "./openblas-core.ts";

export const TORCH_PEER = join(packageRoot, "bench", "torch_lm.py");

export interface TorchProbe {
  /** torch.__version__, or null when the import failed. */
  version: string | null;
  /** Why the torch column is skipped (null when torch imports). */
  reason: string | null;
}

export function probeTorch(python: string): TorchProbe {
  const r = spawnSync(python, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8", timeout: 120_000 });
  if (r.error) return { version: null, reason: `${python} could not be run (${r.error.message})` };
  if (r.status !== 0) {
    const last = (r.stderr || "").trim().split("\n").pop() ?? "";
    return { version: null, reason: `${python} cannot import torch${last ? ` (${last})` : ""}` };
  }
  return { version: r.stdout.trim(), reason: null };
}

export interface TorchPeerArgs {
  python: string;
  modelDir: string;
  idsFile: string; // raw int32 [batch * seq]
  batch: number;
  seq: number;
  threads: number;
  head: boolean;
  /** OpenBLAS core: null = as installed, else OPENBLAS_CORETYPE = core (bench/openblas-core.ts). */
  core: string | null;
}

export interface TorchReady {
  torch: string;
  threads: number;
  /** OpenBLAS core the torch process runs (openblas_get_corename), when found. */
  blas_core: string | null;
}

/** A running bench/torch_lm.py. */
export class TorchPeer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly queue: ((line: string | null) => void)[] = [];
  private stderr = "";
  private closed = false;
  ready: TorchReady | null = null;

  private constructor(a: TorchPeerArgs) {
    const args = [TORCH_PEER, "--model", a.modelDir, "--ids", a.idsFile, "--batch", `${a.batch}`, "--seq", `${a.seq}`];
    args.push("--threads", `${a.threads}`);
    if (a.head) args.push("--head");
    // the same thread count and OpenMP wait policy as msae (the addon defaults it to passive)
    const env = peerEnv(a.core, a.threads);
    this.child = spawn(a.python, args, { env, stdio: ["pipe", "pipe", "pipe"] });
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

  /** Starts the peer and waits until it has loaded the model. */
  static async start(a: TorchPeerArgs): Promise<TorchPeer> {
    const peer = new TorchPeer(a);
    peer.ready = (await peer.next("start")) as unknown as TorchReady;
    return peer;
  }

  private next(what: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const take = (line: string | null) => {
        if (line === null) {
          const last = this.stderr.trim().split("\n").pop() ?? "";
          reject(new Error(`bench lm: the torch peer (${TORCH_PEER}) exited during "${what}": ${last}`));
          return;
        }
        let obj: Record<string, unknown>;
        try {
          obj = JSON.parse(line);
        } catch {
          reject(new Error(`bench lm: the torch peer printed ${JSON.stringify(line.slice(0, 80))}; expected JSON`));
          return;
        }
        if (typeof obj.error === "string") reject(new Error(`bench lm: the torch peer: ${obj.error}`));
        else resolve(obj);
      };
      if (this.closed) take(null);
      else this.queue.push(take);
    });
  }

  private request(cmd: string): Promise<Record<string, unknown>> {
    const reply = this.next(cmd.split(" ")[0]);
    if (!this.closed) this.child.stdin.write(`${cmd}\n`);
    return reply;
  }

  /** One forward; its wall time in seconds (measured inside Python). */
  async forward(): Promise<number> {
    return (await this.request("forward")).s as number;
  }

  /** One forward timed per stage: stage -> seconds. */
  async profile(): Promise<Record<string, number>> {
    return (await this.request("profile")).stages_s as Record<string, number>;
  }

  /** max |torch - msae| over the first `rows` rows of the last output, msae's in a raw float32 file. */
  async compare(file: string, rows: number): Promise<{ max_abs_diff: number | null; max_abs_value: number }> {
    const r = await this.request(`compare ${rows} ${file}`);
    return { max_abs_diff: r.max_abs_diff as number | null, max_abs_value: r.max_abs_value as number };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((resolve) => this.child.once("close", () => resolve()));
    this.child.stdin.end("quit\n");
    await done;
  }
}
