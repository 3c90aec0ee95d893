/**
 * Gradient clipping by global norm, and the NaN/inf guard.
 *
 *   norm = sqrt( sum_p sum_i grad_p[i]^2 )        (each sum through backend.sumSquares, float64)
 *   scale = maxNorm / norm  if norm > maxNorm, else 1;   grad_p <- scale * grad_p
 * so after clipping the global norm is min(norm, maxNorm). A non-finite norm leaves the gradients
 * untouched and is returned as is: `assertFiniteGradNorm` turns it into a one-line error naming
 * the first parameter whose gradient holds a NaN or inf (training must stop, not go on silently).
 */
import type { Backend, FloatArray } from "../core/backend.ts";
import type { Parameter } from "../core/parameter.ts";

export interface ClipResult {
  /** Global gradient norm before clipping (NaN or Infinity when a gradient is not finite). */
  norm: number;
  /** Factor the gradients were multiplied by (1 when not clipped or not finite). */
  scale: number;
}

/** sqrt of the sum of squares of every gradient entry (float64 accumulation). */
export function globalGradNorm(params: readonly Parameter<FloatArray>[], backend: Backend): number {
  let total = 0;
  for (const p of params) total += backend.sumSquares(p.grad);
  return Math.sqrt(total);
}

/** Scale all gradients so that their global norm is at most maxNorm (> 0). */
export function clipGradNorm(params: readonly Parameter<FloatArray>[], maxNorm: number, backend: Backend): ClipResult {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm))
    throw new RangeError(`clipGradNorm: maxNorm must be a finite number > 0, got ${maxNorm}`);
  const norm = globalGradNorm(params, backend);
  if (!Number.isFinite(norm) || norm <= maxNorm) return { norm, scale: 1 };
  const scale = maxNorm / norm;
  for (const p of params) backend.scale(p.grad, scale, p.grad);
  return { norm, scale };
}

/** The first parameter holding a non-finite gradient entry, with the index and value; null if none. */
export function findNonFiniteGrad(
  params: readonly Parameter<FloatArray>[],
): { param: Parameter<FloatArray>; index: number; value: number } | null {
  for (const param of params) {
    const g = param.grad;
    for (let i = 0; i < g.length; i++) {
      if (!Number.isFinite(g[i])) return { param, index: i, value: g[i] };
    }
  }
  return null;
}

/** Throw a one-line error when `norm` is not finite, naming the first bad parameter. */
export function assertFiniteGradNorm(norm: number, params: readonly Parameter<FloatArray>[], step?: number): void {
  if (Number.isFinite(norm)) return;
  const at = step === undefined ? "" : ` at optimizer step ${step}`;
  const bad = findNonFiniteGrad(params);
  if (!bad) {
    throw new Error(
      `gradient norm is ${norm}${at} although every gradient entry is finite (sum of squares overflowed); training stopped`,
    );
  }
  const { param, index, value } = bad;
  throw new Error(
    `gradient of parameter "${param.name}" [${param.shape.join(", ")}] is ${value} at index ${index}${at}; ` +
      "training stopped (try a lower learning rate, or check the inputs for NaN/inf)",
  );
}
