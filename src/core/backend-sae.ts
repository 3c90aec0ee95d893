/**
 * Backend kernels of SAE training (part of the Backend interface, src/core/backend.ts): the loss
 * sums, the statistics of the codes and the paper's input normalization, over flat row-major arrays.
 *
 *   sqDiff(a, b, scale, out)      returns sum_i (a_i - b_i)^2 (float64); out_i = scale (a_i - b_i) (out may be null)
 *   activeStats(x, rows, cols, counts, stats)
 *                                 stats[0] = #(x != 0), stats[1] = sum x (float64);
 *                                 counts[c] += #{r : x[r, c] > 0} (counts may be null)
 *   addWherePositive(x, c, y)     y_i += c where x_i > 0
 *   scaleNormForward              per row b of x [rows, d]: mu_t = mean x_b, var_t = mean (x_b - mu_t)^2
 *                                 (float64 sums) into muT, varT [rows]; with v_j = a var_t + omRv_j,
 *                                 diff_j = x_bj - (a mu_t + omRm_j):
 *                                 n_bj = diff_j sum_s coef_sj (s_s v_j + eps)^-1/2 + shift_j,
 *                                 r1_bj = (v_j + eps)^-1/2; coef [S, d], scales [S], S = 1 or 4
 *   scaleNormBackward             from dn [rows, d]: acc [(S + 1), d] = T_sj = sum_b dn diff q_s, then
 *                                 N_j = sum_b dn (q_s = (s v + eps)^-1/2, float64 sums, overwritten);
 *                                 returns da = sum_bj dmu (mu_t - rm_j) + dv (var_t - rv_j) when adaptive
 *                                 (else 0), dmu = -dn sum_s coef_s q_s, dv = -dn diff sum_s (s/2) coef_s q_s^3
 *   denormalize                   out_bj = y_bj / r1_bj + a mu_t,b + omRm_j
 *   denormalizeBackward           dy = dx / r1; returns da = sum dx (mu_t - rm_j + y r1 (var_t - rv_j) / 2)
 *                                 when adaptive (else 0)
 * The normalization is src/sae/paper/normalize.ts's (equations in its header); a = 1 and omRm =
 * omRv = 0 without adaptive statistics. All float arrays of one call share one type.
 */
import type { FloatArray } from "./float-array.ts";

/** The per-call constants of the normalization kernels. */
export interface ScaleNormConstants<A extends FloatArray = FloatArray> {
  /** sigmoid(adapt_rho), 1 without adaptive statistics. */
  a: number;
  eps: number;
  /** (1 - a) run_mean, (1 - a) run_var [d]. */
  omRm: A;
  omRv: A;
  /** [S, d]: p_s ms_gamma_s (multi-scale) or ln_gamma (S = 1). */
  coef: A;
  /** [S]: the scales s (multi-scale) or [1]. */
  scales: A;
}

export interface SaeKernels {
  sqDiff(a: FloatArray, b: FloatArray, scale: number, out: FloatArray | null): number;
  /** x [rows, cols]; counts [cols] or null; stats [2] float64. */
  activeStats(x: FloatArray, rows: number, cols: number, counts: Int32Array | null, stats: Float64Array): void;
  addWherePositive(x: FloatArray, c: number, y: FloatArray): void;
  /** x, n, r1 [rows, d]; shift [d]; muT, varT [rows]. */
  scaleNormForward(
    x: FloatArray,
    rows: number,
    d: number,
    k: ScaleNormConstants,
    shift: FloatArray,
    n: FloatArray,
    r1: FloatArray,
    muT: FloatArray,
    varT: FloatArray,
  ): void;
  /** dn, x [rows, d]; muT, varT [rows]; rm, rv [d] (the running statistics the forward read); acc [(S + 1) * d] float64. */
  scaleNormBackward(
    dn: FloatArray,
    x: FloatArray,
    rows: number,
    d: number,
    k: ScaleNormConstants,
    muT: FloatArray,
    varT: FloatArray,
    rm: FloatArray,
    rv: FloatArray,
    adaptive: boolean,
    acc: Float64Array,
  ): number;
  /** y, r1, out [rows, d]; muT [rows]; omRm [d]. */
  denormalize(
    y: FloatArray,
    r1: FloatArray,
    muT: FloatArray,
    rows: number,
    d: number,
    a: number,
    omRm: FloatArray,
    out: FloatArray,
  ): void;
  /** dx, y, r1, dy [rows, d]; muT, varT [rows]; rm, rv [d]. */
  denormalizeBackward(
    dx: FloatArray,
    y: FloatArray,
    r1: FloatArray,
    muT: FloatArray,
    varT: FloatArray,
    rm: FloatArray,
    rv: FloatArray,
    rows: number,
    d: number,
    adaptive: boolean,
    dy: FloatArray,
  ): number;
}
