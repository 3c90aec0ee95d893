/**
 * The ablation's results as the report reads them (results.json): the set-up, one record per
 * (architecture, hook, seed) with every metric of DESIGN.md s.3 and the training figures, and the
 * summaries over seeds (stats.ts) per (architecture, hook, metric).
 */
import { SAE_ARCHS, type SaeArch } from "../sae/types.ts";
import { type Summary, summarize } from "./stats.ts";

export interface CurvePoint {
  step: number;
  tokens: number;
  loss: number;
  recon: number;
  l0: number;
}

export interface AblationRun {
  arch: SaeArch;
  hook: string;
  layer: number;
  seed: number;
  /** Metric name (DESIGN.md s.3 keys, e.g. mse, sparsity_pct, kl_div_score) -> value. */
  metrics: Record<string, number>;
  /** Out-of-distribution eval (nlp-corpus), when run. */
  metricsOod?: Record<string, number>;
  train: { seconds: number; tokens: number; tokens_per_s: number; steps: number };
  curve: CurvePoint[];
  /** log10 feature density over the eval set, one per feature (-Infinity written as null for dead ones). */
  log10Density: (number | null)[];
}

export interface AblationSetup {
  model: string;
  model_architecture: string;
  /** The model forward's precision for the harvest and the spliced evaluation (absent: f32). */
  precision?: "f32" | "bf16";
  data: string[];
  eval_data: string[];
  harvest_tokens: number;
  train_tokens: number;
  eval_tokens: number;
  context: number;
  recipe: string;
  reconstruct: string;
  hooks: string[];
  layers: number[];
  n_layers: number;
  seeds: number[];
  d: number;
  m: number;
  archs: SaeArch[];
  msae_version: string;
  machine: string;
  started: string;
  finished: string;
  seconds: number;
}

export interface SummaryRow extends Summary {
  arch: SaeArch;
  hook: string;
  metric: string;
}

export interface AblationResults {
  setup: AblationSetup;
  runs: AblationRun[];
  summary: SummaryRow[];
}

/** Metrics summarized and shown (DESIGN.md s.3 names plus the training figures). */
export const TRAIN_METRICS = ["train_seconds", "train_tokens_per_s"] as const;

export function metricValue(run: AblationRun, metric: string): number {
  if (metric === "train_seconds") return run.train.seconds;
  if (metric === "train_tokens_per_s") return run.train.tokens_per_s;
  return run.metrics[metric] ?? Number.NaN;
}

export function archOrder(a: SaeArch): number {
  return SAE_ARCHS.indexOf(a);
}

/** Summary per (arch, hook, metric) over seeds, in architecture then hook order. */
export function summarizeRuns(runs: readonly AblationRun[], hooks: readonly string[]): SummaryRow[] {
  const metrics = new Set<string>(TRAIN_METRICS);
  for (const r of runs) for (const k of Object.keys(r.metrics)) metrics.add(k);
  const archs = [...new Set(runs.map((r) => r.arch))].sort((a, b) => archOrder(a) - archOrder(b));
  const out: SummaryRow[] = [];
  for (const arch of archs)
    for (const hook of hooks) {
      const rs = runs.filter((r) => r.arch === arch && r.hook === hook);
      if (rs.length === 0) continue;
      for (const metric of metrics)
        out.push({ arch, hook, metric, ...summarize(rs.map((r) => metricValue(r, metric))) });
    }
  return out;
}

export function findSummary(
  rows: readonly SummaryRow[],
  arch: SaeArch,
  hook: string,
  metric: string,
): SummaryRow | undefined {
  return rows.find((r) => r.arch === arch && r.hook === hook && r.metric === metric);
}
