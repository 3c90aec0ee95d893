/**
 * Sharded safetensors checkpoints (the Hugging Face layout) and the "weights of a model folder" entry point.
 *
 *   <dir>/model.safetensors.index.json = {"metadata": {...}, "weight_map": {tensor: shard file name}}
 *   <dir>/model-00001-of-0000K.safetensors ...
 *
 * openSharded validates the index (strict JSON, weight_map of string -> plain file name in the same
 * folder), opens every shard it names (each fully validated by SafetensorsFile.open) and checks that
 * every tensor of the map is in the shard the map names. It then reads like one file.
 * openWeights(dir) picks model.safetensors, else the sharded index.
 * writeShardedSafetensors splits tensors (sorted by name) greedily into shards of at most
 * maxShardBytes of data each (a larger tensor gets a shard of its own), as transformers does.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { atomicWriteJson } from "./atomic.ts";
import {
  type ReadF32Options,
  SafetensorsFile,
  type StoredArray,
  type TensorInfo,
  type TensorReader,
} from "./safetensors.ts";
import { DTYPE_SIZE, quoteName, SafetensorsError } from "./safetensors-header.ts";
import { aJsonType, type JsonObject, JsonParseError, jsonTypeName, parseJsonStrict } from "./safetensors-json.ts";
import {
  entriesOf,
  type TensorsToWrite,
  type TensorToWrite,
  type WriteOptions,
  writeSafetensors,
} from "./safetensors-write.ts";

export const SINGLE_FILE_NAME = "model.safetensors";
export const INDEX_FILE_NAME = "model.safetensors.index.json";
const MAX_INDEX_BYTES = 100_000_000;

/** Several shard files read as one. */
export class ShardedSafetensors implements TensorReader {
  /** The index file. */
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** The index's own "metadata" object (e.g. {"total_size": ...}). */
  readonly indexMetadata: Readonly<Record<string, unknown>>;
  private readonly shardOf: Map<string, SafetensorsFile>;
  private readonly shards: SafetensorsFile[];

  private constructor(
    indexPath: string,
    indexMetadata: Record<string, unknown>,
    shardOf: Map<string, SafetensorsFile>,
    shards: SafetensorsFile[],
  ) {
    this.path = indexPath;
    this.indexMetadata = Object.freeze(indexMetadata);
    this.shardOf = shardOf;
    this.shards = shards;
    this.metadata = shards[0]?.metadata ?? Object.freeze({});
  }

  static open(dirOrIndexPath: string): ShardedSafetensors {
    const indexPath = isDirectory(dirOrIndexPath) ? path.join(dirOrIndexPath, INDEX_FILE_NAME) : dirOrIndexPath;
    const { weightMap, indexMetadata } = readIndex(indexPath);
    const dir = path.dirname(indexPath);
    const shardByFile = new Map<string, SafetensorsFile>();
    const shardOf = new Map<string, SafetensorsFile>();
    try {
      for (const [tensor, file] of weightMap) {
        let shard = shardByFile.get(file);
        if (!shard) {
          const shardPath = path.join(dir, file);
          if (!fs.existsSync(shardPath))
            throw new SafetensorsError(
              indexPath,
              tensor,
              `is mapped to shard ${quoteName(file)}, which does not exist; expected ${shardPath}`,
            );
          shard = SafetensorsFile.open(shardPath);
          shardByFile.set(file, shard);
        }
        if (!shard.has(tensor))
          throw new SafetensorsError(
            indexPath,
            tensor,
            `is mapped to shard ${quoteName(file)}, which does not contain it; expected it there`,
          );
        shardOf.set(tensor, shard);
      }
    } catch (err) {
      for (const s of shardByFile.values()) s.close();
      throw err;
    }
    return new ShardedSafetensors(indexPath, indexMetadata, shardOf, [...shardByFile.values()]);
  }

  names(): string[] {
    return [...this.shardOf.keys()].sort();
  }

  has(name: string): boolean {
    return this.shardOf.has(name);
  }

  private shard(name: string): SafetensorsFile {
    const s = this.shardOf.get(name);
    if (!s)
      throw new SafetensorsError(
        this.path,
        name,
        `not found in the weight_map; expected one of its ${this.shardOf.size} tensors`,
      );
    return s;
  }

  /** The shard file holding a tensor. */
  shardPath(name: string): string {
    return this.shard(name).path;
  }

  info(name: string): TensorInfo {
    return this.shard(name).info(name);
  }

  read(name: string, rows?: readonly [number, number]): StoredArray {
    return this.shard(name).read(name, rows);
  }

  readF32(name: string, options?: ReadF32Options): Float32Array {
    return this.shard(name).readF32(name, options);
  }

  close(): void {
    for (const s of this.shards) s.close();
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Reads and validates an index file; returns weight_map entries in file order. */
function readIndex(indexPath: string): { weightMap: [string, string][]; indexMetadata: Record<string, unknown> } {
  const fail = (problem: string): never => {
    throw new SafetensorsError(indexPath, undefined, problem);
  };
  let size: number;
  try {
    size = fs.statSync(indexPath).size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail(
      `cannot read the shard index (${code === "ENOENT" ? "no such file" : code}); expected ${INDEX_FILE_NAME}`,
    );
  }
  if (size > MAX_INDEX_BYTES) fail(`shard index is ${size} bytes; expected at most ${MAX_INDEX_BYTES}`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(fs.readFileSync(indexPath));
  } catch (err) {
    if (err instanceof TypeError) return fail("shard index is not valid UTF-8; expected UTF-8 JSON");
    return fail(`cannot read the shard index (${(err as NodeJS.ErrnoException).code}); expected a readable file`);
  }
  let root: unknown;
  try {
    root = parseJsonStrict(text, { maxDepth: 32 });
  } catch (err) {
    if (err instanceof JsonParseError) return fail(`shard index is not valid JSON: ${err.message}`);
    throw err;
  }
  if (root === null || typeof root !== "object" || Array.isArray(root))
    fail(`shard index is a JSON ${jsonTypeName(root)}; expected an object with "weight_map"`);
  const obj = root as JsonObject;
  const meta = obj.metadata;
  if (meta !== undefined && (meta === null || typeof meta !== "object" || Array.isArray(meta)))
    fail(`shard index "metadata" is ${aJsonType(meta)}; expected an object`);
  const wm = obj.weight_map;
  if (wm === null || typeof wm !== "object" || Array.isArray(wm))
    return fail(
      `shard index "weight_map" is ${wm === undefined ? "missing" : `${aJsonType(wm)}`}; expected {tensor: shard file}`,
    );
  const weightMap: [string, string][] = [];
  for (const [tensor, file] of Object.entries(wm)) {
    if (typeof file !== "string")
      throw new SafetensorsError(
        indexPath,
        tensor,
        `weight_map value is ${aJsonType(file)}; expected a shard file name`,
      );
    if (
      file === "" ||
      file === "." ||
      file === ".." ||
      file.includes("/") ||
      file.includes("\\") ||
      file.includes("\0")
    )
      throw new SafetensorsError(
        indexPath,
        tensor,
        `weight_map names shard ${quoteName(file)}; expected a plain file name in the index's folder`,
      );
    weightMap.push([tensor, file]);
  }
  return { weightMap, indexMetadata: { ...((meta as JsonObject | undefined) ?? {}) } };
}

/** Opens a sharded checkpoint from its folder or its index file. */
export function openSharded(dirOrIndexPath: string): ShardedSafetensors {
  return ShardedSafetensors.open(dirOrIndexPath);
}

/**
 * Opens the weights of a model folder: model.safetensors, else model.safetensors.index.json.
 * A path to a .safetensors file or to an index .json file is opened directly.
 */
export function openWeights(dirOrFile: string): TensorReader {
  if (!isDirectory(dirOrFile)) {
    if (!fs.existsSync(dirOrFile))
      throw new SafetensorsError(
        dirOrFile,
        undefined,
        "does not exist; expected a model folder or a .safetensors file",
      );
    return dirOrFile.endsWith(".json") ? openSharded(dirOrFile) : SafetensorsFile.open(dirOrFile);
  }
  const single = path.join(dirOrFile, SINGLE_FILE_NAME);
  if (fs.existsSync(single)) return SafetensorsFile.open(single);
  const index = path.join(dirOrFile, INDEX_FILE_NAME);
  if (fs.existsSync(index)) return openSharded(index);
  throw new SafetensorsError(
    dirOrFile,
    undefined,
    `has no weights; expected ${SINGLE_FILE_NAME} or ${INDEX_FILE_NAME} in it`,
  );
}

export interface ShardedWriteOptions extends WriteOptions {
  /** Most data bytes per shard (default 5 GB, transformers' default). */
  maxShardBytes?: number;
  /** __metadata__ of every shard, e.g. {format: "pt"} (transformers requires "format"). */
  metadata?: Readonly<Record<string, string>>;
  /** File name prefix (default "model"). */
  prefix?: string;
}

/**
 * Writes tensors to `dir` as <prefix>.safetensors when they fit in one shard, else as
 * <prefix>-0000i-of-0000K.safetensors plus <prefix>.safetensors.index.json ({"metadata":
 * {"total_size"}, "weight_map"}), each file atomically, the index last. Returns the files written.
 */
export async function writeShardedSafetensors(
  dir: string,
  tensors: TensorsToWrite,
  options: ShardedWriteOptions = {},
): Promise<string[]> {
  const maxBytes = options.maxShardBytes ?? 5_000_000_000;
  const prefix = options.prefix ?? "model";
  if (!(maxBytes > 0)) throw new SafetensorsError(dir, undefined, `maxShardBytes ${maxBytes}; expected > 0`);
  const entries = entriesOf(tensors);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const bytesOf = (t: TensorToWrite) => (DTYPE_SIZE[t.dtype] ?? 0) * t.shape.reduce((a, d) => a * d, 1);
  const groups: [string, TensorToWrite][][] = [];
  let current: [string, TensorToWrite][] = [];
  let currentBytes = 0;
  let total = 0;
  for (const e of entries) {
    const b = bytesOf(e[1]);
    total += b;
    if (current.length > 0 && currentBytes + b > maxBytes) {
      groups.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(e);
    currentBytes += b;
  }
  groups.push(current);

  fs.mkdirSync(dir, { recursive: true });
  if (groups.length === 1) {
    const file = path.join(dir, `${prefix}.safetensors`);
    await writeSafetensors(file, groups[0], options.metadata, options);
    removeStale(dir, prefix, new Set([path.basename(file)]));
    return [file];
  }
  const k = groups.length;
  const pad = (i: number) => String(i).padStart(5, "0");
  const written: string[] = [];
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < k; i++) {
    const name = `${prefix}-${pad(i + 1)}-of-${pad(k)}.safetensors`;
    const file = path.join(dir, name);
    await writeSafetensors(file, groups[i], options.metadata, options);
    for (const [t] of groups[i]) weightMap[t] = name;
    written.push(file);
  }
  const index = path.join(dir, `${prefix}.safetensors.index.json`);
  atomicWriteJson(index, { metadata: { total_size: total }, weight_map: weightMap });
  written.push(index);
  removeStale(dir, prefix, new Set(written.map((f) => path.basename(f))));
  return written;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Removes weight files of an earlier save with the same prefix (a single file, shards, an index) not in `keep`. */
function removeStale(dir: string, prefix: string, keep: Set<string>): void {
  const p = escapeRegex(prefix);
  const pattern = new RegExp(`^${p}(\\.safetensors|-\\d{5}-of-\\d{5}\\.safetensors|\\.safetensors\\.index\\.json)$`);
  for (const name of fs.readdirSync(dir)) {
    if (pattern.test(name) && !keep.has(name)) fs.rmSync(path.join(dir, name), { force: true });
  }
}
