/**
 * Sharded checkpoints: a 2-shard folder made here (index JSON written by hand), read as one;
 * openWeights' choice of file; one-line errors naming the tensor and the shard; the sharded writer.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { SafetensorsError, SafetensorsFile } from "../../src/io/safetensors.ts";
import {
  openSharded,
  openWeights,
  ShardedSafetensors,
  writeShardedSafetensors,
} from "../../src/io/safetensors-sharded.ts";
import { writeSafetensorsSync } from "../../src/io/safetensors-write.ts";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "msae-shard-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let counter = 0;

const W1 = Float32Array.from({ length: 12 }, (_, i) => i - 6);
const W2 = Float32Array.from({ length: 6 }, (_, i) => i / 4);
const EMB = Uint16Array.from([0x3c00, 0x4000, 0xc200, 0x0000]); // F16 bits of 1, 2, -3, 0

/** A fresh folder with shard 1 {w1, emb}, shard 2 {w2}, and an index written by hand. */
function twoShardDir(indexText?: string): string {
  const dir = path.join(root, `m${counter++}`);
  fs.mkdirSync(dir);
  writeSafetensorsSync(
    path.join(dir, "model-00001-of-00002.safetensors"),
    { w1: { dtype: "F32", shape: [3, 4], data: W1 }, emb: { dtype: "F16", shape: [2, 2], data: EMB } },
    { format: "pt" },
  );
  writeSafetensorsSync(
    path.join(dir, "model-00002-of-00002.safetensors"),
    { w2: { dtype: "F32", shape: [6], data: W2 } },
    { format: "pt" },
  );
  const index =
    indexText ??
    '{"metadata": {"total_size": 80}, "weight_map": {"emb": "model-00001-of-00002.safetensors", ' +
      '"w1": "model-00001-of-00002.safetensors", "w2": "model-00002-of-00002.safetensors"}}';
  fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), index);
  return dir;
}

function assertOneLine(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, String(e));
    for (const p of parts) assert.ok(e.message.includes(p), `${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
    assert.ok(!e.message.includes("\n"));
    return true;
  });
}

test("a 2-shard folder reads as one: names, info, read, readF32, rows", () => {
  const dir = twoShardDir();
  for (const s of [openSharded(dir), openSharded(path.join(dir, "model.safetensors.index.json")), openWeights(dir)]) {
    assert.ok(s instanceof ShardedSafetensors);
    assert.deepEqual(s.names(), ["emb", "w1", "w2"]);
    assert.deepEqual(s.metadata, { format: "pt" });
    assert.deepEqual((s as ShardedSafetensors).indexMetadata, { total_size: 80 });
    assert.deepEqual(s.info("w1"), { dtype: "F32", shape: [3, 4], byteLength: 48 });
    assert.deepEqual(s.read("w1"), W1);
    assert.deepEqual(s.read("w2"), W2);
    assert.deepEqual([...s.readF32("emb")], [1, 2, -3, 0]);
    assert.deepEqual(s.read("w1", [2, 3]), W1.subarray(8, 12));
    assert.ok((s as ShardedSafetensors).shardPath("w2").endsWith("model-00002-of-00002.safetensors"));
    assert.ok(!s.has("nope"));
    assertOneLine(() => s.info("nope"), 'tensor "nope": not found in the weight_map');
    s.close();
  }
});

test("openWeights prefers model.safetensors, accepts a file path, and names both files when neither exists", () => {
  const dir = twoShardDir();
  writeSafetensorsSync(path.join(dir, "model.safetensors"), {
    only: { dtype: "F32", shape: [1], data: Float32Array.from([7]) },
  });
  const w = openWeights(dir);
  assert.ok(w instanceof SafetensorsFile);
  assert.deepEqual(w.names(), ["only"]);
  w.close();
  const direct = openWeights(path.join(dir, "model-00002-of-00002.safetensors"));
  assert.deepEqual(direct.names(), ["w2"]);
  direct.close();
  const empty = path.join(root, `empty${counter++}`);
  fs.mkdirSync(empty);
  assertOneLine(
    () => openWeights(empty),
    empty,
    "has no weights; expected model.safetensors or model.safetensors.index.json",
  );
  assertOneLine(() => openWeights(path.join(empty, "nothing")), "does not exist");
});

test("index errors name the tensor and the shard", () => {
  const shard1 = "model-00001-of-00002.safetensors";
  // a shard file that is missing
  let dir = twoShardDir();
  fs.rmSync(path.join(dir, "model-00002-of-00002.safetensors"));
  assertOneLine(
    () => openSharded(dir),
    'tensor "w2": is mapped to shard "model-00002-of-00002.safetensors", which does not exist',
  );
  // a tensor the map puts in the wrong shard
  dir = twoShardDir(`{"weight_map": {"w1": "${shard1}", "w2": "${shard1}"}}`);
  assertOneLine(() => openSharded(dir), `tensor "w2": is mapped to shard "${shard1}", which does not contain it`);
  // path traversal, wrong types, duplicate keys, bad JSON, no weight_map
  dir = twoShardDir('{"weight_map": {"w1": "../model-00001-of-00002.safetensors"}}');
  assertOneLine(
    () => openSharded(dir),
    'tensor "w1": weight_map names shard "../model-00001-of-00002.safetensors"; expected a plain file name',
  );
  dir = twoShardDir('{"weight_map": {"w1": 3}}');
  assertOneLine(() => openSharded(dir), 'tensor "w1": weight_map value is a number; expected a shard file name');
  dir = twoShardDir(`{"weight_map": {"w1": "${shard1}", "w1": "${shard1}"}}`);
  assertOneLine(() => openSharded(dir), 'shard index is not valid JSON: duplicate key "w1"');
  dir = twoShardDir('{"weight_map": ');
  assertOneLine(() => openSharded(dir), "shard index is not valid JSON");
  dir = twoShardDir('{"metadata": {}}');
  assertOneLine(() => openSharded(dir), 'shard index "weight_map" is missing; expected {tensor: shard file}');
  dir = twoShardDir("[]");
  assertOneLine(() => openSharded(dir), "shard index is a JSON array");
  // a corrupt shard: the shard's own error, naming the shard file
  dir = twoShardDir();
  const p2 = path.join(dir, "model-00002-of-00002.safetensors");
  fs.truncateSync(p2, fs.statSync(p2).size - 1);
  assertOneLine(() => openSharded(dir), p2, 'tensor "w2"', "run past");
  // no index at all
  const empty = path.join(root, `empty${counter++}`);
  fs.mkdirSync(empty);
  assertOneLine(() => openSharded(empty), "cannot read the shard index (no such file)");
});

test("writeShardedSafetensors splits by size, writes a correct index, and cleans stale files", async () => {
  const dir = path.join(root, `out${counter++}`);
  const tensors = {
    a: { dtype: "F32" as const, shape: [10], data: Float32Array.from({ length: 10 }, (_, i) => i) }, // 40 bytes
    b: { dtype: "F32" as const, shape: [10], data: Float32Array.from({ length: 10 }, (_, i) => -i) }, // 40
    c: { dtype: "F16" as const, shape: [4], data: Float32Array.from([1, 2, 3, 4]) }, // 8
    d: { dtype: "F64" as const, shape: [8], data: Float64Array.from({ length: 8 }, (_, i) => i / 8) }, // 64
  };
  const files = await writeShardedSafetensors(dir, tensors, { maxShardBytes: 90, metadata: { format: "pt" } });
  // sorted names, greedy: [a, b] = 80, [c] would make 88 -> fits: [a, b, c] = 88; [d] = 64
  assert.deepEqual(
    files.map((f) => path.basename(f)),
    ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"],
  );
  const index = JSON.parse(fs.readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8"));
  assert.deepEqual(index, {
    metadata: { total_size: 152 },
    weight_map: {
      a: "model-00001-of-00002.safetensors",
      b: "model-00001-of-00002.safetensors",
      c: "model-00001-of-00002.safetensors",
      d: "model-00002-of-00002.safetensors",
    },
  });
  const w = openWeights(dir);
  assert.deepEqual(w.names(), ["a", "b", "c", "d"]);
  assert.deepEqual([...w.readF32("c")], [1, 2, 3, 4]);
  assert.deepEqual(w.read("d"), tensors.d.data);
  w.close();
  // one tensor larger than the limit gets a shard of its own
  const big = await writeShardedSafetensors(dir, tensors, { maxShardBytes: 30 });
  assert.equal(big.length, 5);
  assert.ok(!fs.existsSync(path.join(dir, "model-00001-of-00002.safetensors")), "stale shard removed");
  // everything fits: a single model.safetensors, the index and shards removed
  const single = await writeShardedSafetensors(dir, tensors);
  assert.deepEqual(
    single.map((f) => path.basename(f)),
    ["model.safetensors"],
  );
  assert.deepEqual(fs.readdirSync(dir).sort(), ["model.safetensors"]);
});
