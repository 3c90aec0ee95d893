/**
 * Per-row / per-column gradient scaling (the paper's feature-importance scaling, DESIGN s.2).
 *
 * For a parameter P [R, ...] with rowGradScale s [R]:  grad[r, ...] <- grad[r, ...] * s[r]
 *   (W_dec [m, d] rows, b_enc [m] entries).
 * For a 2-D parameter P [R, C] with colGradScale s [C]: grad[r, c] <- grad[r, c] * s[c]
 *   (W_enc [d, m] columns).
 * Both may be set; both then apply. Runs in place through backend.scaleRows / backend.scaleCols,
 * before global-norm clipping (see accumulate.ts for the whole order).
 */
import type { Backend, FloatArray } from "../core/backend.ts";
import type { Parameter } from "../core/parameter.ts";

/** Apply every rowGradScale / colGradScale set on `params` to their gradients, in place. */
export function applyGradScales(params: readonly Parameter<FloatArray>[], backend: Backend): void {
  for (const p of params) {
    if (p.rowGradScale) {
      const rows = p.shape.length === 0 ? 1 : p.shape[0];
      if (p.rowGradScale.length !== rows)
        throw new RangeError(
          `rowGradScale of parameter "${p.name}" has ${p.rowGradScale.length} entries, expected ${rows} (shape [${p.shape.join(", ")}])`,
        );
      const cols = rows === 0 ? 0 : p.grad.length / rows;
      backend.scaleRows(p.grad, p.rowGradScale, rows, cols, p.grad);
    }
    if (p.colGradScale) {
      if (p.shape.length !== 2)
        throw new RangeError(
          `colGradScale is set on parameter "${p.name}" of shape [${p.shape.join(", ")}], but it needs a 2-D [rows, cols] parameter`,
        );
      const [rows, cols] = p.shape;
      if (p.colGradScale.length !== cols)
        throw new RangeError(
          `colGradScale of parameter "${p.name}" has ${p.colGradScale.length} entries, expected ${cols} (shape [${rows}, ${cols}])`,
        );
      backend.scaleCols(p.grad, p.colGradScale, rows, cols, p.grad);
    }
  }
}
