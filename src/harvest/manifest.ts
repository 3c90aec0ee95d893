/**
 * The manifest of an activation store: runs/<name>/acts/<hook>/manifest.json (DESIGN.md s.4).
 *
 * A store is one hook's activations over a contiguous range of contexts [0, contexts_total) of one
 * packed corpus, cut into shards of `contexts_per_shard` contexts: shard s holds contexts
 * [s K, min((s + 1) K, N)) as files shard-SSSSS.safetensors with tensors
 *   acts [rows, d] (dtype), token [rows] I32, context [rows] I32 (global context index), position [rows] I32,
 * one row per kept position (special positions are dropped unless keep_special), in context order.
 *
 * A harvest with --shard i/N writes the shards [floor(i S / N), floor((i + 1) S / N)) of the S shards
 * and its own manifest part (manifest.part-IIII-of-NNNN.json); `msae acts index` joins the parts into
 * manifest.json once they cover every shard exactly. A single-machine harvest is the part 0 of 1 and
 * writes manifest.json itself. `complete` is false until every shard of the manifest's range is written:
 * loaders refuse an incomplete store, a rerun of the same command resumes it.
 *
 * The identity fields (IDENTITY_FIELDS) say what the activations are; a resume, an index or a
 * multi-hook read refuses to mix stores whose identities differ, naming the first field that does.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { z } from "zod";
import { atomicWriteJson } from "../io/atomic.ts";

export const STORE_FORMAT = "msae-acts-1";
export const MANIFEST = "manifest.json";

export const shardFile = (index: number): string => `shard-${String(index).padStart(5, "0")}.safetensors`;
export const partFile = (i: number, n: number): string =>
  `manifest.part-${String(i).padStart(4, "0")}-of-${String(n).padStart(4, "0")}.json`;
export const PART_RE = /^manifest\.part-(\d{4})-of-(\d{4})\.json$/;

const shardSchema = z
  .object({
    index: z.number().int().min(0),
    file: z.string(),
    contexts: z.tuple([z.number().int().min(0), z.number().int().min(0)]),
    rows: z.number().int().min(0),
    bytes: z.number().int().min(0),
    /** zlib crc32 of the whole file, 8 hex digits. */
    crc32: z.string().regex(/^[0-9a-f]{8}$/),
    /** crc32 of the token ids of the shard's contexts (Int32 little-endian), before any position is dropped. */
    tokens_crc32: z.string().regex(/^[0-9a-f]{8}$/),
  })
  .strict();
export type ShardEntry = z.infer<typeof shardSchema>;

const identitySchema = z
  .object({
    model: z
      .object({
        architecture: z.string(),
        /** sha256 over config.json, tokenizer.json and the weight files (see identity.ts). */
        content_sha256: z.string(),
      })
      .strict(),
    hook: z.string(),
    d: z.number().int().min(1),
    dtype: z.enum(["f32", "bf16", "f16"]),
    /**
     * The precision of the model forward that produced the activations (src/lm/precision.ts).
     * Absent in stores written before it was recorded: those are "f32" (identityOf fills it in).
     */
    precision: z.enum(["f32", "bf16"]).optional(),
    corpus: z.array(z.string()).min(1),
    context_size: z.number().int().min(2),
    prepend_bos: z.boolean(),
    llm_batch: z.number().int().min(1),
    keep_special: z.boolean(),
    /** Token ids whose positions are dropped (BOS, EOS, PAD of the tokenizer), empty with keep_special. */
    excluded_ids: z.array(z.number().int()),
    contexts_total: z.number().int().min(1),
    contexts_per_shard: z.number().int().min(1),
  })
  .strict();
export type StoreIdentity = z.infer<typeof identitySchema>;
export const IDENTITY_FIELDS = Object.keys(identitySchema.shape) as (keyof StoreIdentity)[];

const manifestSchema = identitySchema
  .extend({
    format: z.literal(STORE_FORMAT),
    msae_version: z.string(),
    /** The model folder as given (informational: the identity is its content hash). */
    model_path: z.string(),
    /** Part i of n (a single-machine harvest is part 0 of 1). The combined manifest has none. */
    part: z
      .object({ index: z.number().int().min(0), count: z.number().int().min(1) })
      .strict()
      .nullable(),
    /** Shards this manifest is responsible for: [first, end). */
    shard_range: z.tuple([z.number().int().min(0), z.number().int().min(0)]),
    /** Context range covered by shard_range. */
    context_range: z.tuple([z.number().int().min(0), z.number().int().min(0)]),
    complete: z.boolean(),
    /** Positions of the covered contexts (context_size each) and rows kept. */
    tokens: z.number().int().min(0),
    rows: z.number().int().min(0),
    /**
     * Dataset constant c with E||c x||^2 = d, estimated on the rows of the first `contexts`
     * contexts (the paper buffer's first fill), from the stored values; null until known.
     */
    scale: z
      .object({ value: z.number().positive(), contexts: z.number().int().min(1), rows: z.number().int().min(1) })
      .strict()
      .nullable(),
    shards: z.array(shardSchema),
  })
  .strict();
export type Manifest = z.infer<typeof manifestSchema>;

export class StoreError extends Error {
  override name = "StoreError";
}

/** crc32 (8 hex digits) of the canonical JSON of a manifest (schema key order, no checksum field). */
function manifestChecksum(m: Manifest): string {
  return crc32(Buffer.from(JSON.stringify(manifestSchema.parse(m))))
    .toString(16)
    .padStart(8, "0");
}

/**
 * Parses a manifest file; any problem is a one-line StoreError naming the file. The file carries
 * a crc32 of its own canonical content (`checksum`, written by writeManifest), so an edited or
 * damaged manifest (a nudged scale, a changed row count) is refused rather than trusted.
 */
export function readManifest(file: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new StoreError(`${file} is not a readable JSON manifest: ${(e as Error).message.split("\n")[0]}`);
  }
  let checksum: unknown;
  if (raw && typeof raw === "object" && !Array.isArray(raw)) {
    ({ checksum, ...raw } = raw as Record<string, unknown>);
  }
  const r = manifestSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new StoreError(
      `${file} is not a valid activation-store manifest: field "${issue.path.join(".") || "(root)"}": ${issue.message}`,
    );
  }
  const want = manifestChecksum(r.data);
  if (checksum !== want)
    throw new StoreError(
      `${file} fails its checksum (${typeof checksum === "string" ? checksum : "none"}, content ${want}): the manifest was edited or damaged`,
    );
  return r.data;
}

/** Writes a manifest atomically, validated, keys in the schema's order (canonical bytes), with its checksum last. */
export function writeManifest(file: string, m: Manifest): void {
  const canonical = manifestSchema.parse(m);
  try {
    atomicWriteJson(file, { ...canonical, checksum: manifestChecksum(canonical) });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message.split("\n")[0];
    throw new StoreError(`${file}: cannot write (${code}); expected a writable location with free space`);
  }
}

export function identityOf(m: StoreIdentity): StoreIdentity {
  const out: Record<string, unknown> = {};
  for (const k of IDENTITY_FIELDS) out[k] = m[k];
  out.precision = m.precision ?? "f32"; // stores from before the field was recorded ran in f32
  return out as StoreIdentity;
}

/** The first identity field on which a and b differ, with both values, or null when they agree. */
export function identityDifference(a: StoreIdentity, b: StoreIdentity): string | null {
  for (const k of IDENTITY_FIELDS) {
    const x = JSON.stringify(a[k]);
    const y = JSON.stringify(b[k]);
    if (x !== y) return `${k} (${clip(x)} vs ${clip(y)})`;
  }
  return null;
}

function clip(s: string): string {
  return s.length > 70 ? `${s.slice(0, 67)}...` : s;
}

/** Number of shards of a store identity. */
export function shardCount(id: Pick<StoreIdentity, "contexts_total" | "contexts_per_shard">): number {
  return Math.ceil(id.contexts_total / id.contexts_per_shard);
}

/** Context range [a, b) of shard s. */
export function shardContexts(
  id: Pick<StoreIdentity, "contexts_total" | "contexts_per_shard">,
  s: number,
): [number, number] {
  return [s * id.contexts_per_shard, Math.min(id.contexts_total, (s + 1) * id.contexts_per_shard)];
}

/** Shards [first, end) owned by part i of n. */
export function partShards(totalShards: number, i: number, n: number): [number, number] {
  return [Math.floor((i * totalShards) / n), Math.floor(((i + 1) * totalShards) / n)];
}

export function manifestPath(dir: string): string {
  return join(dir, MANIFEST);
}

export function hasManifest(dir: string): boolean {
  return existsSync(manifestPath(dir));
}
