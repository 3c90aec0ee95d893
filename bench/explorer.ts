/**
 * `msae bench explorer`: the time the live explorer takes in headless Chromium for a 64-token
 * text (+ BOS), served by `msae serve`'s server, and the same engine in Node on the ref backend, the
 * explorer's backend (backend.ts) and the default backend for comparison, in one run.
 *
 *   bundle   server start and the esbuild bundle (once per server)
 *   load     page navigation -> engine ready: fetch model + SAE, parse safetensors, build (wall, Node side)
 *   run      one explore(text): tokenize, forward up to the hook, SAE, per-token decode (best / median
 *            of `reps` calls after the page's own first run)
 *
 * SAE: `--run <dir> --sae <arch>/<hook>` uses an existing one; otherwise a random topk SAE
 * (expansion 8, k 32) at the middle block's resid_post of the model is written to a temp run folder.
 * Chromium: Debian's /usr/bin/chromium (MSAE_CHROMIUM overrides) through playwright-core (a dev
 * dependency; the CLI says so when it is missing).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSaeHyper } from "../src/config/sae.ts";
import type { Backend } from "../src/core/backend.ts";
import { refBackend } from "../src/core/backends/index.ts";
import { Rng } from "../src/core/tensor.ts";
import { readModelConfig } from "../src/lm/loader.ts";
import { ExplorerBackend } from "../src/report/explorer/backend.ts";
import { explorerBundle } from "../src/report/explorer/bundle.ts";
import { ExplorerEngine, type ExplorerParts } from "../src/report/explorer/engine.ts";
import { startServer } from "../src/report/serve/server.ts";
import { BASELINE_FACTORIES } from "../src/sae/baselines/index.ts";
import { saveSae } from "../src/sae/save.ts";
import { loadTokenizer } from "../src/tokenizer/load.ts";
import { launchBrowser } from "../test/helpers/browser.ts";

export interface ExplorerBenchOptions {
  modelDir: string;
  /** Existing run folder and SAE id ("<arch>/<hook>"), or null for a random SAE. */
  run: string | null;
  sae: string | null;
  tokens: number;
  reps: number;
  backend: Backend;
  log?: (line: string) => void;
}

export interface ExplorerBenchResult {
  model: string;
  sae: string;
  d_sae: number;
  text_tokens: number;
  rows: number;
  chromium: string;
  /** Server start + esbuild bundle of the explorer (once per server). */
  bundle_ms: number;
  browser_load_ms: number;
  browser_fetch_ms: number;
  browser_build_ms: number;
  browser_run_best_ms: number;
  browser_run_median_ms: number;
  node_ref_run_best_ms: number;
  node_explorer_backend_run_best_ms: number;
  node_backend: string;
  node_backend_run_best_ms: number;
}

const TEXT =
  "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election " +
  "produced no evidence that any irregularities took place. The jury further said in term-end " +
  "presentments that the City Executive Committee, which had over-all charge of the election, deserves " +
  "the praise and thanks of the City of Atlanta for the manner in which the election was conducted. " +
  "The September-October term jury had been charged by Fulton Superior Court Judge Durwood Pye to " +
  "investigate reports of possible irregularities in the hard-fought primary.";

/** A prefix of TEXT that the tokenizer splits into exactly n tokens. */
function textOfTokens(tokPath: string, n: number): string {
  const tok = loadTokenizer(tokPath);
  let text = TEXT;
  while (tok.encode(text).length < n) text = `${text} ${TEXT}`;
  let cut = tok.decode(tok.encode(text).slice(0, n));
  while (tok.encode(cut).length > n) cut = cut.slice(0, -1);
  if (tok.encode(cut).length !== n) throw new Error(`could not cut the bench text to exactly ${n} tokens`);
  return cut;
}

function best(xs: number[]): number {
  return Math.min(...xs);
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
const r1 = (x: number) => Math.round(x * 10) / 10;

function randomSae(root: string, modelDir: string): string {
  const { arch, config } = readModelConfig(modelDir);
  const dims = arch.dims(config);
  const hook = `blocks.${Math.floor(dims.nLayers / 2)}.hook_resid_post`;
  const d = dims.dModel;
  const hyper = parseSaeHyper({ arch: "topk", expansion: 8, k: 32 }, d, "bench");
  const rng = new Rng(1);
  const first = rng.fillNormal(new Float32Array(4 * d), 1);
  const sae = BASELINE_FACTORIES.topk(hyper, refBackend, { arrayType: "f32", seed: 1, firstBatch: first, rows: 4 });
  saveSae(join(root, "sae", "topk", hook), sae, { info: { model_name: modelDir, hook_name: hook, prepend_bos: true } });
  return `topk/${hook}`;
}

export async function runExplorerBench(o: ExplorerBenchOptions): Promise<ExplorerBenchResult> {
  const tmp = o.run ? null : mkdtempSync(join(tmpdir(), "msae-bench-explorer-"));
  try {
    const root = o.run ?? (tmp as string);
    const saeId = o.sae ?? randomSae(root, o.modelDir);
    const text = textOfTokens(join(o.modelDir, "tokenizer.json"), o.tokens);
    const tb = performance.now();
    const srv = await startServer({ root, port: 0, host: "127.0.0.1", model: o.modelDir });
    await explorerBundle(); // built at server start; the page load below is the user's
    const bundleMs = performance.now() - tb;
    const browser = await launchBrowser();
    if (typeof browser === "string") throw new Error(browser);
    let res: Omit<
      ExplorerBenchResult,
      "node_ref_run_best_ms" | "node_explorer_backend_run_best_ms" | "node_backend" | "node_backend_run_best_ms"
    >;
    try {
      const page = await browser.newPage();
      o.log?.(`loading the explorer for ${saeId} in headless Chromium ${browser.version()}`);
      const t0 = performance.now();
      await page.goto(`${srv.url}explorer/?sae=${encodeURIComponent(saeId)}`);
      const info = (await page.evaluate("window.msaeExplorer.ready")) as { features: number };
      const loadMs = performance.now() - t0;
      const timings = (await page.evaluate("window.msaeExplorer.timings")) as Record<string, number>;
      const runs: number[] = [];
      let rows = 0;
      for (let i = 0; i < o.reps; i++) {
        const r = (await page.evaluate(
          `(() => { const r = window.msaeExplorer.run(${JSON.stringify(text)}); return { ms: r.ms, rows: r.ids.length }; })()`,
        )) as { ms: number; rows: number };
        runs.push(r.ms);
        rows = r.rows;
      }
      res = {
        model: o.modelDir,
        sae: saeId,
        d_sae: info.features,
        text_tokens: o.tokens,
        rows,
        chromium: browser.version(),
        bundle_ms: r1(bundleMs),
        browser_load_ms: r1(loadMs),
        browser_fetch_ms: r1(timings.fetch_ms),
        browser_build_ms: r1(timings.build_ms),
        browser_run_best_ms: r1(best(runs)),
        browser_run_median_ms: r1(median(runs)),
      };
    } finally {
      await browser.close();
      await srv.close();
    }
    // The same engine in Node, from the same bytes.
    const saeDir = join(root, "sae", ...saeId.split("/"));
    const tokCfgPath = join(o.modelDir, "tokenizer_config.json");
    let tokenizerConfig: Record<string, unknown> = {};
    try {
      tokenizerConfig = JSON.parse(readFileSync(tokCfgPath, "utf8"));
    } catch {
      tokenizerConfig = {};
    }
    const parts: ExplorerParts = {
      modelConfig: JSON.parse(readFileSync(join(o.modelDir, "config.json"), "utf8")),
      modelWeights: readFileSync(join(o.modelDir, "model.safetensors")),
      tokenizerJson: JSON.parse(readFileSync(join(o.modelDir, "tokenizer.json"), "utf8")),
      tokenizerConfig,
      saeCfg: JSON.parse(readFileSync(join(saeDir, "cfg.json"), "utf8")),
      saeWeights: readFileSync(join(saeDir, "sae_weights.safetensors")),
      names: { model: o.modelDir, sae: saeDir },
    };
    const timeNode = (backend: Backend): number => {
      const engine = new ExplorerEngine(parts, backend);
      engine.explore(text);
      const ts: number[] = [];
      for (let i = 0; i < o.reps; i++) {
        const t = performance.now();
        engine.explore(text);
        ts.push(performance.now() - t);
      }
      return r1(best(ts));
    };
    return {
      ...res,
      node_ref_run_best_ms: timeNode(refBackend),
      node_explorer_backend_run_best_ms: timeNode(new ExplorerBackend()),
      node_backend: o.backend.name,
      node_backend_run_best_ms: timeNode(o.backend),
    };
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

export function formatExplorerBench(r: ExplorerBenchResult): string {
  return (
    `model ${r.model}  SAE ${r.sae} (d_sae ${r.d_sae})  text ${r.text_tokens} tokens (+ BOS = ${r.rows} rows)\n` +
    `headless Chromium ${r.chromium}\n` +
    "| case | ms |\n|---|---|\n" +
    `| server start + esbuild bundle of the explorer (once per server) | ${r.bundle_ms} |\n` +
    `| browser: page load to ready (fetch ${r.browser_fetch_ms} + build ${r.browser_build_ms}) | ${r.browser_load_ms} |\n` +
    `| browser: explore 64-token text, best (median ${r.browser_run_median_ms}) | ${r.browser_run_best_ms} |\n` +
    `| node, ref backend (the oracle): explore, best | ${r.node_ref_run_best_ms} |\n` +
    `| node, explorer backend (ref + reordered gemm, as in the browser): explore, best | ${r.node_explorer_backend_run_best_ms} |\n` +
    `| node, ${r.node_backend} backend: explore, best | ${r.node_backend_run_best_ms} |\n`
  );
}
