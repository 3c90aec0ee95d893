/**
 * Reading an activation store (layout in manifest.ts).
 *
 * openStore(dir) validates the manifest (complete, the shards tile [0, contexts_total) in order,
 * rows add up) and every shard file's size at once; each shard's crc32 is checked the first time it
 * is read in a process, its header and tensor shapes every time. chunks() yields one ActChunk per
 * shard (acts widened to float32), in context order; memory is one shard at a time.
 *
 * openStores(dirs) joins several hooks' stores of the same harvest (identical identity but for the
 * hook, identical shard layout and token crcs) into one source whose chunks carry every hook, so a
 * buffer can feed SAEs on several hooks with the same shuffled rows.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { crc32 } from "node:zlib";
import type { Backend } from "../core/backend.ts";
import { SafetensorsFile } from "../io/safetensors.ts";
import type { ActChunk } from "./activations.ts";
import {
  identityDifference,
  identityOf,
  type Manifest,
  manifestPath,
  PART_RE,
  readManifest,
  type ShardEntry,
  StoreError,
  shardContexts,
  shardCount,
} from "./manifest.ts";

/** What the activation buffer reads: chunks of rows in context order, every hook per chunk. */
export interface ChunkSource {
  readonly hooks: readonly string[];
  readonly d: number;
  readonly contextsTotal: number;
  /** Chunks of contexts [start, end) (whole chunks; rows outside the range are trimmed). */
  chunks(start?: number, end?: number): AsyncIterable<ActChunk>;
}

const DTYPE_OF = { f32: "F32", bf16: "BF16", f16: "F16" } as const;
const verified = new Set<string>();

export interface OpenStoreOptions {
  /** Widens BF16 / F16 shards (default: the TypeScript twins; pass getBackend() for the addon's). */
  backend?: Pick<Backend, "f16ToF32" | "bf16ToF32">;
}

export class ActivationStore implements ChunkSource {
  readonly dir: string;
  readonly manifest: Manifest;
  readonly hooks: readonly string[];
  readonly d: number;
  readonly contextsTotal: number;
  private readonly backend: OpenStoreOptions["backend"];

  constructor(dir: string, manifest: Manifest, options: OpenStoreOptions = {}) {
    this.dir = dir;
    this.manifest = manifest;
    this.hooks = [manifest.hook];
    this.d = manifest.d;
    this.contextsTotal = manifest.contexts_total;
    this.backend = options.backend;
  }

  get hook(): string {
    return this.manifest.hook;
  }

  get rows(): number {
    return this.manifest.rows;
  }

  /** The dataset constant c (E||c x||^2 = d). */
  get scale(): number {
    return this.manifest.scale!.value;
  }

  /** Reads shard s (crc on first read, header and shapes always). */
  readShard(s: number): ActChunk {
    const e = this.manifest.shards[s];
    const file = join(this.dir, e.file);
    // Verified once per process per file version (a replaced file has another inode / mtime).
    const st = statSync(file, { bigint: true });
    const key = `${file}\0${st.ino}\0${st.mtimeNs}\0${st.size}`;
    if (!verified.has(key)) {
      const bytes = readFileSync(file);
      if (bytes.byteLength !== e.bytes)
        throw new StoreError(
          `${file} has ${bytes.byteLength} bytes but the manifest says ${e.bytes}: the shard is damaged`,
        );
      const got = crc32(bytes).toString(16).padStart(8, "0");
      if (got !== e.crc32)
        throw new StoreError(`${file} fails its checksum (crc32 ${got}, manifest ${e.crc32}): the shard is damaged`);
      verified.add(key);
    }
    const f = SafetensorsFile.open(file);
    try {
      const d = this.d;
      const want = DTYPE_OF[this.manifest.dtype];
      const a = f.has("acts") ? f.info("acts") : null;
      if (!a || a.dtype !== want || a.shape.length !== 2 || a.shape[0] !== e.rows || a.shape[1] !== d)
        throw new StoreError(
          `${file}: tensor "acts" is ${a ? `${a.dtype} [${a.shape.join(", ")}]` : "missing"}; expected ${want} [${e.rows}, ${d}]`,
        );
      const ints = (name: string): Int32Array => {
        const i = f.has(name) ? f.info(name) : null;
        if (i?.dtype !== "I32" || i.shape.length !== 1 || i.shape[0] !== e.rows)
          throw new StoreError(
            `${file}: tensor "${name}" is ${i ? `${i.dtype} [${i.shape.join(", ")}]` : "missing"}; expected I32 [${e.rows}]`,
          );
        return f.read(name) as Int32Array;
      };
      const context = ints("context");
      const chunk: ActChunk = {
        contexts: [e.contexts[0], e.contexts[1]],
        rows: e.rows,
        acts: [f.readF32("acts", { backend: this.backend })],
        token: ints("token"),
        context,
        position: ints("position"),
      };
      if (e.rows > 0 && (context[0] < e.contexts[0] || context[e.rows - 1] >= e.contexts[1]))
        throw new StoreError(`${file}: its rows' contexts fall outside [${e.contexts[0]}, ${e.contexts[1]})`);
      return chunk;
    } finally {
      f.close();
    }
  }

  async *chunks(start = 0, end = this.contextsTotal): AsyncGenerator<ActChunk> {
    for (const e of this.manifest.shards) {
      if (e.contexts[1] <= start || e.contexts[0] >= end) continue;
      yield trimChunk(this.readShard(e.index), start, end);
    }
  }
}

/** Rows of chunk whose context lies in [start, end) (the chunk itself when all do). */
export function trimChunk(c: ActChunk, start: number, end: number): ActChunk {
  if (c.contexts[0] >= start && c.contexts[1] <= end) return c;
  let a = 0;
  while (a < c.rows && c.context[a] < start) a++;
  let b = a;
  while (b < c.rows && c.context[b] < end) b++;
  const d = c.rows > 0 ? c.acts[0].length / c.rows : 0;
  return {
    contexts: [Math.max(start, c.contexts[0]), Math.min(end, c.contexts[1])],
    rows: b - a,
    acts: c.acts.map((x) => x.subarray(a * d, b * d)),
    token: c.token.subarray(a, b),
    context: c.context.subarray(a, b),
    position: c.position.subarray(a, b),
  };
}

/** Checks that shard entries tile shards [first, end) of the identity exactly, in order. */
export function checkShardTiling(
  where: string,
  m: Pick<Manifest, "contexts_total" | "contexts_per_shard">,
  shards: readonly ShardEntry[],
  first: number,
  end: number,
): void {
  if (shards.length !== end - first)
    throw new StoreError(
      `${where} lists ${shards.length} shards; expected ${end - first} (shards ${first}..${end - 1})`,
    );
  shards.forEach((e, k) => {
    const s = first + k;
    const [a, b] = shardContexts(m, s);
    if (e.index !== s || e.contexts[0] !== a || e.contexts[1] !== b)
      throw new StoreError(
        `${where}: entry ${k} is shard ${e.index} with contexts [${e.contexts.join(", ")}); expected shard ${s} with [${a}, ${b})`,
      );
  });
}

function describeDir(dir: string): string {
  if (!existsSync(dir)) return `${dir} does not exist`;
  if (!statSync(dir).isDirectory()) return `${dir} is not a folder`;
  const acts = existsSync(join(dir, "acts")) ? join(dir, "acts") : dir;
  return `${dir} has no manifest.json${acts !== dir ? ` (a run folder: give one of ${acts}/<hook>)` : ""}`;
}

/** Opens a complete store folder runs/<name>/acts/<hook> (see the header). */
export function openStore(path: string, options: OpenStoreOptions = {}): ActivationStore {
  const dir = resolve(path);
  const mpath = manifestPath(dir);
  if (!existsSync(mpath)) {
    if (existsSync(dir) && statSync(dir).isDirectory()) {
      if (readdirSync(dir).some((f) => PART_RE.test(f)))
        throw new StoreError(
          `${dir} holds manifest parts but no manifest.json: run \`msae acts index ${path}\` once every part is done`,
        );
    }
    throw new StoreError(`not an activation store: ${describeDir(dir)}`);
  }
  const m = readManifest(mpath);
  if (m.part !== null)
    throw new StoreError(`${mpath} is a manifest part; expected a combined manifest (run msae acts index)`);
  if (!m.complete)
    throw new StoreError(
      `${dir} is an incomplete store (${m.shards.length} of ${shardCount(m)} shards): rerun the same harvest command to resume it`,
    );
  checkShardTiling(mpath, m, m.shards, 0, shardCount(m));
  let rows = 0;
  for (const e of m.shards) {
    rows += e.rows;
    const file = join(dir, e.file);
    if (!existsSync(file)) throw new StoreError(`${file} is missing; the manifest lists it`);
    const size = statSync(file).size;
    if (size !== e.bytes)
      throw new StoreError(`${file} has ${size} bytes but the manifest says ${e.bytes}: the shard is damaged`);
  }
  if (rows !== m.rows) throw new StoreError(`${mpath}: shards hold ${rows} rows but the manifest says ${m.rows}`);
  if (m.scale === null) throw new StoreError(`${mpath} has no dataset scale; it is not a finished store`);
  return new ActivationStore(dir, m, options);
}

/** Several hooks' stores of one harvest as one ChunkSource (see the header). */
export class MultiHookSource implements ChunkSource {
  readonly stores: readonly ActivationStore[];
  readonly hooks: readonly string[];
  readonly d: number;
  readonly contextsTotal: number;

  constructor(stores: readonly ActivationStore[]) {
    if (stores.length === 0) throw new StoreError("no activation stores given");
    const first = stores[0].manifest;
    for (const s of stores.slice(1)) {
      const diff = identityDifference({ ...identityOf(first), hook: "" }, { ...identityOf(s.manifest), hook: "" });
      if (diff) throw new StoreError(`stores ${stores[0].dir} and ${s.dir} come from different harvests: ${diff}`);
      s.manifest.shards.forEach((e, k) => {
        const f = first.shards[k];
        if (e.rows !== f.rows || e.tokens_crc32 !== f.tokens_crc32)
          throw new StoreError(`stores ${stores[0].dir} and ${s.dir} differ at shard ${k}: not the same harvest`);
      });
    }
    this.stores = stores;
    this.hooks = stores.map((s) => s.hook);
    this.d = first.d;
    this.contextsTotal = first.contexts_total;
  }

  async *chunks(start = 0, end = this.contextsTotal): AsyncGenerator<ActChunk> {
    for (const e of this.stores[0].manifest.shards) {
      if (e.contexts[1] <= start || e.contexts[0] >= end) continue;
      const parts = this.stores.map((s) => s.readShard(e.index));
      const c: ActChunk = { ...parts[0], acts: parts.map((p) => p.acts[0]) };
      yield trimChunk(c, start, end);
    }
  }
}

export function openStores(paths: readonly string[], options: OpenStoreOptions = {}): ChunkSource {
  const stores = paths.map((p) => openStore(p, options));
  return stores.length === 1 ? stores[0] : new MultiHookSource(stores);
}
