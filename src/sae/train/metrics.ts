/**
 * Training-time figures recorded in cfg.json (metadata l0, explained_variance, dead_count),
 * measured with the final weights by the inference forward (state frozen, the saved model's
 * behaviour: batchtopk / matryoshka use their JumpReLU threshold) on the last micro-batch x_in:
 *   l0 = mean_b #{i : h'_bi != 0};  explained_variance = 1 - sum_b ||x - x^||^2 / sum_b ||x - mean_b x||^2
 *   dead_count = features that did not fire in the last reactivateEvery optimizer steps.
 */
import type { SaeJob } from "./job.ts";

export function finalMetrics(
  j: SaeJob,
  x: Float32Array,
  rows: number,
): { l0: number; explainedVariance: number; deadCount: number } {
  const { d, m } = j.setup.hyper;
  const codes = new Float32Array(rows * m);
  const recon = new Float32Array(rows * d);
  j.sae.forward(x, rows, codes, recon);
  let nz = 0;
  for (let i = 0; i < codes.length; i++) if (codes[i] !== 0) nz++;
  const mean = new Float64Array(d);
  for (let r = 0; r < rows; r++) for (let c = 0; c < d; c++) mean[c] += x[r * d + c] / rows;
  let err = 0;
  let tot = 0;
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < d; c++) {
      err += (x[r * d + c] - recon[r * d + c]) ** 2;
      tot += (x[r * d + c] - mean[c]) ** 2;
    }
  const step = j.optimizer.stepCount;
  return {
    l0: nz / rows,
    explainedVariance: tot > 0 ? 1 - err / tot : 0,
    deadCount: m - j.dead.aliveCount(step, j.config.reactivateEvery),
  };
}
