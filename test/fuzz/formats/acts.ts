/**
 * Fuzz formats "activation store manifest" and "activation store shard": a small store harvested
 * from the gemma2-old fixture (3 shards), with its manifest.json or one shard file corrupted, opened by openStore
 * and read whole (every shard through chunks()). A correct load must give exactly the rows an
 * independent decode of the ORIGINAL shard files gives (header parsed here with JSON.parse, F32
 * and I32 read with DataView), with row counts that agree with the manifest, all finite: a
 * corruption may only be accepted when it changed nothing the data depends on.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openCorpus } from "../../../src/data/spec.ts";
import { runHarvest } from "../../../src/harvest/harvest.ts";
import { openStore } from "../../../src/harvest/store.ts";
import { loadModel } from "../../../src/lm/loader.ts";
import { byteCorruptors, type FuzzFormat, jsonCorruptors } from "../generator.ts";

const FIXTURE = join(import.meta.dirname, "..", "..", "golden", "lm", "gemma2-old");
const HOOK = "blocks.1.hook_resid_post";
const SHARD = "shard-00001.safetensors";

interface Loaded {
  rows: number;
  scale: number;
  d: number;
  acts: Float32Array[];
  context: Int32Array[];
}

let original: { acts: Float32Array; context: Int32Array }[] = [];
let originalScale = 0;
let storeDir = "";

/** Independent decode of one shard file: F32 acts and I32 context, from the raw bytes. */
function decodeShard(b: Uint8Array): { acts: Float32Array; context: Int32Array } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  const h = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n)));
  const at = (name: string) => 8 + n + h[name].data_offsets[0];
  const len = (name: string) => (h[name].data_offsets[1] - h[name].data_offsets[0]) / 4;
  const acts = new Float32Array(len("acts"));
  for (let i = 0; i < acts.length; i++) acts[i] = dv.getFloat32(at("acts") + 4 * i, true);
  const context = new Int32Array(len("context"));
  for (let i = 0; i < context.length; i++) context[i] = dv.getInt32(at("context") + 4 * i, true);
  return { acts, context };
}

async function makeBase(work: string): Promise<void> {
  if (storeDir && existsSync(storeDir)) return;
  const model = loadModel(FIXTURE);
  const run = join(work, "acts-base");
  rmSync(run, { recursive: true, force: true });
  await runHarvest(model, model.tokenizer as never, {
    modelDir: FIXTURE,
    corpus: openCorpus("brown:validation"),
    data: ["brown:validation"],
    hooks: [HOOK],
    tokens: 24 * 32,
    contextSize: 32,
    llmBatch: 4,
    dtype: "f32",
    runDir: run,
    keepSpecial: false,
    contextsPerShard: 8,
  });
  storeDir = join(run, "acts", HOOK);
  originalScale = (JSON.parse(readFileSync(join(storeDir, "manifest.json"), "utf8")) as { scale: { value: number } })
    .scale.value;
  original = [0, 1, 2].map((s) => decodeShard(readFileSync(join(storeDir, `shard-0000${s}.safetensors`))));
}

async function loadWith(file: string, bytes: Uint8Array, work: string): Promise<Loaded> {
  const dir = join(work, "acts-case");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, ".."), { recursive: true });
  cpSync(storeDir, dir, { recursive: true });
  writeFileSync(join(dir, file), bytes);
  const store = openStore(dir);
  const out: Loaded = { rows: store.rows, scale: store.scale, d: store.d, acts: [], context: [] };
  for await (const c of store.chunks()) {
    out.acts.push(c.acts[0].slice());
    out.context.push(c.context.slice());
  }
  return out;
}

function check(loaded: Loaded): void {
  if (loaded.acts.length !== original.length)
    throw new Error(`${loaded.acts.length} shards read, expected ${original.length}`);
  let rows = 0;
  loaded.acts.forEach((a, s) => {
    const o = original[s];
    if (a.length !== o.acts.length) throw new Error(`shard ${s}: ${a.length} values, expected ${o.acts.length}`);
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i])) throw new Error(`shard ${s}: non-finite value at ${i}`);
      if (a[i] !== o.acts[i]) throw new Error(`shard ${s}: value ${i} is ${a[i]}, the file held ${o.acts[i]}`);
    }
    if (loaded.context[s].some((c, i) => c !== o.context[i])) throw new Error(`shard ${s}: contexts differ`);
    rows += o.context.length;
  });
  if (loaded.rows !== rows) throw new Error(`the store reports ${loaded.rows} rows, its shards hold ${rows}`);
  if (loaded.scale !== originalScale) throw new Error(`scale ${loaded.scale}, the harvest recorded ${originalScale}`);
  if (loaded.d * rows !== loaded.acts.reduce((n, a) => n + a.length, 0)) throw new Error("d disagrees with the data");
}

export const actsManifestFormat: FuzzFormat<Loaded> = {
  name: "activation store manifest",
  bases: async (work) => {
    await makeBase(work);
    return [readFileSync(join(storeDir, "manifest.json"))];
  },
  corruptors: [...jsonCorruptors, ...byteCorruptors],
  load: (bytes, work) => loadWith("manifest.json", bytes, work),
  check,
};

export const actsShardFormat: FuzzFormat<Loaded> = {
  name: "activation store shard",
  bases: async (work) => {
    await makeBase(work);
    return [readFileSync(join(storeDir, SHARD))];
  },
  // Every changed byte fails the shard's crc32, so the control (an unchanged copy) is what loads.
  corruptors: [...byteCorruptors, { name: "unchanged copy (control)", apply: (b) => Uint8Array.from(b) }],
  load: (bytes, work) => loadWith(SHARD, bytes, work),
  check,
};
