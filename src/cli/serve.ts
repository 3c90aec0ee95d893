/**
 * `msae serve [runs/<name>] [--port 8350] [--host 127.0.0.1] [--model <dir>]`: serves a run folder
 * read-only to a local browser: an index of what it holds, the report, feature pages and the live
 * explorer (the model and the SAE run in the browser). Thin: validate options, start
 * src/report/serve/server.ts, print the URL, stop on Ctrl+C.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { isLoopback, startServer } from "../report/serve/server.ts";
import { parseIntOption, UsageError } from "./errors.ts";

interface ServeCliOptions {
  port: string;
  host: string;
  model?: string;
}

export function register(program: Command): void {
  program
    .command("serve")
    .description("serve a run folder (report, feature pages, live explorer) read-only on 127.0.0.1")
    .argument("[run]", "the run folder", join("runs", "demo"))
    .option("--port <n>", "TCP port (0: any free port)", "8350")
    .option("--host <address>", "address to bind (other than loopback exposes the run to the network)", "127.0.0.1")
    .option(
      "--model <dir>",
      "model folder the explorer runs every SAE with (default: the SAE's cfg, else models/tiny-gemma2)",
    )
    .action(async (run: string, opts: ServeCliOptions) => {
      const port = parseIntOption("--port", opts.port, 0, 65535);
      if (!existsSync(run) || !statSync(run).isDirectory())
        throw new UsageError(`run folder ${run} does not exist; expected runs/<name> (msae demo writes runs/demo)`);
      if (opts.model !== undefined && !existsSync(join(opts.model, "config.json")))
        throw new UsageError(`--model ${opts.model} is not a model folder; expected a folder with config.json`);
      if (!/^[0-9A-Za-z.:-]+$/.test(opts.host))
        throw new UsageError(`--host ${opts.host} is not an address; expected e.g. 127.0.0.1 or ::1`);
      const s = await startServer({
        root: run,
        port,
        host: opts.host,
        model: opts.model ?? null,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      if (!isLoopback(opts.host))
        process.stderr.write(`msae serve: bound to ${opts.host}: anyone who can reach it can read ${run}\n`);
      process.stdout.write(`msae serve: ${run} at ${s.url} (explorer: ${s.url}explorer/); Ctrl+C stops\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          s.close().then(resolve);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}
