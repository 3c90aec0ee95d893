/**
 * Writing the feature folder (runs/<name>/features/<arch>/<hook>/):
 *   features-NNNN.json   FeatureRecord of features [256 N, 256 (N + 1)) (format msae-features-1)
 *   index.json           the run's facts and every feature's FeatureSummary
 *   <id>.html            one page per feature (page.ts)
 *   index.html           the searchable, sortable list (index-page.ts)
 * Records are built and written one shard at a time (memory: one shard's records). The folder is
 * written as a whole into a temp folder beside it (every file fsynced, 8 at a time), then renamed into place (an
 * existing folder is renamed aside first and removed after), so a reader never sees a mix.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { fsyncDirSync } from "../../io/atomic.ts";
import type { FeatureStats } from "./collect.ts";
import { indexPageHtml } from "./index-page.ts";
import { featurePageHtml, type SiteInfo } from "./page.ts";
import { featureRecord, featureSummary, topTokens } from "./records.ts";
import type { FeatureStatsOptions, FeatureSummary, TokenEffect } from "./types.ts";

export const FEATURES_FORMAT = "msae-features-1";
export const FEATURES_PER_SHARD = 256;
export const shardName = (s: number): string => `features-${String(s).padStart(4, "0")}.json`;

/** fsyncs files, a few at a time on libuv's pool (one by one costs ~4 ms each on a VM disk). */
async function fsyncAll(paths: readonly string[], parallel = 8): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const h = await open(paths[next++], "r+");
      try {
        await h.sync();
      } finally {
        await h.close();
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

export interface SiteInput {
  stats: FeatureStats;
  options: FeatureStatsOptions;
  tokenText: (id: number) => string;
  logits: { promoted: TokenEffect[]; suppressed: TokenEffect[] }[];
  neighbours: { id: number; cosine: number }[][];
  site: SiteInfo;
  /** Facts about the run for index.json (sae folder, model, hook, data, ...). */
  facts: Record<string, unknown>;
  /** Lines shown under the index's title. */
  lines: string[];
}

export async function writeFeatureSite(
  outDir: string,
  input: SiteInput,
): Promise<{ files: number; summaries: FeatureSummary[] }> {
  const target = resolve(outDir);
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  const tag = `${process.pid}-${randomBytes(6).toString("hex")}`;
  const tmp = join(parent, `.${basename(target)}.tmp-${tag}`);
  mkdirSync(tmp);
  const { stats, options } = input;
  const summaries: FeatureSummary[] = [];
  const shards: string[] = [];
  const written: string[] = [];
  const put = (name: string, text: string) => {
    const path = join(tmp, name);
    writeFileSync(path, text);
    written.push(path);
  };
  const tops = Array.from({ length: stats.m }, (_, f) => topTokens(stats, f, options.before, input.tokenText));
  try {
    for (let a = 0; a < stats.m; a += FEATURES_PER_SHARD) {
      const b = Math.min(stats.m, a + FEATURES_PER_SHARD);
      const records = [];
      for (let f = a; f < b; f++) {
        const r = featureRecord(stats, f, options, input.tokenText, input.logits[f], input.neighbours[f]);
        records.push(r);
        summaries.push(featureSummary(r, tops[f]));
        put(
          `${f}.html`,
          featurePageHtml(r, input.site, (id) => tops[id] ?? []),
        );
      }
      const name = shardName(a / FEATURES_PER_SHARD);
      shards.push(name);
      put(name, `${JSON.stringify({ format: FEATURES_FORMAT, first: a, features: records })}\n`);
    }
    const index = {
      format: FEATURES_FORMAT,
      ...input.facts,
      d_sae: stats.m,
      tokens: stats.tokens,
      options,
      logit_effects: input.site.logitNote,
      features_per_shard: FEATURES_PER_SHARD,
      shards,
      features: summaries,
    };
    put("index.json", `${JSON.stringify(index, null, 1)}\n`);
    put("index.html", indexPageHtml(summaries, { title: input.site.title, tokens: stats.tokens, lines: input.lines }));
    await fsyncAll(written);
    fsyncDirSync(tmp);
    if (existsSync(target)) {
      const old = join(parent, `.${basename(target)}.old-${tag}`);
      renameSync(target, old);
      renameSync(tmp, target);
      rmSync(old, { recursive: true, force: true });
    } else renameSync(tmp, target);
    fsyncDirSync(parent);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return { files: written.length, summaries };
}
