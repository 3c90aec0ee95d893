/**
 * `msae harvest` / `msae acts` as a user runs them (child processes):
 *  - a harvest killed with SIGKILL midway and rerun with the same command ends with shard files
 *    byte-identical to an uninterrupted run, and an identical manifest;
 *  - two parts (--shard 0/2, 1/2) harvested in separate processes and indexed give the same files
 *    as one harvest, hence the same buffer batches;
 *  - faults: another dtype into the same folder, a damaged or truncated shard, an incomplete store,
 *    an unwritable --out, a corpus that is too short, bad options: one line each, never a mix.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ActivationBuffer } from "../../src/harvest/buffer.ts";
import { openStore, openStores } from "../../src/harvest/store.ts";
import { BIN, msae, ROOT } from "../helpers/cli.ts";

const FIXTURE = join(ROOT, "test", "golden", "lm", "gemma2-old");
const dir = mkdtempSync(join(tmpdir(), "msae-harvest-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function shardBytes(store: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const f of readdirSync(store)
    .filter((f) => f.startsWith("shard-"))
    .sort())
    out.set(f, readFileSync(join(store, f)));
  return out;
}

function assertSameFiles(a: string, b: string): void {
  const x = shardBytes(a);
  const y = shardBytes(b);
  assert.deepEqual([...x.keys()], [...y.keys()]);
  for (const [f, bytes] of x) assert.ok(bytes.equals(y.get(f)!), `${f} differs`);
}

const HOOK = "blocks.3.hook_resid_post";
const KILL_ARGS = (out: string) => [
  "harvest",
  "--hooks",
  `blocks.1.hook_resid_post,${HOOK}`,
  "--data",
  "brown:validation",
  "--tokens",
  String(128 * 4 * 40),
  "--llm-batch",
  "4",
  "--shard-contexts",
  "4",
  "--dtype",
  "bf16",
  "--out",
  out,
];

test("a harvest killed with SIGKILL midway resumes to the same bytes as an uninterrupted run", async () => {
  const full = join(dir, "full");
  const r = msae(KILL_ARGS(full));
  assert.equal(r.code, 0, r.stderr);
  const killed = join(dir, "killed");
  const child = spawn(process.execPath, [BIN, ...KILL_ARGS(killed)], { cwd: ROOT, stdio: "ignore" });
  const manifest = join(killed, "acts", HOOK, "manifest.json");
  const listed = () => {
    try {
      return (JSON.parse(readFileSync(manifest, "utf8")) as { shards: unknown[] }).shards.length;
    } catch {
      return 0;
    }
  };
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (listed() >= 4) {
        clearInterval(poll);
        child.kill("SIGKILL");
        resolve();
      }
    }, 5);
    child.on("exit", () => {
      clearInterval(poll);
      reject(new Error("the harvest finished before it could be killed; make it longer"));
    });
  });
  await new Promise((r) => child.once("exit", r));
  const m = JSON.parse(readFileSync(manifest, "utf8")) as { complete: boolean; shards: unknown[] };
  assert.equal(m.complete, false);
  assert.ok(m.shards.length < 40);
  assert.throws(() => openStore(join(killed, "acts", HOOK)), /incomplete store .*rerun the same harvest command/);
  const again = msae(KILL_ARGS(killed));
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /kept from an earlier run/);
  for (const h of ["blocks.1.hook_resid_post", HOOK]) {
    assertSameFiles(join(full, "acts", h), join(killed, "acts", h));
    const a = JSON.parse(readFileSync(join(full, "acts", h, "manifest.json"), "utf8"));
    const b = JSON.parse(readFileSync(join(killed, "acts", h, "manifest.json"), "utf8"));
    assert.deepEqual({ ...b, model_path: a.model_path }, a);
    assert.deepEqual(
      readdirSync(join(killed, "acts", h)).filter((f) => f.includes(".tmp")),
      [],
    );
  }
  // A rerun of a finished harvest verifies and keeps everything.
  const third = msae(KILL_ARGS(killed));
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stdout, /0 shards written, 40 kept/);
});

const SMALL = (out: string, extra: string[] = [], hooks = ["--hooks", "blocks.2.hook_resid_post"]) => [
  "harvest",
  "--model",
  FIXTURE,
  ...hooks,
  "--data",
  "brown:validation",
  "--tokens",
  "3000",
  "--context",
  "32",
  "--llm-batch",
  "4",
  "--shard-contexts",
  "8",
  "--out",
  out,
  ...extra,
];

test("two --shard parts in separate processes, indexed, equal one harvest (files and batches)", async () => {
  const one = join(dir, "one");
  assert.equal(msae(SMALL(one)).code, 0);
  const two = join(dir, "two");
  const p0 = msae(SMALL(two, ["--shard", "0/2"]));
  assert.equal(p0.code, 0, p0.stderr);
  assert.match(p0.stdout, /msae acts index/);
  assert.throws(() => openStore(join(two, "acts", "blocks.2.hook_resid_post")), /manifest parts but no manifest\.json/);
  const early = msae(["acts", "index", join(two, "acts")]);
  assert.equal(early.code, 1);
  assert.match(early.stderr, /^msae: .*parts 1 of 2 are missing; run them with --shard i\/2\n$/);
  assert.equal(msae(SMALL(two, ["--shard", "1/2"])).code, 0);
  const idx = msae(["acts", "index", join(two, "acts"), "--verify"]);
  assert.equal(idx.code, 0, idx.stderr);
  assert.match(idx.stdout, /indexed 2 parts, 12 shards/);
  const h = "blocks.2.hook_resid_post";
  assertSameFiles(join(one, "acts", h), join(two, "acts", h));
  const a = JSON.parse(readFileSync(join(one, "acts", h, "manifest.json"), "utf8"));
  const b = JSON.parse(readFileSync(join(two, "acts", h, "manifest.json"), "utf8"));
  assert.deepEqual(b, a);
  const batches = async (p: string) => {
    const out: Float32Array[] = [];
    for await (const x of new ActivationBuffer(openStores([p]), {
      bufferContexts: 20,
      batchSize: 128,
      seed: 1,
    }).epoch())
      out.push(x.acts[0].slice());
    return out;
  };
  assert.deepEqual(await batches(join(two, "acts", h)), await batches(join(one, "acts", h)));
  const insp = msae(["acts", "inspect", join(two, "acts")]);
  assert.equal(insp.code, 0);
  assert.match(insp.stdout, /hook blocks\.2\.hook_resid_post {2}d 48 {2}f32 {2}complete/);
});

test("faults are one line: another dtype, damaged shards, unwritable --out, a short corpus, bad options", () => {
  const out = join(dir, "faults");
  assert.equal(msae(SMALL(out)).code, 0);
  const store = join(out, "acts", "blocks.2.hook_resid_post");
  const mixed = msae(SMALL(out, ["--dtype", "bf16"]));
  assert.equal(mixed.code, 1);
  assert.match(
    mixed.stderr,
    /^msae: .*holds a store made with a different dtype \("f32" vs "bf16"\); use another --out/,
  );
  assert.equal(mixed.stderr.trim().split("\n").length, 1);

  // Flip one byte inside a shard: the checksum catches it on read.
  const shard = join(store, "shard-00003.safetensors");
  const bytes = readFileSync(shard);
  bytes[bytes.length - 100] ^= 0x40;
  writeFileSync(shard, bytes);
  const s = openStore(store);
  assert.throws(() => s.readShard(3), /shard-00003\.safetensors fails its checksum/);
  truncateSync(shard, bytes.length - 8);
  assert.throws(
    () => openStore(store),
    /shard-00003\.safetensors has \d+ bytes but the manifest says \d+: the shard is damaged/,
  );

  writeFileSync(join(dir, "a-file"), "x");
  const unwritable = msae(SMALL(join(dir, "a-file", "run")));
  assert.equal(unwritable.code, 1);
  assert.match(unwritable.stderr, /^msae: cannot write the activation store at .*a-file.*: (ENOTDIR|EEXIST)\n$/);

  const short = msae(SMALL(join(dir, "short"), ["--tokens", "10000000"]));
  assert.equal(short.code, 1);
  assert.match(short.stderr, /^msae: the corpus has only \d+ contexts of 32 tokens .*lower --tokens or add data\n$/);

  for (const [args, re] of [
    [["--shard", "2/2"], /--shard/],
    [["--dtype", "f8"], /--dtype/],
    [["--tokens", "0"], /--tokens/],
    [["--llm-batch", "x"], /--llm-batch/],
    [["--layers", "1,9"], /--layers "1,9" is not valid/],
  ] as const) {
    const layers = args[0] === "--layers";
    const r = msae(SMALL(join(dir, "bad"), layers ? [] : [...args], layers ? [...args] : undefined));
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  assert.ok(!existsSync(join(dir, "bad", "acts", "blocks.2.hook_resid_post", "manifest.json")));
});

test("a full disk stops with one line and leaves the store resumable to the same bytes (needs root to mount a small tmpfs)", (t) => {
  const mnt = join(dir, "small");
  spawnSync("mkdir", ["-p", mnt]);
  if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt]).status !== 0) {
    t.skip("cannot mount a tmpfs here (not root or no privilege)");
    return;
  }
  try {
    const args = (out: string) => SMALL(out, ["--tokens", "40000", "--shard-contexts", "40"]);
    const full = msae(args(join(mnt, "run")));
    assert.equal(full.code, 1);
    assert.match(
      full.stderr.split("\n").slice(-2)[0],
      /^msae: .*(shard-\d+\.safetensors|manifest\.json): cannot write \(ENOSPC\)/,
    );
    assert.throws(() => openStore(join(mnt, "run", "acts", "blocks.2.hook_resid_post")), /incomplete store/);
    assert.equal(spawnSync("mount", ["-o", "remount,size=40m", mnt]).status, 0);
    const resumed = msae(args(join(mnt, "run")));
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /[1-9]\d* kept from an earlier run/);
    const ref = join(dir, "full-disk-ref");
    assert.equal(msae(args(ref)).code, 0);
    assertSameFiles(
      join(mnt, "run", "acts", "blocks.2.hook_resid_post"),
      join(ref, "acts", "blocks.2.hook_resid_post"),
    );
    assert.equal(
      readFileSync(join(mnt, "run", "acts", "blocks.2.hook_resid_post", "manifest.json"), "utf8"),
      readFileSync(join(ref, "acts", "blocks.2.hook_resid_post", "manifest.json"), "utf8").replace(
        ref,
        join(mnt, "run"),
      ),
    );
  } finally {
    spawnSync("umount", [mnt]);
  }
});
