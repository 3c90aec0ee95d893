/**
 * `msae serve`'s server without a browser: raw HTTP over sockets (so no client normalizes the
 * request) against a run folder with a secret file beside it and symlinks into and out of it.
 * Every refusal is checked by status; the burst test mixes refused, malformed and good requests
 * and checks the good ones got the exact bytes.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type RunningServer, startServer } from "../../src/report/serve/server.ts";
import { FIXTURE_MODEL, makeRunFolder } from "../helpers/explorer-fixture.ts";

const base = mkdtempSync(join(tmpdir(), "msae-serve-"));
const root = join(base, "run");
let srv: RunningServer;

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Sends raw bytes, reads until the server closes or `Content-Length` bytes of body arrived. */
function raw(request: string | Buffer, timeoutMs = 5000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(srv.port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no reply to ${String(request).slice(0, 60)}`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const end = all.indexOf("\r\n\r\n");
      if (end < 0) return reject(new Error(`no HTTP reply to ${String(request).slice(0, 60)}: ${all.toString()}`));
      const lines = all.subarray(0, end).toString("latin1").split("\r\n");
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(lines[0].split(" ")[1]), headers, body: all.subarray(end + 4) });
    };
    sock.on("data", (c) => {
      chunks.push(c);
      const all = Buffer.concat(chunks);
      const end = all.indexOf("\r\n\r\n");
      if (end >= 0) {
        const m = /content-length:\s*(\d+)/i.exec(all.subarray(0, end).toString("latin1"));
        const isHead = String(request).startsWith("HEAD");
        if (m && (isHead || all.length - end - 4 >= Number(m[1]))) {
          sock.destroy();
          finish();
        }
      }
    });
    sock.on("end", finish);
    sock.on("error", () => {
      if (chunks.length) finish();
      else reject(new Error("connection error"));
    });
    sock.write(request);
  });
}

const host = () => `127.0.0.1:${srv.port}`;
const get = (path: string, extra = "", method = "GET") =>
  raw(`${method} ${path} HTTP/1.1\r\nHost: ${host()}\r\nConnection: close\r\n${extra}\r\n`);

before(async () => {
  makeRunFolder(root, [{ arch: "relu", hook: "blocks.1.hook_resid_post", d: 48, m: 96, model: FIXTURE_MODEL }]);
  mkdirSync(join(root, "report"));
  writeFileSync(join(root, "report", "index.html"), "<!doctype html><p>report</p>");
  mkdirSync(join(root, "features", "3"), { recursive: true });
  writeFileSync(join(root, "features", "12.html"), "feature 12");
  writeFileSync(join(root, "features", "3", "index.html"), "feature 3");
  writeFileSync(join(root, "report", "chart.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>");
  writeFileSync(join(root, ".hidden"), "hidden");
  mkdirSync(join(root, "sae", "relu", "<img src=x onerror=alert(1)>"), { recursive: true }); // a hostile folder name
  writeFileSync(join(base, "secret.txt"), "SECRET");
  mkdirSync(join(base, "outside"));
  writeFileSync(join(base, "outside", "x.txt"), "SECRET2");
  symlinkSync(join(base, "secret.txt"), join(root, "link-out.txt"));
  symlinkSync(join(base, "outside"), join(root, "dir-out"));
  symlinkSync(join(root, "report", "index.html"), join(root, "link-in.html"));
  srv = await startServer({ root, port: 0, host: "127.0.0.1", model: null });
});
after(async () => {
  await srv?.close();
  rmSync(base, { recursive: true, force: true });
});

test("serves the index, files under the run folder with their content types, HEAD without a body", async () => {
  const index = await get("/");
  assert.equal(index.status, 200);
  assert.match(index.body.toString(), /relu\/blocks\.1\.hook_resid_post<\/code> d_in 48, d_sae 96, on gemma2-old/);
  assert.match(index.headers["content-type"], /^text\/html/);
  assert.doesNotMatch(index.body.toString(), /<img/, "folder names are escaped");
  assert.match(
    index.body.toString(),
    /&#60;img src=x onerror=alert\(1\)&#62;<\/code> <span class="bad">no sae_weights/,
  );
  assert.equal(index.headers["x-content-type-options"], "nosniff");
  assert.match(index.headers["content-security-policy"], /script-src 'self'/);
  const rep = await get("/report/");
  assert.equal(rep.status, 200);
  assert.equal(rep.body.toString(), "<!doctype html><p>report</p>");
  assert.equal((await get("/report")).status, 301);
  assert.equal((await get("/report")).headers.location, "/report/");
  assert.equal((await get("/report/chart.svg")).headers["content-type"], "image/svg+xml");
  const cfg = await get("/sae/relu/blocks.1.hook_resid_post/cfg.json?x=1");
  assert.equal(cfg.status, 200);
  assert.match(cfg.headers["content-type"], /^application\/json/);
  assert.equal(JSON.parse(cfg.body.toString()).d_sae, 96);
  const w = await get("/sae/relu/blocks.1.hook_resid_post/sae_weights.safetensors");
  assert.equal(w.headers["content-type"], "application/octet-stream");
  assert.deepEqual(
    w.body,
    readFileSync(join(root, "sae", "relu", "blocks.1.hook_resid_post", "sae_weights.safetensors")),
  );
  const h = await get("/report/index.html", "", "HEAD");
  assert.equal(h.status, 200);
  assert.equal(h.headers["content-length"], "28");
  assert.equal(h.body.length, 0);
  assert.equal((await get("/link-in.html")).status, 200, "a symlink inside the run folder is served");
  assert.equal((await get("/nope.txt")).status, 404);
  assert.equal((await get("/features/12")).body.toString(), "feature 12", "/features/<id> -> features/<id>.html");
  assert.equal((await get("/features/3")).headers.location, "/features/3/");
  assert.equal((await get("/features/3/")).body.toString(), "feature 3");
  assert.equal((await get("/features/4")).status, 404);
});

test("the explorer's model files: only the fixed names of the model folder", async () => {
  const list = JSON.parse((await get("/explorer/saes.json")).body.toString());
  const relu = list.saes.find((x: { id: string }) => x.id === "relu/blocks.1.hook_resid_post");
  assert.equal(relu.model, "m0");
  assert.equal(relu.problem, null);
  assert.match(list.saes.find((x: { id: string }) => x.id !== relu.id).problem, /no sae_weights.safetensors/);
  assert.equal(list.models.m0.name, "gemma2-old");
  const m = await get("/model/m0/model.safetensors");
  assert.equal(m.status, 200);
  assert.deepEqual(m.body, readFileSync(join(FIXTURE_MODEL, "model.safetensors")));
  assert.equal((await get("/model/m0/config.json")).status, 200);
  assert.equal((await get("/model/m0/expected.safetensors")).status, 404);
  assert.equal((await get("/model/m0/inputs.json")).status, 404);
  assert.equal((await get("/model/m1/config.json")).status, 404);
  assert.equal((await get("/model/m0/%2e%2e/config.json")).status, 400);
  const page = await get("/explorer/");
  assert.equal(page.status, 200);
  assert.match(page.body.toString(), /<script type="module" src="\/explorer\/explorer.js">/);
  assert.equal((await get("/explorer")).status, 301);
});

test("path traversal, encoded traversal, NUL, backslashes, absolute targets, hidden files and symlinks out are refused", async () => {
  const cases: [string, number][] = [
    ["/../secret.txt", 400],
    ["/report/../../secret.txt", 400],
    ["/%2e%2e/secret.txt", 400],
    ["/%2E%2E/secret.txt", 400],
    ["/report/%2e%2e%2f%2e%2e%2fsecret.txt", 400],
    ["/..%2fsecret.txt", 400],
    ["/..%5csecret.txt", 400],
    ["/report\\..\\..\\secret.txt", 400],
    ["/report/index.html%00.png", 400],
    ["/report/%00", 400],
    ["/%ff%fe", 400],
    ["/%", 400],
    ["//etc/passwd", 400],
    [`/${join(base, "secret.txt")}`, 400],
    ["/etc/passwd", 404],
    ["http://127.0.0.1/secret.txt", 400],
    ["*", 400],
    ["/.hidden", 404],
    ["/link-out.txt", 403],
    ["/dir-out/x.txt", 403],
    ["/dir-out/", 403],
  ];
  for (const [path, status] of cases) {
    const r = await get(path);
    assert.equal(r.status, status, `${path}: got ${r.status} ${r.body.toString().trim()}`);
    assert.doesNotMatch(r.body.toString(), /SECRET/, path);
  }
});

test("other Host headers (DNS rebinding), missing Host, other methods, bodies and oversized requests are refused", async () => {
  for (const h of ["evil.example", `evil.example:${srv.port}`, "127.0.0.1:1", "localhost", `127.0.0.2:${srv.port}`]) {
    const r = await raw(`GET / HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 403, h);
  }
  assert.equal((await raw(`GET / HTTP/1.1\r\nHost: localhost:${srv.port}\r\nConnection: close\r\n\r\n`)).status, 200);
  assert.equal((await raw(`GET / HTTP/1.1\r\nHost: [::1]:${srv.port}\r\nConnection: close\r\n\r\n`)).status, 200);
  assert.equal((await raw("GET / HTTP/1.0\r\n\r\n")).status, 403, "no Host header");
  for (const m of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]) {
    const r = await raw(`${m} /report/ HTTP/1.1\r\nHost: ${host()}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 405, m);
    assert.equal(r.headers.allow, "GET, HEAD");
  }
  const body = await raw(`GET / HTTP/1.1\r\nHost: ${host()}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`);
  assert.equal(body.status, 413);
  const chunked = await raw(
    `GET / HTTP/1.1\r\nHost: ${host()}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  );
  assert.equal(chunked.status, 413);
  assert.equal((await get(`/${"a".repeat(3000)}`)).status, 414);
  assert.equal((await get(`/${"a/".repeat(600)}`)).status, 400);
  assert.equal((await get("/", `X-Big: ${"b".repeat(10_000)}\r\n`)).status, 431);
  const many = Array.from({ length: 200 }, (_, i) => `X-H${i}: 1\r\n`).join("");
  assert.ok([200, 431].includes((await get("/", many)).status), "many headers: served or refused, never a crash");
  assert.equal((await raw("GARBAGE\r\n\r\n")).status, 400);
  const up = await raw(`GET / HTTP/1.1\r\nHost: ${host()}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
  assert.equal(up.status, 400, "no upgrades (websockets)");
});

test("a burst of concurrent bad and good requests: every good one gets the exact bytes, the server keeps serving", async () => {
  const expected = readFileSync(join(FIXTURE_MODEL, "model.safetensors"));
  const jobs: Promise<unknown>[] = [];
  const good: Promise<Reply>[] = [];
  for (let i = 0; i < 120; i++) {
    switch (i % 6) {
      case 0:
        good.push(get("/model/m0/model.safetensors"));
        break;
      case 1:
        jobs.push(get("/%2e%2e/secret.txt").then((r) => assert.equal(r.status, 400)));
        break;
      case 2:
        jobs.push(
          raw(`POST / HTTP/1.1\r\nHost: ${host()}\r\nContent-Length: 3\r\n\r\nabc`).then((r) =>
            assert.equal(r.status, 405),
          ),
        );
        break;
      case 3:
        jobs.push(
          raw(Buffer.from([0x00, 0xff, 0x13, 0x0d, 0x0a, 0x0d, 0x0a])).then((r) => assert.equal(r.status, 400)),
        );
        break;
      case 4:
        jobs.push(get("/", `X-Big: ${"b".repeat(9000)}\r\n`).then((r) => assert.equal(r.status, 431)));
        break;
      default: {
        // a client that sends half a request and vanishes
        const s = net.connect(srv.port, "127.0.0.1");
        s.on("error", () => {});
        s.write("GET /report/ HTTP/1.1\r\nHost: ");
        setTimeout(() => s.destroy(), 50);
      }
    }
  }
  const replies = await Promise.all(good);
  await Promise.all(jobs);
  for (const r of replies) {
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(expected), "model bytes intact under load");
  }
  assert.equal((await get("/report/")).status, 200);
});

test("a port in use and a missing run folder are one-line errors", async () => {
  await assert.rejects(
    startServer({ root, port: srv.port, host: "127.0.0.1", model: null }),
    /port \d+ on 127.0.0.1 is in use/,
  );
  await assert.rejects(
    startServer({ root: join(base, "missing"), port: 0, host: "127.0.0.1", model: null }),
    /does not exist/,
  );
});

test("msae serve: bad options are usage errors naming the option", async () => {
  const { Command } = await import("commander");
  const { register } = await import("../../src/cli/serve.ts");
  const { UsageError } = await import("../../src/core/errors.ts");
  const parse = (args: string[]) => {
    const program = new Command().exitOverride();
    register(program);
    return program.parseAsync(["node", "msae", "serve", ...args]);
  };
  await assert.rejects(
    parse([join(base, "missing")]),
    (e: Error) => e instanceof UsageError && /does not exist/.test(e.message),
  );
  await assert.rejects(
    parse([root, "--port", "70000"]),
    (e: Error) => e instanceof UsageError && /--port/.test(e.message),
  );
  await assert.rejects(
    parse([root, "--host", "a b"]),
    (e: Error) => e instanceof UsageError && /--host/.test(e.message),
  );
  await assert.rejects(
    parse([root, "--model", base]),
    (e: Error) => e instanceof UsageError && /--model/.test(e.message),
  );
});
