/**
 * `multiscale`: attention + multi-scale normalization (paper eq. 2-3; the paper's method; Table 1, row 5).
 *
 *   mu, var as in `adaptive` (a = sigmoid(adapt_rho) mixing token and running statistics)
 *   n = sum_s softmax(ms_w)_s (ms_gamma_s (x - mu) / sqrt(s var + eps) + ms_beta_s),  s in {0.1, 0.5, 1, 2}
 *   h = ReLU(n W_enc + b_enc);  h' = h o (m softmax(attn_alpha (n attn_WQ) attn_K^T / sqrt(d_k)))
 *   x^ = sqrt(var + eps) (h' W_dec + b_dec) + mu   (de-normalized with s = 1; "paper": x^ = h' W_dec + b_dec)
 *   L = mean_b ||x - x^||^2 + l1 mean_b sum_i |h'_i| + l2 ||M o (W_dec W_dec^T - I)||_F   (EMA mask of h')
 *
 * With per-token statistics eq. 2-3 is one affine LayerNorm except through eps (DESIGN.md s.2):
 * the ablation measures whether the reparameterization matters.
 */
import { paperFactory } from "./factory.ts";

export const multiscaleFactory = paperFactory("multiscale", {
  normalize: { adaptive: true, multiscale: true },
  attention: true,
  coactMask: true,
});
