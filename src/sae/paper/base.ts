/**
 * `base`: the plain ReLU SAE (paper Table 1, row 1; DESIGN.md s.2).
 *
 *   h = ReLU((x - b_dec) W_enc + b_enc);   x^ = h W_dec + b_dec
 *   L = mean_b ||x - x^||^2 + l1 mean_b sum_i |h_i| + l2 ||W_dec W_dec^T - I||_F   (M = all ones)
 */
import { paperFactory } from "./factory.ts";

export const baseFactory = paperFactory("base", { normalize: null, attention: false, coactMask: false });
