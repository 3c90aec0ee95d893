/**
 * `msae serve`'s HTTP server (node:http only): one run folder, read-only, for a local browser.
 *
 *   /                        index of the run folder (index-page.ts)
 *   /explorer/               the live explorer (explorer/page.ts), /explorer/explorer.js its bundle,
 *                            /explorer/saes.json the SAEs and the model each runs with
 *   /model/<id>/<file>       the explorer's model files, read-only: config.json, model.safetensors,
 *                            tokenizer.json, tokenizer_config.json of the model folder <id> stands for
 *   anything else            the file at that path under the run folder (report/, features/, sae/, ...);
 *                            a folder through its index.html, and /a/b (no extension, no such file)
 *                            through a/b.html, so /features/<id> finds features/<id>.html or features/<id>/
 *
 * Defences (each refusal is a one-line text/plain reply; the server keeps serving):
 *   - GET and HEAD only (405 with Allow otherwise); a request with a body is refused (413).
 *   - Request target <= MAX_URL_BYTES (414); headers <= MAX_HEADER_BYTES (431, by node:http's
 *     maxHeaderSize); at most MAX_HEADERS header lines; header and request timeouts.
 *   - Host header: when bound to a loopback address only 127.0.0.1 / localhost / [::1] (and the bound
 *     address) with the bound port are accepted (403 otherwise): a DNS-rebinding page cannot read the
 *     run. Bound to any other address, the Host is not checked (the user asked for a network server).
 *   - Paths: see paths.ts (traversal, encoded traversal, NUL, backslashes, hidden names refused before
 *     the file system; realpath must stay inside the run folder, so symlinks out of it are refused).
 *     Files are opened with O_NOFOLLOW after that check and must be regular files.
 *   - Responses carry nosniff, no-referrer, DENY framing, same-origin resource policy and a CSP that
 *     allows only this origin's scripts.
 */
import { constants, promises as fsp, realpathSync, statSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join } from "node:path";
import { explorerBundle } from "../explorer/bundle.ts";
import { explorerHtml } from "../explorer/page.ts";
import { indexHtml } from "./index-page.ts";
import { isInside, resolveUnder, splitPath } from "./paths.ts";
import { type RunFolder, scanRunFolder } from "./run-folder.ts";

export const MAX_URL_BYTES = 2048;
export const MAX_HEADER_BYTES = 8192;
export const MAX_HEADERS = 64;
const MODEL_FILES = new Set(["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".jsonl": "application/x-ndjson; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".csv": "text/csv; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".safetensors": "application/octet-stream",
};

export function contentType(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
}

const SECURITY_HEADERS: Record<string, string> = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cache-Control": "no-cache",
  "Content-Security-Policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

export interface ServeOptions {
  /** The run folder served. */
  root: string;
  port: number;
  host: string;
  /** Model folder for every SAE (--model), or null: each SAE's metadata.model_name, else the default. */
  model: string | null;
  /** One line per request that failed on the server side (default: none). */
  log?: (line: string) => void;
}

export interface RunningServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly server: http.Server;
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Host header values accepted when bound to loopback `host`:`port`. */
function allowedHosts(host: string, port: number): Set<string> {
  const names = new Set(["127.0.0.1", "localhost", "[::1]", host.includes(":") ? `[${host}]` : host]);
  const out = new Set<string>();
  for (const n of names) {
    out.add(`${n}:${port}`);
    if (port === 80) out.add(n);
  }
  return out;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function send(
  res: http.ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  head: boolean,
  extra: Record<string, string> = {},
): void {
  const buf = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    "Content-Type": type,
    "Content-Length": String(buf.byteLength),
    ...extra,
  });
  res.end(head ? undefined : buf);
}

function refuse(res: http.ServerResponse, status: number, message: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  send(res, status, "text/plain; charset=utf-8", `${status} ${message}\n`, false, {
    Connection: "close",
    ...extra,
  });
}

/** Streams a regular file (opened without following a final symlink). */
async function sendFile(res: http.ServerResponse, file: string, head: boolean): Promise<void> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    throw new Refusal(404, "not found");
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Refusal(404, "not a regular file");
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      "Content-Type": contentType(file),
      "Content-Length": String(st.size),
    });
    if (head) {
      res.end();
      return;
    }
    await new Promise<void>((done) => {
      const stream = fh.createReadStream({ autoClose: false });
      stream.on("error", () => {
        res.destroy();
        done();
      });
      res.on("close", () => {
        stream.destroy();
        done();
      });
      stream.pipe(res);
    });
  } finally {
    await fh.close().catch(() => {});
  }
}

/** Starts serving; resolves once listening (port 0 picks a free port). */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  let realRoot: string;
  try {
    realRoot = realpathSync(opts.root);
  } catch {
    throw new Error(`run folder ${opts.root} does not exist; expected runs/<name>`);
  }
  if (!statSync(realRoot).isDirectory()) throw new Error(`${opts.root} is not a folder; expected runs/<name>`);
  const modelIds = new Map<string, string>(); // model folder -> id
  const modelDirs = new Map<string, string>(); // id -> model folder
  const scan = (): RunFolder => {
    const run = scanRunFolder(realRoot, opts.model);
    for (const s of run.saes)
      if (s.modelDir && !modelIds.has(s.modelDir)) {
        const id = `m${modelIds.size}`;
        modelIds.set(s.modelDir, id);
        modelDirs.set(id, s.modelDir);
      }
    return run;
  };
  scan();
  const loopback = isLoopback(opts.host);
  let hosts = new Set<string>();

  const listing = (): string => {
    const run = scan();
    const models: Record<string, { name: string; tokenizer_config: boolean }> = {};
    for (const [id, dir] of modelDirs)
      models[id] = {
        name: dir.split(/[\\/]/).filter(Boolean).pop() ?? id,
        tokenizer_config: statSync(join(dir, "tokenizer_config.json"), { throwIfNoEntry: false })?.isFile() ?? false,
      };
    return JSON.stringify({
      run: run.name,
      saes: run.saes.map((s) => ({
        id: s.id,
        arch: s.arch,
        hook: s.hook,
        d_in: s.dIn,
        d_sae: s.dSae,
        model: s.modelDir ? (modelIds.get(s.modelDir) ?? null) : null,
        problem: s.problem,
      })),
      models,
      features_index: run.featuresIndex,
    });
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = req.url ?? "";
    if (Buffer.byteLength(url) > MAX_URL_BYTES) throw new Refusal(414, `request target over ${MAX_URL_BYTES} bytes`);
    const method = req.method ?? "";
    if (method !== "GET" && method !== "HEAD")
      throw new Refusal(405, `method ${method.slice(0, 16)} not allowed; this server is read-only`, {
        Allow: "GET, HEAD",
      });
    const head = method === "HEAD";
    if (loopback) {
      const host = req.headers.host;
      if (!host || !hosts.has(host.toLowerCase())) throw new Refusal(403, "Host header not allowed");
    }
    const length = req.headers["content-length"];
    if ((length !== undefined && length !== "0") || req.headers["transfer-encoding"] !== undefined)
      throw new Refusal(413, "requests with a body are not accepted");
    const cut = url.search(/[?#]/);
    const rawPath = cut < 0 ? url : url.slice(0, cut);
    const segments = splitPath(rawPath);
    if (!Array.isArray(segments)) throw new Refusal(segments.status, segments.reason);
    const trailing = rawPath.endsWith("/");

    if (segments.length === 0) {
      send(res, 200, "text/html; charset=utf-8", indexHtml(scan()), head);
      return;
    }
    if (segments[0] === "explorer") {
      if (segments.length === 1) {
        if (!trailing) throw new Refusal(301, "moved", { Location: "/explorer/" });
        send(res, 200, "text/html; charset=utf-8", explorerHtml(), head);
        return;
      }
      if (segments.length === 2 && segments[1] === "explorer.js") {
        send(res, 200, "text/javascript; charset=utf-8", await explorerBundle(), head);
        return;
      }
      if (segments.length === 2 && segments[1] === "saes.json") {
        send(res, 200, "application/json; charset=utf-8", listing(), head);
        return;
      }
      throw new Refusal(404, "not found");
    }
    if (segments[0] === "model") {
      const dir = segments.length === 3 ? modelDirs.get(segments[1]) : undefined;
      if (!dir || !MODEL_FILES.has(segments[2])) throw new Refusal(404, "not found");
      // A fixed file name in the folder the user chose (symlinks into a Hugging Face cache are fine).
      await sendFile(res, await fsp.realpath(join(dir, segments[2])).catch(() => ""), head);
      return;
    }
    let r = await resolveUnder(realRoot, segments, trailing, rawPath);
    const last = segments[segments.length - 1];
    if (!r.ok && r.status === 404 && !trailing && !last.includes(".")) {
      // /features/12 -> features/12.html (a static site's page), when there is no such file or folder
      r = await resolveUnder(realRoot, [...segments.slice(0, -1), `${last}.html`], false, rawPath);
    }
    if (!r.ok) {
      if (r.status === 301) throw new Refusal(301, "moved", { Location: r.location });
      throw new Refusal(r.status, r.reason);
    }
    if (!isInside(realRoot, r.file)) throw new Refusal(403, "the path leaves the served folder");
    await sendFile(res, r.file, head);
  };

  const server = http.createServer(
    { maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 },
    (req, res) => {
      handle(req, res).catch((e: unknown) => {
        if (e instanceof Refusal) refuse(res, e.status, e.message, e.headers);
        else {
          opts.log?.(`msae serve: ${req.method} ${String(req.url).slice(0, 200)}: ${(e as Error).message}`);
          refuse(res, 500, "internal error");
        }
      });
    },
  );
  server.maxHeadersCount = MAX_HEADERS;
  server.maxConnections = 256;
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && !socket.destroyed) {
      const status = err.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      setTimeout(() => socket.destroy(), 1000).unref();
    } else socket.destroy();
  });
  // CONNECT and Upgrade requests bypass the request handler in node:http: refused here.
  const refuseRaw = (status: string) => (_req: http.IncomingMessage, socket: import("node:stream").Duplex) => {
    socket.on("error", () => {});
    socket.end(`HTTP/1.1 ${status}\r\nAllow: GET, HEAD\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    setTimeout(() => socket.destroy(), 1000).unref();
  };
  server.on("connect", refuseRaw("405 Method Not Allowed"));
  server.on("upgrade", refuseRaw("400 Bad Request"));
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "EADDRINUSE"
          ? new Error(`port ${opts.port} on ${opts.host} is in use; pass --port <n> (0 picks a free port)`)
          : e.code === "EADDRNOTAVAIL"
            ? new Error(`cannot bind ${opts.host}: not an address of this machine; expected e.g. 127.0.0.1`)
            : e,
      ),
    );
    server.listen(opts.port, opts.host, () => {
      server.removeAllListeners("error");
      resolve();
    });
  });
  // Build the explorer bundle now (about a second) rather than on the first page load; a failure
  // surfaces on /explorer/explorer.js requests.
  explorerBundle().catch(() => {});
  const port = (server.address() as AddressInfo).port;
  hosts = allowedHosts(opts.host, port);
  const shownHost = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${shownHost}:${port}/`,
    host: opts.host,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
