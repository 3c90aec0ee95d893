/**
 * relu: the SAELens "standard" SAE (DESIGN.md s.2 baselines).
 *
 *   pre = (x - b_dec) W_enc + b_enc;  h = ReLU(pre);  x^ = h W_dec + b_dec
 *   L   = mean_b ||x - x^||^2 + l1 * mean_b sum_i h_bi ||W_dec,i||_2
 *
 * The L1 is weighted by the decoder row norms, and its gradient flows into those norms too.
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import type { SaeFactory, SaeHyper } from "../types.ts";
import { EncoderSae, type EncoderWs } from "./encoder-sae.ts";
import { arrayMaker, checkCommon, type FactoryOptions } from "./init.ts";
import { weightedL1 } from "./standard.ts";

export class ReluSae<A extends FloatArray> extends EncoderSae<A> {
  constructor(hyper: SaeHyper, backend: Backend, options: FactoryOptions<A>) {
    super("relu", hyper, backend, options, arrayMaker<A>(options.arrayType));
    this.sparseDecoder = true;
  }

  protected activate(pre: A, h: A): void {
    this.backend.relu(pre, h);
  }

  protected override sparsity(w: EncoderWs<A>, rows: number, gw: number): number {
    const { d, m } = this;
    return weightedL1(this.backend, w.h, rows, d, m, this.hyper.l1, gw, this.W_dec, w.dh, this.norms, this.colM);
  }

  protected activateBackward(w: EncoderWs<A>): void {
    this.backend.reluBackward(w.pre, w.dh, w.dpre);
  }
}

export const reluFactory: SaeFactory = (hyper, backend, options) => {
  checkCommon("relu", hyper, backend, options);
  return new ReluSae(hyper, backend, options);
};
