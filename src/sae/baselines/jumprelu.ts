/**
 * jumprelu (Rajamanoharan et al. 2024, SAELens JumpReLU training), DESIGN.md s.2 and the pins:
 *
 *   pre = (x - b_dec) W_enc + b_enc;  h = pre * [pre > threshold];  x^ = h W_dec + b_dec
 *   L   = mean_b ||x - x^||^2 + l1 * mean_b sum_i Step(pre_bi - threshold_i)
 *
 * `threshold` [m] is a trainable parameter (init jumpInitThreshold = 0.001; SAELens trains its log,
 * we train it directly). Straight-through gradients with the rectangle kernel K(u) = [|u| < 1/2]
 * and bandwidth eps (jumpBandwidth = 0.001):
 *   d h / d pre = [pre > threshold];   d h / d threshold = -(threshold / eps) K((pre - threshold) / eps)
 *   d Step / d threshold = -(1 / eps) K((pre - threshold) / eps);   no gradient to pre from the Step.
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import { badOption } from "../../core/errors.ts";
import type { Parameter } from "../../core/parameter.ts";
import type { SaeFactory, SaeHyper } from "../types.ts";
import { EncoderSae, type EncoderWs } from "./encoder-sae.ts";
import { arrayMaker, checkCommon, type FactoryOptions, vectorParam } from "./init.ts";

export class JumpReluSae<A extends FloatArray> extends EncoderSae<A> {
  private readonly threshold: Parameter<A>; // [m]

  constructor(hyper: SaeHyper, backend: Backend, options: FactoryOptions<A>) {
    const make = arrayMaker<A>(options.arrayType);
    super("jumprelu", hyper, backend, options, make);
    this.threshold = this.addParam(vectorParam("threshold", this.m, make, hyper.jumpInitThreshold), "elem");
  }

  protected activate(pre: A, h: A, rows: number): void {
    const m = this.m;
    const t = this.threshold.data;
    for (let r = 0; r < rows; r++) {
      const o = r * m;
      for (let i = 0; i < m; i++) {
        const v = pre[o + i];
        h[o + i] = v > t[i] ? v : 0;
      }
    }
  }

  /** l1 * mean_b sum_i [pre > threshold]; threshold.grad += gw l1/rows * sum_b -(1/eps) K. */
  protected override sparsity(w: EncoderWs<A>, rows: number, gw: number): number {
    const { m } = this;
    const { l1, jumpBandwidth: eps } = this.hyper;
    const t = this.threshold.data;
    const g = this.threshold.grad;
    const pre = w.pre;
    const c = (-gw * l1) / (rows * eps);
    let count = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * m;
      for (let i = 0; i < m; i++) {
        const v = pre[o + i];
        if (v > t[i]) count++;
        const u = (v - t[i]) / eps;
        if (u > -0.5 && u < 0.5) g[i] += c;
      }
    }
    return (l1 * count) / rows;
  }

  /** dpre = dh [pre > threshold]; threshold.grad += sum_b dh * -(threshold/eps) K. */
  protected activateBackward(w: EncoderWs<A>, rows: number): void {
    const { m } = this;
    const eps = this.hyper.jumpBandwidth;
    const t = this.threshold.data;
    const g = this.threshold.grad;
    const { pre, dh, dpre } = w;
    for (let r = 0; r < rows; r++) {
      const o = r * m;
      for (let i = 0; i < m; i++) {
        const v = pre[o + i];
        dpre[o + i] = v > t[i] ? dh[o + i] : 0;
        const u = (v - t[i]) / eps;
        if (u > -0.5 && u < 0.5) g[i] -= (t[i] / eps) * dh[o + i];
      }
    }
  }
}

export const jumpreluFactory: SaeFactory = (hyper, backend, options) => {
  checkCommon("jumprelu", hyper, backend, options);
  const { jumpBandwidth: eps, jumpInitThreshold: t0 } = hyper;
  if (!Number.isFinite(eps) || eps <= 0) throw badOption("jumpBandwidth", eps, "a finite number > 0");
  if (!Number.isFinite(t0) || t0 <= 0) throw badOption("jumpInitThreshold", t0, "a finite number > 0");
  return new JumpReluSae(hyper, backend, options);
};
