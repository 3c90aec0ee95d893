/**
 * What a run folder holds, for `msae serve`'s index page and the explorer's list of SAEs:
 *
 *   report/index.html                         the ablation report
 *   features/index.html, features/index.json  feature pages and their search index (msae features)
 *   sae/<arch>/<hook>/cfg.json + sae_weights.safetensors     SAEs (SAELens layout)
 *   acts/<hook>/manifest.json                 activation stores
 *   eval/*.json                               evaluations
 *
 * Each SAE's language model: the folder `--model` names, else the cfg's metadata.model_name when
 * that is a model folder (config.json inside; relative to the current directory), else the
 * shipped default (models/tiny-gemma2). Unreadable entries are listed with the reason, not fatal.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { defaultModelDir } from "../../core/paths.ts";
import { MANIFEST, readManifest } from "../../harvest/manifest.ts";
import { readSaelensConfig, SAELENS_CFG_FILE, SAELENS_WEIGHTS_FILE } from "../../io/saelens.ts";

export interface SaeEntry {
  /** "<arch>/<hook>" (the folder under sae/). */
  id: string;
  arch: string;
  hook: string;
  dIn: number | null;
  dSae: number | null;
  /** Absolute model folder the explorer runs it with (null when the SAE cannot be read). */
  modelDir: string | null;
  /** Why the SAE cannot be explored, or null. */
  problem: string | null;
}

export interface StoreEntry {
  hook: string;
  tokens: number | null;
  complete: boolean;
  problem: string | null;
}

export interface RunFolder {
  root: string;
  name: string;
  report: boolean;
  features: boolean;
  featuresIndex: boolean;
  saes: SaeEntry[];
  stores: StoreEntry[];
  evals: string[];
}

function dirs(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith("."))
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
}

function isModelFolder(dir: string): boolean {
  return existsSync(join(dir, "config.json")) && statSync(dir).isDirectory();
}

/** The model folder for an SAE (see the header). */
export function modelFor(modelName: unknown, override: string | null): string {
  if (override) return resolve(override);
  if (typeof modelName === "string" && modelName !== "") {
    const p = isAbsolute(modelName) ? modelName : resolve(modelName);
    if (existsSync(p) && isModelFolder(p)) return p;
  }
  return defaultModelDir;
}

export function scanRunFolder(root: string, modelOverride: string | null): RunFolder {
  const saes: SaeEntry[] = [];
  for (const arch of dirs(join(root, "sae")))
    for (const hook of dirs(join(root, "sae", arch))) {
      const folder = join(root, "sae", arch, hook);
      const entry: SaeEntry = {
        id: `${arch}/${hook}`,
        arch,
        hook,
        dIn: null,
        dSae: null,
        modelDir: null,
        problem: null,
      };
      try {
        if (!existsSync(join(folder, SAELENS_WEIGHTS_FILE))) throw new Error(`no ${SAELENS_WEIGHTS_FILE}`);
        const cfg = readSaelensConfig(join(folder, SAELENS_CFG_FILE));
        entry.dIn = cfg.d_in;
        entry.dSae = cfg.d_sae;
        entry.modelDir = modelFor(cfg.metadata.model_name, modelOverride);
        if (!existsSync(join(entry.modelDir, "model.safetensors")))
          throw new Error(`model folder ${entry.modelDir} has no model.safetensors (the explorer needs a single file)`);
      } catch (e) {
        entry.problem = (e as Error).message.split("\n")[0];
      }
      saes.push(entry);
    }
  const stores: StoreEntry[] = [];
  for (const hook of dirs(join(root, "acts"))) {
    const s: StoreEntry = { hook, tokens: null, complete: false, problem: null };
    try {
      const m = readManifest(join(root, "acts", hook, MANIFEST));
      s.tokens = m.tokens;
      s.complete = m.complete;
    } catch (e) {
      s.problem = (e as Error).message.split("\n")[0];
    }
    stores.push(s);
  }
  let evals: string[] = [];
  try {
    evals = readdirSync(join(root, "eval"))
      .filter((f) => f.endsWith(".json") && !f.startsWith("."))
      .sort();
  } catch {
    evals = [];
  }
  return {
    root,
    name: root.split(/[\\/]/).filter(Boolean).pop() ?? root,
    report: existsSync(join(root, "report", "index.html")),
    features: existsSync(join(root, "features", "index.html")),
    featuresIndex: existsSync(join(root, "features", "index.json")),
    saes,
    stores,
    evals,
  };
}
