/**
 * The PyTorch side of `msae bench lm`: probes whether a Python can import torch, and drives
 * bench/torch_lm.py (a float32 Gemma-2 forward of the same model folder) as a child process that
 * answers one JSON line per command, so msae and torch forwards can alternate. The child gets
 * OMP_NUM_THREADS / OPENBLAS_NUM_THREADS = msae's thread count (and calls torch.set_num_threads)
 * and msae's OMP_WAIT_POLICY (passive unless set: idle OpenMP threads sleep instead of spinning),
 * and OPENBLAS_CORETYPE when a core is asked for (bench/openblas-core.ts: the peer at its best).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { packageRoot } from "../src/core/paths.ts";
import { JsonLinePeer } from "./torch-peer.ts";

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
  private readonly io: JsonLinePeer;
  ready: TorchReady | null = null;

  private constructor(a: TorchPeerArgs) {
    const args = ["--model", a.modelDir, "--ids", a.idsFile, "--batch", `${a.batch}`, "--seq", `${a.seq}`];
    args.push("--threads", `${a.threads}`);
    if (a.head) args.push("--head");
    this.io = new JsonLinePeer("bench lm", TORCH_PEER, a.python, args, a.threads, a.core);
  }

  /** Starts the peer and waits until it has loaded the model. */
  static async start(a: TorchPeerArgs): Promise<TorchPeer> {
    const peer = new TorchPeer(a);
    peer.ready = (await peer.io.next("start")) as unknown as TorchReady;
    return peer;
  }

  /** One forward; its wall time in seconds (measured inside Python). */
  async forward(): Promise<number> {
    return (await this.io.request("forward")).s as number;
  }

  /** One forward timed per stage: stage -> seconds. */
  async profile(): Promise<Record<string, number>> {
    return (await this.io.request("profile")).stages_s as Record<string, number>;
  }

  /** max |torch - msae| over the first `rows` rows of the last output, msae's in a raw float32 file. */
  async compare(file: string, rows: number): Promise<{ max_abs_diff: number | null; max_abs_value: number }> {
    const r = await this.io.request(`compare ${rows} ${file}`);
    return { max_abs_diff: r.max_abs_diff as number | null, max_abs_value: r.max_abs_value as number };
  }

  close(): Promise<void> {
    return this.io.close();
  }
}
