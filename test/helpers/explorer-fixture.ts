/**
 * A run folder for the serve / explorer tests: sae/<arch>/<hook>/ holding an SAE built by the
 * baseline factories with random (non-trivial) weights, saved by saveSae in the SAELens layout, whose
 * metadata names the model folder it runs on.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseSaeHyper } from "../../src/config/sae.ts";
import { refBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import { BASELINE_FACTORIES } from "../../src/sae/baselines/index.ts";
import { saveSae } from "../../src/sae/save.ts";
import type { BaselineArch } from "../../src/sae/types.ts";

export const FIXTURE_MODEL = join(import.meta.dirname, "..", "golden", "lm", "gemma2-old");

export interface FixtureSae {
  arch: BaselineArch;
  hook: string;
  d: number;
  m: number;
  model: string;
  seed?: number;
  hyper?: Record<string, unknown>;
}

/** Writes runs-like `root`/sae/<arch>/<hook>/ for each SAE; returns the SAE folders. */
export function makeRunFolder(root: string, saes: readonly FixtureSae[]): string[] {
  mkdirSync(root, { recursive: true });
  return saes.map((s) => {
    const hyper = parseSaeHyper({ arch: s.arch, expansion: s.m / s.d, ...s.hyper }, s.d, "fixture");
    const rng = new Rng(s.seed ?? 7);
    const first = new Float32Array(4 * s.d);
    rng.fillNormal(first, 0.1);
    const sae = BASELINE_FACTORIES[s.arch](hyper, refBackend, {
      arrayType: "f32",
      seed: s.seed ?? 7,
      firstBatch: first,
      rows: 4,
    });
    for (const [name, { param }] of sae.params) {
      if (name === "W_enc" || name === "W_dec") rng.fillNormal(param.data, 1 / Math.sqrt(s.d));
      else if (name === "b_enc") for (let i = 0; i < param.data.length; i++) param.data[i] = 0.2 * rng.normal() - 0.05;
    }
    const folder = join(root, "sae", s.arch, s.hook);
    saveSae(folder, sae, { info: { model_name: s.model, hook_name: s.hook, prepend_bos: true, context_size: 64 } });
    return folder;
  });
}
