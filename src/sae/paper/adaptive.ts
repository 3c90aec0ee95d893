/**
 * `adaptive`: layernorm + adaptive statistics + EMA-thresholded orthogonality (Table 1, row 3).
 *
 *   mu = a mu_t + (1 - a) run_mean,  var = a var_t + (1 - a) run_var,  a = sigmoid(adapt_rho)
 *   n = ln_gamma (x - mu) / sqrt(var + eps) + ln_beta;  h = ReLU(n W_enc + b_enc)
 *   x^ = sqrt(var + eps) (h W_dec + b_dec) + mu   (reconstruct "paper": x^ = h W_dec + b_dec)
 *   L = mean_b ||x - x^||^2 + l1 mean_b sum_i |h_i| + l2 ||M o (W_dec W_dec^T - I)||_F,
 *   M from the EMA co-activation estimate (paper eq. 4, src/sae/ortho.ts);
 *   run_mean / run_var: EMA 0.99 of the batch statistics, updated after the forward, frozen at eval.
 */
import { paperFactory } from "./factory.ts";

export const adaptiveFactory = paperFactory("adaptive", {
  normalize: { adaptive: true, multiscale: false },
  attention: false,
  coactMask: true,
});
