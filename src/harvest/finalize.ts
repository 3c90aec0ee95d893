/**
 * Finishing a store: the shards must tile [0, contexts_total) exactly; the dataset scale is then
 * estimated from the stored rows of the first SCALE_CONTEXTS contexts (scale.ts) and manifest.json
 * is written complete (atomically). Used by a single-machine harvest and by `msae acts index`.
 *
 * indexStore(dir) joins the manifest parts of a sharded harvest (--shard i/N): every part 0..N-1
 * present and complete, one identity, shard ranges that tile the store without gaps or overlaps,
 * each listed file present with its size (and, with verify, its crc32).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import {
  identityDifference,
  identityOf,
  MANIFEST,
  type Manifest,
  PART_RE,
  partShards,
  readManifest,
  StoreError,
  shardCount,
  writeManifest,
} from "./manifest.ts";
import { SCALE_CONTEXTS, ScaleEstimator } from "./scale.ts";
import { ActivationStore, checkShardTiling } from "./store.ts";

/** `scale`, when given, was computed on the fly by the harvest from the same stored values. */
export function finalizeStore(
  dir: string,
  m: Manifest,
  message?: (line: string) => void,
  scale?: NonNullable<Manifest["scale"]>,
): Manifest {
  const S = shardCount(m);
  checkShardTiling(join(dir, MANIFEST), m, m.shards, 0, S);
  const out: Manifest = {
    ...m,
    part: null,
    shard_range: [0, S],
    context_range: [0, m.contexts_total],
    complete: true,
    rows: m.shards.reduce((n, e) => n + e.rows, 0),
    tokens: m.contexts_total * m.context_size,
  };
  if (scale) out.scale = scale;
  else {
    const contexts = Math.min(m.contexts_total, SCALE_CONTEXTS);
    const est = new ScaleEstimator(m.d, contexts);
    const store = new ActivationStore(dir, out);
    for (const e of out.shards) {
      if (e.contexts[0] >= contexts) break;
      const c = store.readShard(e.index);
      est.add(c.acts[0], c.context, c.rows);
    }
    out.scale = { value: est.value(), contexts, rows: est.rows };
  }
  writeManifest(join(dir, MANIFEST), out);
  message?.(`${dir}: complete, ${out.rows} rows, dataset scale c = ${out.scale!.value.toPrecision(6)}`);
  return out;
}

export interface IndexResult {
  dir: string;
  parts: number;
  shards: number;
  rows: number;
  scale: number;
  alreadyIndexed: boolean;
}

export function indexStore(
  dir: string,
  options: { verify?: boolean; message?: (l: string) => void } = {},
): IndexResult {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new StoreError(`${dir} is not a folder`);
  const partFiles = readdirSync(dir)
    .filter((f) => PART_RE.test(f))
    .sort();
  if (partFiles.length === 0) {
    if (!existsSync(join(dir, MANIFEST))) throw new StoreError(`${dir} has no manifest parts and no manifest.json`);
    const m = readManifest(join(dir, MANIFEST));
    if (!m.complete) throw new StoreError(`${dir} is an incomplete store: rerun its harvest command to finish it`);
    if (options.verify) verifyFiles(dir, m);
    return {
      dir,
      parts: 1,
      shards: m.shards.length,
      rows: m.rows,
      scale: m.scale?.value ?? Number.NaN,
      alreadyIndexed: true,
    };
  }
  const parts = partFiles.map((f) => ({ f, m: readManifest(join(dir, f)) }));
  const n = parts[0].m.part?.count ?? 0;
  for (const { f, m } of parts) {
    if (!m.part || m.part.count !== n)
      throw new StoreError(`${join(dir, f)} is a part of ${m.part?.count ?? "?"}; ${partFiles[0]} is a part of ${n}`);
    const diff = identityDifference(identityOf(parts[0].m), identityOf(m));
    if (diff) throw new StoreError(`${join(dir, f)} and ${partFiles[0]} come from different harvests: ${diff}`);
  }
  const byIndex = new Map(parts.map((p) => [p.m.part!.index, p]));
  const missing: number[] = [];
  for (let i = 0; i < n; i++) if (!byIndex.has(i)) missing.push(i);
  if (missing.length)
    throw new StoreError(`${dir}: parts ${missing.join(", ")} of ${n} are missing; run them with --shard i/${n}`);
  const incomplete = parts.filter((p) => !p.m.complete).map((p) => p.m.part!.index);
  if (incomplete.length)
    throw new StoreError(`${dir}: parts ${incomplete.join(", ")} of ${n} are not finished; rerun them to resume`);
  const first = parts[0].m;
  const S = shardCount(first);
  const shards = [];
  for (let i = 0; i < n; i++) {
    const m = byIndex.get(i)!.m;
    const [a, b] = partShards(S, i, n);
    if (m.shard_range[0] !== a || m.shard_range[1] !== b)
      throw new StoreError(
        `${join(dir, byIndex.get(i)!.f)} covers shards [${m.shard_range.join(", ")}); part ${i} of ${n} must cover [${a}, ${b})`,
      );
    checkShardTiling(join(dir, byIndex.get(i)!.f), m, m.shards, a, b);
    shards.push(...m.shards);
  }
  const combined: Manifest = { ...first, shards };
  verifyFiles(dir, combined, options.verify ?? false);
  const out = finalizeStore(dir, combined, options.message);
  return { dir, parts: n, shards: S, rows: out.rows, scale: out.scale!.value, alreadyIndexed: false };
}

function verifyFiles(dir: string, m: Manifest, crc = true): void {
  for (const e of m.shards) {
    const file = join(dir, e.file);
    if (!existsSync(file)) throw new StoreError(`${file} is missing; the manifest lists it`);
    const size = statSync(file).size;
    if (size !== e.bytes) throw new StoreError(`${file} has ${size} bytes; the manifest says ${e.bytes}`);
    if (crc) {
      const got = crc32(readFileSync(file)).toString(16).padStart(8, "0");
      if (got !== e.crc32) throw new StoreError(`${file} fails its checksum (crc32 ${got}, manifest ${e.crc32})`);
    }
  }
}
