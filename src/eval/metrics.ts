/**
 * The metric names of DESIGN.md s.3 (SAEBench core definitions), as the JSON of `msae eval`,
 * results.json and the report use them: the keys of these objects are exactly these names.
 *
 * Reconstruction and sparsity (recon.ts), over the N evaluated tokens (special positions excluded),
 * x the hook activation and x^ the reconstruction, both in the model's original units, h' the codes [m]:
 *   mse                          = sum_t ||x_t - x^_t||^2 / (N d)
 *   mse_per_token                = sum_t ||x_t - x^_t||^2 / N                (SAEBench's per-token sum)
 *   explained_variance           = 1 - sum_t ||x_t - x^_t||^2 / sum_t ||x_t - mu||^2,  mu = mean_t x_t
 *   explained_variance_legacy    = mean_t (1 - ||x_t - x^_t||^2 / ||x_t - mu_g||^2), mu_g = mean of x over
 *                                  the token's evaluation group (one LLM batch of contexts, as SAELens)
 *   l0                           = mean_t #{i : h'_ti != 0};   l1 = mean_t sum_i |h'_ti|
 *   sparsity_pct                 = 100 (1 - l0 / m)           (the paper's "L0 Sparsity")
 *   l2_ratio                     = mean_t ||x^_t|| / ||x_t||
 *   relative_reconstruction_bias = sum_t ||x^_t||^2 / sum_t <x_t, x^_t>
 *   cossim                       = mean_t <x_t, x^_t> / (||x_t|| ||x^_t||), 0 where x^_t = 0 (or x_t = 0)
 *   frac_alive                   = #{i : h'_ti != 0 for some t} / m;   dead_pct = 100 (1 - frac_alive)
 * Spliced forwards (ce.ts), over the CE-scored positions (next-token targets; not where the next
 * token is BOS, not the last position of a context) and, for KL, the non-special positions:
 *   ce_clean, ce_sae, ce_zero    = mean cross-entropy (nats) of the clean model, the model with x^
 *                                  spliced in at the hook, and with the hook zeroed
 *   ce_loss_score                = (ce_zero - ce_sae) / (ce_zero - ce_clean)
 *   kl_div_score                 = (kl_zero - kl_sae) / kl_zero,  kl_* = mean_t KL(p_clean,t || p_patched,t)
 * Tokens where a per-token ratio is undefined (||x_t|| = 0 for l2_ratio, ||x_t - mu_g|| = 0 for the
 * legacy EV) are left out of that mean only.
 */

export const RECON_METRICS = [
  "mse",
  "mse_per_token",
  "explained_variance",
  "explained_variance_legacy",
  "l0",
  "l1",
  "sparsity_pct",
  "l2_ratio",
  "relative_reconstruction_bias",
  "cossim",
  "frac_alive",
  "dead_pct",
] as const;

export const SPLICED_METRICS = ["ce_clean", "ce_sae", "ce_zero", "ce_loss_score", "kl_div_score"] as const;

export const ALL_METRICS = [...RECON_METRICS, ...SPLICED_METRICS] as const;

export type ReconMetricName = (typeof RECON_METRICS)[number];
export type SplicedMetricName = (typeof SPLICED_METRICS)[number];
export type MetricName = (typeof ALL_METRICS)[number];

export type ReconMetrics = Record<ReconMetricName, number>;
export type SplicedMetrics = Record<SplicedMetricName, number>;
export type SaeMetrics = ReconMetrics & SplicedMetrics;

/** One line per metric, `name  value` (value to 6 significant digits). */
export function formatMetrics(m: Partial<Record<MetricName, number>>): string {
  const names = ALL_METRICS.filter((n) => m[n] !== undefined);
  const w = Math.max(...names.map((n) => n.length));
  return names.map((n) => `${n.padEnd(w)}  ${formatValue(m[n] as number)}`).join("\n");
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-4)) return v.toExponential(5);
  return Number(v.toPrecision(6)).toString();
}
