/**
 * A synthetic ablation (ten architectures x two hooks x three seeds, seeded random metrics) for the
 * report's tests: what writeReport receives, without training anything.
 */
import { Rng } from "../../src/core/tensor.ts";
import type { AblationRun, AblationSetup } from "../../src/report/results.ts";
import type { SaeArch } from "../../src/sae/types.ts";

export const ARCHS: SaeArch[] = [
  "base",
  "layernorm",
  "adaptive",
  "attention",
  "multiscale",
  "relu",
  "topk",
  "batchtopk",
  "jumprelu",
  "matryoshka",
];
export const HOOKS = ["blocks.1.hook_resid_post", "blocks.3.hook_resid_post"];

export function fakeRuns(): AblationRun[] {
  const rng = new Rng(5);
  const runs: AblationRun[] = [];
  for (const arch of ARCHS)
    for (const [li, hook] of HOOKS.entries())
      for (const seed of [0, 1, 2]) {
        const metrics: Record<string, number> = {};
        for (const m of [
          "mse",
          "sparsity_pct",
          "kl_div_score",
          "l2_ratio",
          "ce_loss_score",
          "explained_variance",
          "l0",
          "l1",
          "cossim",
          "frac_alive",
          "dead_pct",
          "mse_per_token",
        ])
          metrics[m] =
            rng.next() * (m === "sparsity_pct" ? 100 : m === "l0" ? 30 : 1) - (m.endsWith("score") ? 0.3 : 0);
        runs.push({
          arch,
          hook,
          layer: 1 + 2 * li,
          seed,
          metrics,
          train: { seconds: 1 + rng.next(), tokens: 10000, tokens_per_s: 5000 + 1000 * rng.next(), steps: 5 },
          curve: [0, 1, 2, 3].map((s) => ({
            step: s,
            tokens: s * 2048,
            loss: 2 / (s + 1),
            recon: 1 / (s + 1),
            l0: 10,
          })),
          log10Density: Array.from({ length: 32 }, (_, i) => (i % 7 === 0 ? null : -3 * rng.next())),
        });
      }
  return runs;
}

export const SETUP: AblationSetup = {
  model: "models/tiny-gemma2",
  model_architecture: "gemma2",
  data: ["brown:train"],
  eval_data: ["brown:validation"],
  harvest_tokens: 100000,
  train_tokens: 100000,
  eval_tokens: 20000,
  context: 128,
  recipe: "default",
  reconstruct: "denormalized",
  hooks: HOOKS,
  layers: [1, 3],
  n_layers: 6,
  seeds: [0, 1, 2],
  d: 256,
  m: 256,
  archs: ARCHS,
  msae_version: "0.1.0",
  machine: "test",
  started: "2026-12-01T00:00:00Z",
  finished: "2026-12-01T00:01:00Z",
  seconds: 60,
};
