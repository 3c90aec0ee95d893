/**
 * Atomic writes: the target holds the old complete content until commit and the new complete content
 * after; a failure mid-write (abort, a throwing producer, a killed process) leaves the old file intact
 * and, except for a SIGKILL, no temp file (removeStaleTempFiles cleans up after a killed process).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  AtomicWriter,
  atomicWriteFile,
  atomicWriteJson,
  removeStaleTempFiles,
  withAtomicWriter,
} from "../../src/io/atomic.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "msae-atomic-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let counter = 0;
function freshDir(): string {
  const d = path.join(root, `d${counter++}`);
  fs.mkdirSync(d);
  return d;
}
const tempFiles = (d: string) => fs.readdirSync(d).filter((n) => n.includes(".tmp-"));

test("atomicWriteFile writes strings, bytes and chunk sequences, replacing the old file", () => {
  const d = freshDir();
  const p = path.join(d, "f.txt");
  atomicWriteFile(p, "héllo\n");
  assert.equal(fs.readFileSync(p, "utf8"), "héllo\n");
  atomicWriteFile(p, Uint8Array.from([1, 2, 3]));
  assert.deepEqual([...fs.readFileSync(p)], [1, 2, 3]);
  function* chunks() {
    yield "ab";
    yield Uint8Array.from([0x63]);
    yield new Uint8Array(0);
    yield "d";
  }
  atomicWriteFile(p, chunks());
  assert.equal(fs.readFileSync(p, "utf8"), "abcd");
  atomicWriteFile(p, [Buffer.from("x"), Buffer.from("y")]);
  assert.equal(fs.readFileSync(p, "utf8"), "xy");
  assert.deepEqual(tempFiles(d), []);
  assert.deepEqual(fs.readdirSync(d), ["f.txt"]);
});

test("atomicWriteJson writes pretty JSON with a trailing newline and rejects non-JSON values", () => {
  const d = freshDir();
  const p = path.join(d, "c.json");
  atomicWriteJson(p, { a: [1, 2], b: "x" });
  assert.equal(fs.readFileSync(p, "utf8"), '{\n  "a": [\n    1,\n    2\n  ],\n  "b": "x"\n}\n');
  assert.throws(() => atomicWriteJson(p, undefined), /not JSON-serializable/);
  assert.throws(() => atomicWriteJson(p, { n: 1n }), TypeError);
  assert.equal(JSON.parse(fs.readFileSync(p, "utf8")).b, "x");
  assert.deepEqual(tempFiles(d), []);
});

test("streaming writer: the old file stays visible until commit; abort leaves it intact and no temp file", async () => {
  const d = freshDir();
  const p = path.join(d, "big.bin");
  fs.writeFileSync(p, "old content");
  const w = AtomicWriter.open(p);
  await w.write(Buffer.alloc(100_000, 1));
  w.writeSync("tail");
  assert.equal(w.bytesWritten, 100_004);
  assert.equal(fs.readFileSync(p, "utf8"), "old content", "readers still see the old file");
  assert.equal(tempFiles(d).length, 1);
  w.abort();
  w.abort(); // idempotent
  assert.equal(fs.readFileSync(p, "utf8"), "old content");
  assert.deepEqual(tempFiles(d), []);
  await assert.rejects(() => w.write("more"), /write after aborted; expected an open writer/);

  const w2 = AtomicWriter.open(p);
  await w2.write("new ");
  await w2.write(Buffer.from("content"));
  assert.equal(fs.readFileSync(p, "utf8"), "old content");
  await w2.commit();
  assert.equal(fs.readFileSync(p, "utf8"), "new content");
  assert.throws(() => w2.commitSync(), /commit after committed/);
  w2.abort(); // a no-op after commit: the new file stays
  assert.equal(fs.readFileSync(p, "utf8"), "new content");
  assert.deepEqual(tempFiles(d), []);
});

test("a producer that throws mid-write leaves the old file intact and no temp file", async () => {
  const d = freshDir();
  const p = path.join(d, "ckpt.bin");
  fs.writeFileSync(p, "checkpoint 1");
  await assert.rejects(
    withAtomicWriter(p, async (w) => {
      await w.write("checkpoint 2, first half");
      throw new Error("disk on fire");
    }),
    /disk on fire/,
  );
  assert.equal(fs.readFileSync(p, "utf8"), "checkpoint 1");
  assert.deepEqual(tempFiles(d), []);
  // a fresh target that fails is not created at all
  const q = path.join(d, "new.bin");
  assert.throws(() =>
    atomicWriteFile(
      q,
      (function* () {
        yield "part";
        throw new Error("producer failed");
      })(),
    ),
  );
  assert.equal(fs.existsSync(q), false);
  assert.deepEqual(tempFiles(d), []);
  const result = await withAtomicWriter(q, (w) => {
    w.writeSync("ok");
    return 42;
  });
  assert.equal(result, 42);
  assert.equal(fs.readFileSync(q, "utf8"), "ok");
});

test("writeSafetensors failing mid-stream keeps the old file and removes its temp file", async () => {
  const d = freshDir();
  const p = path.join(d, "w.safetensors");
  await writeSafetensors(p, { old: { dtype: "F32", shape: [2], data: Float32Array.from([1, 2]) } });
  const before = fs.readFileSync(p);
  let calls = 0;
  const failingBackend = {
    f32ToF16(src: Float32Array, out: Uint16Array) {
      if (++calls === 2) throw new Error("conversion failed on chunk 2");
      out.fill(src.length > 0 ? 0x3c00 : 0);
    },
    f32ToBf16() {
      throw new Error("unused");
    },
  };
  await assert.rejects(
    writeSafetensors(p, { big: { dtype: "F16", shape: [200_000], data: new Float32Array(200_000) } }, undefined, {
      backend: failingBackend,
    }),
    /conversion failed on chunk 2/,
  );
  assert.equal(calls, 2, "failed after the first chunk had been written");
  assert.deepEqual(fs.readFileSync(p), before);
  assert.deepEqual(tempFiles(d), []);
  const f = SafetensorsFile.open(p);
  assert.deepEqual(f.names(), ["old"]);
  f.close();
});

test("a killed process leaves the old file intact; removeStaleTempFiles removes its temp file", () => {
  const d = freshDir();
  const p = path.join(d, "run.json");
  fs.writeFileSync(p, '{"step": 1}');
  const atomicUrl = new URL("../../src/io/atomic.ts", import.meta.url).href;
  const script = `
    import { AtomicWriter } from ${JSON.stringify(atomicUrl)};
    const w = AtomicWriter.open(${JSON.stringify(p)});
    w.writeSync('{"step": 2, "half');
    process.kill(process.pid, "SIGKILL");
  `;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: path.dirname(fileURLToPath(import.meta.url)),
    encoding: "utf8",
  });
  assert.equal(r.signal, "SIGKILL", r.stderr);
  assert.equal(fs.readFileSync(p, "utf8"), '{"step": 1}');
  assert.equal(tempFiles(d).length, 1, "the killed writer's temp file is left behind");
  // a temp file of this (live) process is kept
  const live = AtomicWriter.open(path.join(d, "other.json"));
  assert.deepEqual(removeStaleTempFiles(d).length, 1);
  assert.deepEqual(tempFiles(d), [path.basename(live.tempPath)]);
  live.abort();
  assert.deepEqual(fs.readdirSync(d), ["run.json"]);
  assert.deepEqual(removeStaleTempFiles(path.join(d, "missing")), []);
});
