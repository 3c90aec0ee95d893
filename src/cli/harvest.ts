/**
 * `msae harvest` and `msae acts`: activation stores (src/harvest/).
 *   msae harvest [--model <dir>] --data brown:train --layers auto --tokens 1000000 --out runs/<name>
 *   msae acts index <store>     join the parts of a harvest run with --shard i/N
 *   msae acts inspect <store>   what a store holds
 * Thin: parse and validate options, load the model, call src/harvest/.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { parseHarvestOptions } from "../config/harvest.ts";
import { getBackend } from "../core/backends/index.ts";
import { defaultModelDir } from "../core/paths.ts";
import { openCorpora } from "../data/spec.ts";
import { indexStore } from "../harvest/finalize.ts";
import { runHarvest } from "../harvest/harvest.ts";
import { resolveHooks } from "../harvest/hooks.ts";
import { MANIFEST, PART_RE, readManifest } from "../harvest/manifest.ts";
import { loadModel } from "../lm/loader.ts";
import { formatSeconds } from "../lm/train/progress.ts";
import { UsageError } from "./errors.ts";
import { RateProgress } from "./progress.ts";

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/** The store folders under a path: a store itself, runs/<name>/acts, or runs/<name>. */
function storeDirs(path: string): string[] {
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new UsageError(`${path} is not a folder`);
  const isStore = (d: string) => existsSync(join(d, MANIFEST)) || readdirSync(d).some((f) => PART_RE.test(f));
  if (isStore(path)) return [path];
  const acts = existsSync(join(path, "acts")) ? join(path, "acts") : path;
  const dirs = readdirSync(acts)
    .map((f) => join(acts, f))
    .filter((d) => statSync(d).isDirectory() && isStore(d))
    .sort();
  if (dirs.length === 0) throw new UsageError(`${path} holds no activation store (no manifest.json or manifest parts)`);
  return dirs;
}

export function register(program: Command): void {
  program
    .command("harvest")
    .description("capture hook activations of a model over a corpus into on-disk activation stores")
    .option("--model <dir>", "Hugging Face model folder", defaultModelDir)
    .option(
      "--data <spec>",
      "corpus (repeatable): brown:train, nlp-corpus, a .txt/.jsonl/.parquet file or folder",
      collect,
    )
    .option("--hooks <list>", "hook names, comma-separated (e.g. blocks.3.hook_resid_post)")
    .option("--layers <list>", "auto (the paper's relative depths 5, 12, 19 of 26) or block numbers; resid_post hooks")
    .option("--tokens <n>", "positions to run through the model (contexts = ceil(n / context))", "1000000")
    .option("--context <n>", "context length", "128")
    .option("--llm-batch <n>", "contexts per model forward", "24")
    .option("--dtype <type>", "stored dtype: f32, bf16 or f16", "f32")
    .option("--precision <p>", "model forward: f32, or bf16 (bf16 weights and GEMMs, fp32 accumulation)", "f32")
    .requiredOption("--out <dir>", "run folder; stores go to <dir>/acts/<hook>/")
    .option("--keep-special", "keep BOS/EOS/PAD positions (dropped by default)")
    .option("--shard <i/N>", "harvest part i of N (0-based) for several machines; then msae acts index")
    .option("--shard-contexts <n>", "contexts per shard file (default: about 32 MB per file)")
    .option("--backend <name>", "auto, native or ref", "auto")
    .action(async (raw: Record<string, unknown>) => {
      const o = parseHarvestOptions({ ...raw, data: (raw.data as string[] | undefined) ?? ["brown:train"] });
      let corpus: ReturnType<typeof openCorpora>;
      try {
        corpus = openCorpora(o.data);
      } catch (e) {
        throw new UsageError(`--data: ${(e as Error).message}`);
      }
      const backend = getBackend(o.backend);
      const model = loadModel(o.model, { backend, precision: o.precision });
      const hooks = resolveHooks(
        { hooks: o.hooks, layers: o.hooks === undefined ? (o.layers ?? "auto") : o.layers },
        model.dims.nLayers,
      );
      const tok = model.tokenizer as unknown as {
        encode(t: string): Int32Array;
        bosId: number | null;
        padId: number | null;
      };
      const contexts = Math.ceil(o.tokens / o.context);
      const bar = new RateProgress("harvest", contexts * o.context);
      try {
        const r = await runHarvest(
          model,
          tok,
          {
            modelDir: o.model,
            corpus,
            data: o.data,
            hooks,
            tokens: o.tokens,
            contextSize: o.context,
            llmBatch: o.llmBatch,
            dtype: o.dtype,
            runDir: o.out,
            keepSpecial: o.keepSpecial,
            shard: o.shard,
            contextsPerShard: o.shardContexts,
          },
          {
            onStart: () =>
              bar.message(
                `harvest: ${model.info.source} ${hooks.join(", ")} | ${contexts} contexts x ${o.context} tokens` +
                  `${o.shard.count > 1 ? ` | part ${o.shard.index}/${o.shard.count}` : ""} | ${o.precision} forward, ${o.dtype} -> ${o.out}/acts/`,
              ),
            onBatch: (done, total) => bar.update(done, total),
            onMessage: (l) => bar.message(l),
          },
          backend,
        );
        bar.stop();
        const mb = (r.bytes / 2 ** 20).toFixed(1);
        const tps = r.tokensRun > 0 ? Math.round(r.tokensRun / r.seconds) : 0;
        process.stdout.write(
          `harvest: ${r.complete ? "complete" : "part done"}: ${r.rows} rows per hook from ${r.contexts} contexts, ` +
            `${r.shardsWritten} shards written, ${r.shardsKept} kept from an earlier run, ${mb} MB, ` +
            `${formatSeconds(r.seconds)}${tps ? `, ${tps} tok/s` : ""}\n`,
        );
        for (const [i, h] of r.hooks.entries())
          process.stdout.write(`  ${r.dirs[i]}${r.scale[h] ? `  scale c = ${r.scale[h]!.toPrecision(6)}` : ""}\n`);
        if (!r.complete || o.shard.count > 1)
          process.stdout.write(`when every part is done: msae acts index ${join(o.out, "acts")}\n`);
      } finally {
        bar.stop();
      }
    });

  const acts = program.command("acts").description("activation stores: index the parts of a sharded harvest, inspect");
  acts
    .command("index <store>")
    .description("check that the parts of a --shard i/N harvest cover every shard once and write manifest.json")
    .option("--verify", "also read every shard and check its crc32")
    .action((store: string, opts: { verify?: boolean }) => {
      for (const dir of storeDirs(store)) {
        const r = indexStore(dir, { verify: opts.verify });
        process.stdout.write(
          `${dir}: ${r.alreadyIndexed ? "already indexed" : `indexed ${r.parts} parts`}, ${r.shards} shards, ${r.rows} rows, scale c = ${r.scale.toPrecision(6)}\n`,
        );
      }
    });
  acts
    .command("inspect <store>")
    .description("print what an activation store holds (manifest summary)")
    .option("--json", "print the manifests as JSON")
    .action((store: string, opts: { json?: boolean }) => {
      const ms = storeDirs(store).map((dir) => {
        const f = existsSync(join(dir, MANIFEST))
          ? join(dir, MANIFEST)
          : join(
              dir,
              readdirSync(dir)
                .filter((x) => PART_RE.test(x))
                .sort()[0],
            );
        return { dir, m: readManifest(f) };
      });
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify(
            ms.map((x) => ({ dir: x.dir, ...x.m, shards: x.m.shards.length })),
            null,
            2,
          )}\n`,
        );
        return;
      }
      for (const { dir, m } of ms) {
        const bytes = m.shards.reduce((n, e) => n + e.bytes, 0);
        process.stdout.write(
          `${dir}\n  hook ${m.hook}  d ${m.d}  ${m.dtype}  ${m.complete ? "complete" : "INCOMPLETE"}${m.part ? `  part ${m.part.index}/${m.part.count}` : ""}  ${m.precision ?? "f32"} forward\n` +
            `  model ${m.model_path} (${m.model.architecture}, sha256 ${m.model.content_sha256.slice(0, 12)}...)\n` +
            `  corpus ${m.corpus.join(", ")}  context ${m.context_size}  contexts [${m.context_range.join(", ")}) of ${m.contexts_total}\n` +
            `  rows ${m.rows} (excluded token ids: ${m.keep_special ? "none" : m.excluded_ids.join(", ")})  shards ${m.shards.length}  ${(bytes / 2 ** 20).toFixed(1)} MB\n` +
            `  scale c ${m.scale ? `${m.scale.value.toPrecision(6)} (from ${m.scale.rows} rows of the first ${m.scale.contexts} contexts)` : "not yet"}  msae ${m.msae_version}\n`,
        );
      }
    });
}
