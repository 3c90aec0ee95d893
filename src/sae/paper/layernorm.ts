/**
 * `layernorm`: base + per-token LayerNorm (paper Table 1, row 2; DESIGN.md s.2).
 *
 *   n = ln_gamma (x - mu_t) / sqrt(var_t + eps) + ln_beta;   h = ReLU(n W_enc + b_enc)
 *   x^ = sqrt(var_t + eps) (h W_dec + b_dec) + mu_t   (reconstruct "paper": x^ = h W_dec + b_dec)
 *   L = mean_b ||x - x^||^2 + l1 mean_b sum_i |h_i| + l2 ||W_dec W_dec^T - I||_F   (M = all ones)
 */
import { paperFactory } from "./factory.ts";

export const layernormFactory = paperFactory("layernorm", {
  normalize: { adaptive: false, multiscale: false },
  attention: false,
  coactMask: false,
});
