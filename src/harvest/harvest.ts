/**
 * `msae harvest`: one model pass over contexts [0, N) of a packed corpus captures every requested
 * hook (the forward stops after the deepest one) and writes one activation store per hook
 * (layout in manifest.ts): runs/<name>/acts/<hook>/shard-SSSSS.safetensors + manifest.
 *
 * Order of work, which makes a killed run resumable with the same bytes:
 *   for each shard s of this part, in order:
 *     its contexts go through the model in LLM batches of llm_batch starting at the shard's first
 *     context (so every run, resumed or sharded, runs the same batches);
 *     the PREVIOUS shard's files (written, fsynced, renamed in the thread pool meanwhile) are
 *     awaited, and only then does every hook's manifest list it (atomic rewrite);
 *     shard s's files then start: positioned writes to temp names, then fsync + rename, all in
 *     libuv's thread pool (startSafetensorsWrite, AtomicWriter.commit) while shard s + 1 is
 *     computed into the other of two buffer sets. The main thread only computes the crc32s.
 * A rerun with the same command checks the identity (model content hash, hook, d, dtype, the
 * forward's precision (f32 or bf16: a bf16 store is never extended by an f32 run or the reverse), corpus,
 * context, batch, positions, sizes), keeps the shards its manifests list (their files present with
 * the listed size, the corpus's token crc unchanged) and computes the rest. A single-machine harvest
 * finishes by estimating the dataset scale from the stored rows and marking the manifest complete.
 */
import { accessSync, constants, existsSync, mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Backend } from "../core/backend.ts";
import { UsageError } from "../core/errors.ts";
import { msaeVersion } from "../core/paths.ts";
import type { Corpus } from "../data/spec.ts";
import { removeStaleTempFiles } from "../io/atomic.ts";
import { tsHalf } from "../io/dtype.ts";
import { type PendingSafetensors, startSafetensorsWrite } from "../io/safetensors-write.ts";
import type { LanguageModel } from "../lm/model.ts";
import { type ActChunk, BatchActivations, specialIds } from "./activations.ts";
import { ContextStream, type ContextTokenizer, requireContexts, tokensCrc } from "./contexts.ts";
import { finalizeStore } from "./finalize.ts";
import { modelContentHash } from "./identity.ts";
import {
  identityDifference,
  identityOf,
  MANIFEST,
  type Manifest,
  partFile,
  partShards,
  readManifest,
  type ShardEntry,
  StoreError,
  type StoreIdentity,
  shardContexts,
  shardFile,
  writeManifest,
} from "./manifest.ts";
import { SCALE_CONTEXTS, ScaleEstimator } from "./scale.ts";

export type StoreDtype = "f32" | "bf16" | "f16";

export interface HarvestSpec {
  /** The model folder (its content hash goes into the identity). */
  modelDir: string;
  corpus: Corpus;
  /** Corpus specs as given (identity). */
  data: readonly string[];
  hooks: readonly string[];
  tokens: number;
  contextSize: number;
  llmBatch: number;
  dtype: StoreDtype;
  /** The run folder: stores go to <runDir>/acts/<hook>/. */
  runDir: string;
  keepSpecial: boolean;
  /** Part i of n (default 0 of 1). */
  shard?: { index: number; count: number };
  /** Contexts per shard file (default: about 32 MB per shard, a multiple of llmBatch). */
  contextsPerShard?: number;
}

export interface HarvestProgress {
  /** Called once the options, the output folders and any earlier run's manifests are checked. */
  onStart?(info: { contexts: number; shards: number; shardsKept: number }): void;
  /** Called after every LLM batch: positions done / to do in this run (skipped shards excluded). */
  onBatch?(done: number, total: number): void;
  onMessage?(line: string): void;
}

export interface HarvestSummary {
  hooks: string[];
  dirs: string[];
  contexts: number;
  /** Positions run through the model by this invocation (0 when everything was already there). */
  tokensRun: number;
  rows: number;
  bytes: number;
  seconds: number;
  shardsWritten: number;
  shardsKept: number;
  complete: boolean;
  scale: Record<string, number | null>;
}

const TARGET_SHARD_BYTES = 32 << 20;
const BYTES = { f32: 4, bf16: 2, f16: 2 } as const;

/** Default contexts per shard: about 32 MB of activations, rounded up to a multiple of the LLM batch. */
export function defaultContextsPerShard(d: number, contextSize: number, dtype: StoreDtype, llmBatch: number): number {
  const per = Math.max(1, Math.floor(TARGET_SHARD_BYTES / (contextSize * d * BYTES[dtype])));
  return Math.max(llmBatch, Math.round(per / llmBatch) * llmBatch);
}

export function hookDir(runDir: string, hook: string): string {
  return join(runDir, "acts", hook);
}

function checkWritable(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    throw new Error(`cannot write the activation store at ${dir}: ${code || (e as Error).message.split("\n")[0]}`);
  }
  if (!statSync(dir).isDirectory())
    throw new Error(`${dir} is not a folder; expected a folder for the activation store`);
}

/** State of one hook's store in this part. */
interface HookStore {
  hook: string;
  dir: string;
  manifestFile: string;
  manifest: Manifest;
}

export async function runHarvest(
  model: LanguageModel,
  tokenizer: ContextTokenizer,
  spec: HarvestSpec,
  progress: HarvestProgress = {},
  backend: Pick<Backend, "f32ToF16" | "f32ToBf16" | "f16ToF32" | "bf16ToF32"> = tsHalf,
): Promise<HarvestSummary> {
  const t0 = performance.now();
  const C = spec.contextSize;
  const d = model.dims.dModel;
  if (C > model.dims.contextLength)
    throw new UsageError(`--context ${C} is longer than the model's context length ${model.dims.contextLength}`);
  const N = Math.ceil(spec.tokens / C);
  const part = spec.shard ?? { index: 0, count: 1 };
  const K = spec.contextsPerShard ?? defaultContextsPerShard(d, C, spec.dtype, spec.llmBatch);
  const S = Math.ceil(N / K);
  if (part.count > S)
    throw new UsageError(
      `--shard ${part.index}/${part.count}: the harvest has only ${S} shards of ${K} contexts; use at most ${S} parts`,
    );
  const [s0, s1] = partShards(S, part.index, part.count);
  const excluded = spec.keepSpecial ? [] : specialIds(model);
  const base: Omit<StoreIdentity, "hook"> = {
    model: { architecture: model.info.architecture, content_sha256: modelContentHash(spec.modelDir) },
    d,
    dtype: spec.dtype,
    precision: model.precision,
    corpus: [...spec.data],
    context_size: C,
    prepend_bos: true,
    llm_batch: spec.llmBatch,
    keep_special: spec.keepSpecial,
    excluded_ids: excluded,
    contexts_total: N,
    contexts_per_shard: K,
  };
  const single = part.count === 1;
  const stores: HookStore[] = spec.hooks.map((hook) => {
    const dir = hookDir(resolve(spec.runDir), hook);
    checkWritable(dir);
    removeStaleTempFiles(dir);
    const manifestFile = join(dir, single ? MANIFEST : partFile(part.index, part.count));
    const fresh: Manifest = {
      ...base,
      hook,
      format: "msae-acts-1",
      msae_version: msaeVersion,
      model_path: spec.modelDir,
      part: single ? null : { ...part },
      shard_range: [s0, s1],
      context_range: [
        shardContexts(base, s0)[0],
        s1 > s0 ? shardContexts(base, s1 - 1)[1] : shardContexts(base, s0)[0],
      ],
      complete: false,
      tokens: 0,
      rows: 0,
      scale: null,
      shards: [],
    };
    let manifest = fresh;
    if (existsSync(manifestFile)) {
      const old = readManifest(manifestFile);
      const diff = identityDifference(identityOf(old), identityOf(fresh));
      if (diff)
        throw new StoreError(
          `${dir} holds a store made with a different ${diff}; use another --out or remove that folder`,
        );
      if (old.shard_range[0] !== s0 || old.shard_range[1] !== s1)
        throw new StoreError(`${manifestFile} covers shards [${old.shard_range.join(", ")}), this part [${s0}, ${s1})`);
      manifest = { ...old, model_path: spec.modelDir };
    } else if (!single && existsSync(join(dir, MANIFEST))) {
      const combined = readManifest(join(dir, MANIFEST));
      const diff = identityDifference(identityOf(combined), identityOf(fresh));
      if (diff) throw new StoreError(`${dir} holds a store made with a different ${diff}; use another --out`);
      manifest = {
        ...fresh,
        shards: combined.shards.filter((e) => e.index >= s0 && e.index < s1),
      };
    }
    return { hook, dir, manifestFile, manifest };
  });

  // Shards every hook already has (file present with the listed size), as a prefix of this part.
  const kept = new Map<number, ShardEntry[]>();
  for (let s = s0; s < s1; s++) {
    const entries = stores.map((st) => st.manifest.shards.find((e) => e.index === s));
    if (entries.some((e, h) => !e || !fileHasSize(join(stores[h].dir, e.file), e.bytes))) break;
    kept.set(s, entries as ShardEntry[]);
  }
  for (const st of stores) {
    st.manifest.shards = st.manifest.shards.filter((e) => kept.has(e.index));
    recount(st.manifest);
  }

  const firstCtx = shardContexts(base, s0)[0];
  const endCtx = s1 > s0 ? shardContexts(base, s1 - 1)[1] : firstCtx;
  const stream = new ContextStream(spec.corpus, tokenizer, C);
  // Fail now, not after hours of forward, when the corpus is too short for the range.
  await requireContexts(stream, endCtx);
  progress.onStart?.({ contexts: N, shards: s1 - s0, shardsKept: kept.size });
  const acts = new BatchActivations(model, spec.hooks, {
    llmBatch: spec.llmBatch,
    contextSize: C,
    excludedIds: excluded,
  });
  const capRows = K * C;
  // Two buffer sets: shard s is computed into set s % 2 while shard s - 1's set is being written.
  const sets = [0, 1].map(() => ({
    acts: spec.hooks.map(() => new Float32Array(capRows * d)),
    token: new Int32Array(capRows),
    context: new Int32Array(capRows),
    position: new Int32Array(capRows),
  }));
  const shardIds = new Int32Array(K * C);
  // The dataset scale, from the values as stored (rounded to the store's dtype), on the fly when
  // this run computes the first contexts itself; else finalizeStore reads them back from disk.
  const scaleContexts = Math.min(N, SCALE_CONTEXTS);
  const estimators =
    single && s0 === 0 && !kept.has(0) ? spec.hooks.map(() => new ScaleEstimator(d, scaleContexts)) : null;
  const roundBits = spec.dtype === "f32" ? null : new Uint16Array(spec.llmBatch * C * d);
  const rounded = spec.dtype === "f32" ? null : new Float32Array(spec.llmBatch * C * d);
  const addScale = (chunk: ActChunk) => {
    if (!estimators || chunk.contexts[0] >= scaleContexts) return;
    for (let h = 0; h < estimators.length; h++) {
      let x = chunk.acts[h];
      if (roundBits && rounded) {
        const bits = roundBits.subarray(0, x.length);
        const back = rounded.subarray(0, x.length);
        if (spec.dtype === "bf16") {
          backend.f32ToBf16(x, bits);
          backend.bf16ToF32(bits, back);
        } else {
          backend.f32ToF16(x, bits);
          backend.f16ToF32(bits, back);
        }
        x = back;
      }
      estimators[h].add(x, chunk.context, chunk.rows);
    }
  };

  let toRun = 0;
  for (let s = s0; s < s1; s++) if (!kept.has(s)) toRun += (shardContexts(base, s)[1] - shardContexts(base, s)[0]) * C;
  let done = 0;
  let written = 0;
  // The previous shard: its files' fsync + rename already under way in libuv's thread pool
  // (AtomicWriter.commit), so the disk write overlaps the next shard's forward.
  let pending: { files: PendingSafetensors[]; entries: ShardEntry[]; committed: Promise<unknown> } | null = null;

  const commitPending = async () => {
    if (!pending) return;
    await pending.committed;
    stores.forEach((st, h) => {
      st.manifest.shards.push(pending!.entries[h]);
      st.manifest.shards.sort((a, b) => a.index - b.index);
      recount(st.manifest);
      writeManifest(st.manifestFile, st.manifest);
    });
    written++;
    pending = null;
  };

  let s = s0;
  let batch: Int32Array[] = [];
  let batchFirst = firstCtx;
  let rows = 0;
  let inShard = 0;
  try {
    if (s0 < s1) {
      for await (const { index, ids } of stream.contextRange(firstCtx, endCtx)) {
        const [a, b] = shardContexts(base, s);
        shardIds.set(ids, (index - a) * C);
        inShard++;
        if (!kept.has(s)) {
          if (batch.length === 0) batchFirst = index;
          batch.push(ids);
          if (batch.length === spec.llmBatch || index === b - 1) {
            const chunk = acts.run(batchFirst, batch, { ...sets[s % 2], at: rows });
            addScale(chunk);
            rows += chunk.rows;
            done += batch.length * C;
            batch = [];
            progress.onBatch?.(done, toRun);
          }
        }
        if (index < b - 1) continue;
        // Shard s is complete.
        const tcrc = tokensCrc(shardIds.subarray(0, inShard * C));
        const keptEntries = kept.get(s);
        if (keptEntries) {
          if (keptEntries.some((e) => e.tokens_crc32 !== tcrc))
            throw new StoreError(
              `the corpus no longer gives the tokens of shard ${s} (contexts [${a}, ${b})) that ${stores[0].dir} holds; ` +
                "the data changed since the harvest began: use another --out",
            );
        } else {
          const files: PendingSafetensors[] = [];
          const { acts: bufs, token, context, position } = sets[s % 2];
          const entries: ShardEntry[] = [];
          try {
            stores.forEach((st, h) => {
              const file = shardFile(s);
              const f = startSafetensorsWrite(
                join(st.dir, file),
                {
                  acts: {
                    dtype: ({ f32: "F32", bf16: "BF16", f16: "F16" } as const)[spec.dtype],
                    shape: [rows, d],
                    data: bufs[h].subarray(0, rows * d),
                  },
                  token: { dtype: "I32", shape: [rows], data: token.subarray(0, rows) },
                  context: { dtype: "I32", shape: [rows], data: context.subarray(0, rows) },
                  position: { dtype: "I32", shape: [rows], data: position.subarray(0, rows) },
                },
                { format: "msae-acts-shard-1", hook: st.hook, shard: String(s), contexts: `${a},${b}` },
                { backend },
              );
              files.push(f);
              entries.push({
                index: s,
                file,
                contexts: [a, b],
                rows,
                bytes: f.bytes,
                crc32: (f.crc32 >>> 0).toString(16).padStart(8, "0"),
                tokens_crc32: tcrc,
              });
            });
          } catch (e) {
            await Promise.allSettled(files.map((f) => f.written));
            for (const f of files) f.writer.abort();
            throw e;
          }
          try {
            await commitPending();
          } catch (e) {
            await Promise.allSettled(files.map((f) => f.written));
            for (const f of files) f.writer.abort();
            throw e;
          }
          const committed = Promise.allSettled(files.map((f) => f.written.then(() => f.writer.commit()))).then((rs) => {
            const bad = rs.find((r) => r.status === "rejected");
            if (bad) throw (bad as PromiseRejectedResult).reason;
          });
          committed.catch(() => {}); // awaited in commitPending; never an unhandled rejection
          pending = { files, entries, committed };
        }
        s++;
        rows = 0;
        inShard = 0;
      }
    }
    await commitPending();
  } finally {
    if (pending) {
      await (pending as { committed: Promise<unknown> }).committed.catch(() => {});
      for (const f of (pending as { files: PendingSafetensors[] }).files) f.writer.abort();
    }
  }

  const complete = stores.every((st) => st.manifest.shards.length === s1 - s0);
  const scale: Record<string, number | null> = {};
  for (const st of stores) {
    if (complete && single) {
      st.manifest.complete = true;
      const est = estimators?.[stores.indexOf(st)];
      st.manifest = finalizeStore(
        st.dir,
        st.manifest,
        progress.onMessage,
        est ? { value: est.value(), contexts: est.contexts, rows: est.rows } : undefined,
      );
    } else if (complete) {
      st.manifest.complete = true;
      writeManifest(st.manifestFile, st.manifest);
    }
    scale[st.hook] = st.manifest.scale?.value ?? null;
  }
  const bytes = stores.reduce((n, st) => n + st.manifest.shards.reduce((m, e) => m + e.bytes, 0), 0);
  return {
    hooks: [...spec.hooks],
    dirs: stores.map((st) => st.dir),
    contexts: endCtx - firstCtx,
    tokensRun: done,
    rows: stores[0]?.manifest.rows ?? 0,
    bytes,
    seconds: (performance.now() - t0) / 1000,
    shardsWritten: written,
    shardsKept: kept.size,
    complete,
    scale,
  };
}

function fileHasSize(file: string, bytes: number): boolean {
  try {
    return statSync(file).size === bytes;
  } catch {
    return false;
  }
}

function recount(m: Manifest): void {
  m.rows = m.shards.reduce((n, e) => n + e.rows, 0);
  m.tokens = m.shards.reduce((n, e) => n + (e.contexts[1] - e.contexts[0]) * m.context_size, 0);
}
