/**
 * Fixture of the feature-page tests: a small activation store harvested here from the tiny random
 * Gemma-2 fixture (test/golden/lm/gemma2-old, d = 48, several shards), and seeded SAE folders on its
 * hook (randomized weights, a few features made dead), plus brute-force oracles: every stored row
 * through the SAE loaded in float64 on the ref backend, and each context's token ids rebuilt from
 * the store (missing positions = BOS).
 */
import { join } from "node:path";
import { parseSaeHyper } from "../../src/config/sae.ts";
import { getBackend, refBackend } from "../../src/core/backends/index.ts";
import { openCorpus } from "../../src/data/spec.ts";
import { hookDir, runHarvest } from "../../src/harvest/harvest.ts";
import { type ActivationStore, openStore } from "../../src/harvest/store.ts";
import { loadModel } from "../../src/lm/loader.ts";
import { BASELINE_FACTORIES } from "../../src/sae/baselines/index.ts";
import { loadSae } from "../../src/sae/load.ts";
import { PAPER_FACTORIES } from "../../src/sae/paper/index.ts";
import { saveSae } from "../../src/sae/save.ts";
import type { SaeArch } from "../../src/sae/types.ts";
import { randomize } from "./sae-fixtures.ts";

export const FIXTURE = join(import.meta.dirname, "..", "golden", "lm", "gemma2-old");
export const HOOK = "blocks.1.hook_resid_post";
export const CONTEXT = 32;
export const CONTEXTS = 30;
export const FACTORIES = { ...PAPER_FACTORIES, ...BASELINE_FACTORIES };
/** Features forced dead (b_enc very negative) in every fixture SAE. */
export const DEAD = [3, 17];

export async function harvestFixture(runDir: string): Promise<ActivationStore> {
  const model = loadModel(FIXTURE);
  const tok = model.tokenizer as unknown as { encode(t: string): Int32Array; bosId: number; padId: number };
  await runHarvest(model, tok, {
    modelDir: FIXTURE,
    corpus: openCorpus("brown:validation"),
    data: ["brown:validation"],
    hooks: [HOOK],
    tokens: CONTEXTS * CONTEXT,
    contextSize: CONTEXT,
    llmBatch: 4,
    dtype: "f32",
    runDir,
    keepSpecial: false,
    contextsPerShard: 8,
  });
  return openStore(hookDir(runDir, HOOK));
}

/** Saves a seeded SAE of `arch` (d 48, m) for the store's hook; the store's scale is folded or recorded. */
export function saveFixtureSae(folder: string, arch: SaeArch, m: number, scale: number, seed: number): void {
  const d = 48;
  const hyper = parseSaeHyper({ arch, expansion: m / d }, d, "features fixture");
  const sae = FACTORIES[arch](hyper, getBackend(), {
    arrayType: "f32",
    seed,
    firstBatch: new Float32Array(d),
    rows: 1,
  });
  randomize(sae, seed + 1);
  const wEnc = sae.params.get("W_enc")!.param.data;
  const bEnc = sae.params.get("b_enc")!.param.data;
  // Encoder columns scaled so pre-activations are O(1) for inputs of norm ~sqrt(d); a few features dead.
  for (let i = 0; i < wEnc.length; i++) wEnc[i] *= 0.5;
  for (const f of DEAD) bEnc[f] = -1e4;
  saveSae(folder, sae, { scale, info: { hook_name: HOOK, context_size: CONTEXT } });
}

export interface BruteForce {
  rows: number;
  m: number;
  /** [rows, m] codes in float64 (ref backend, the SAE loaded as float64). */
  codes: Float64Array;
  context: Int32Array;
  position: Int32Array;
  /** Token ids of every context (BOS where the store dropped a position). */
  ids: Int32Array[];
}

export async function bruteForce(store: ActivationStore, saeFolder: string, bos: number): Promise<BruteForce> {
  const loaded = loadSae<Float64Array>(saeFolder, FACTORIES, refBackend, { arrayType: "f64" });
  const { d, m } = loaded.sae.hyper;
  const rows = store.rows;
  const x = new Float64Array(rows * d);
  const context = new Int32Array(rows);
  const position = new Int32Array(rows);
  const ids = Array.from({ length: store.contextsTotal }, () => new Int32Array(CONTEXT).fill(bos));
  let r = 0;
  for await (const c of store.chunks()) {
    for (let i = 0; i < c.rows; i++, r++) {
      for (let j = 0; j < d; j++) x[r * d + j] = loaded.scale * c.acts[0][i * d + j];
      context[r] = c.context[i];
      position[r] = c.position[i];
      ids[c.context[i]][c.position[i]] = c.token[i];
    }
  }
  const codes = new Float64Array(rows * m);
  loaded.sae.forward(x, rows, codes, new Float64Array(rows * d));
  return { rows, m, codes, context, position, ids };
}
