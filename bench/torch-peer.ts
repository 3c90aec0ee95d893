/**
 * The process plumbing the PyTorch peers of `msae bench lm | sae | train` share (bench/lm-torch.ts,
 * sae-torch.ts, train-torch.ts): a Python script as a child process that stays warm and answers one
 * JSON line per command line on stdin (its first line once it is ready), started with the peer's
 * environment (bench/openblas-core.ts: msae's thread count and OpenMP wait policy, the OpenBLAS core
 * asked for). A reply with an `error` field, a line that is not JSON or the child exiting is one
 * Error naming the bench, the script and the command; the child's last stderr line says why.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { peerEnv } from "./openblas-core.ts";

export class JsonLinePeer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly queue: ((line: string | null) => void)[] = [];
  private stderr = "";
  private done = false;

  /** bench: "bench sae" etc. (error messages); core: null = OpenBLAS as installed, else OPENBLAS_CORETYPE. */
  constructor(
    private readonly bench: string,
    private readonly script: string,
    python: string,
    args: string[],
    threads: number,
    core: string | null,
  ) {
    this.child = spawn(python, [script, ...args], { env: peerEnv(core, threads), stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    createInterface({ input: this.child.stdout }).on("line", (line) => this.queue.shift()?.(line));
    const end = () => {
      this.done = true;
      for (const f of this.queue.splice(0)) f(null);
    };
    this.child.on("close", end);
    this.child.on("error", (e) => {
      this.stderr += `\n${e.message}`;
      end();
    });
  }

  get closed(): boolean {
    return this.done;
  }

  /** The next reply line as an object (`what` names it in errors: "start", the command's word). */
  next(what: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const take = (line: string | null) => {
        if (line === null) {
          const last = this.stderr.trim().split("\n").pop() ?? "";
          reject(new Error(`${this.bench}: the torch peer (${this.script}) exited during "${what}": ${last}`));
          return;
        }
        let obj: Record<string, unknown>;
        try {
          obj = JSON.parse(line);
        } catch {
          reject(
            new Error(`${this.bench}: the torch peer printed ${JSON.stringify(line.slice(0, 80))}; expected JSON`),
          );
          return;
        }
        if (typeof obj.error === "string") reject(new Error(`${this.bench}: the torch peer: ${obj.error}`));
        else resolve(obj);
      };
      if (this.done) take(null);
      else this.queue.push(take);
    });
  }

  /** Sends one command line and waits for its reply. */
  request(cmd: string): Promise<Record<string, unknown>> {
    const reply = this.next(cmd.split(" ")[0]);
    if (!this.done) this.child.stdin.write(`${cmd}\n`);
    return reply;
  }

  /** Asks the child to quit and waits until it has exited. */
  async close(): Promise<void> {
    if (this.done) return;
    const exited = new Promise<void>((resolve) => this.child.once("close", () => resolve()));
    this.child.stdin.end("quit\n");
    await exited;
  }
}
