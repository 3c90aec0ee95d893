/**
 * `attention`: adaptive + feature reweighting (paper eq. 5; Table 1, row 4).
 *
 *   n, mu, var as in `adaptive`;  h = ReLU(n W_enc + b_enc)
 *   h' = h o (m softmax(attn_alpha (n attn_WQ) attn_K^T / sqrt(d_k))),  d_k = d / 4
 *   x^ = sqrt(var + eps) (h' W_dec + b_dec) + mu   (reconstruct "paper": x^ = h' W_dec + b_dec)
 *   L = mean_b ||x - x^||^2 + l1 mean_b sum_i |h'_i| + l2 ||M o (W_dec W_dec^T - I)||_F   (EMA mask of h')
 */
import { paperFactory } from "./factory.ts";

export const attentionFactory = paperFactory("attention", {
  normalize: { adaptive: true, multiscale: false },
  attention: true,
  coactMask: true,
});
