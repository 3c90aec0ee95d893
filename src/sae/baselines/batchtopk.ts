/**
 * batchtopk (Bussmann et al. 2024), DESIGN.md s.2 baselines and the pins:
 *
 *   training:  pre = (x - b_dec) W_enc + b_enc;  h = the k * B largest entries of ReLU(pre) over the
 *              whole batch [B, m] (ties: lower flat index first), others 0;
 *              x^ = h W_dec + b_dec;  L = mean_b ||x - x^||^2 + AuxK (src/sae/auxk.ts)
 *   state:     threshold_i <- beta threshold_i + (1 - beta) min_b {h_bi : h_bi kept and > 0}, for
 *              the features with a kept nonzero activation in the batch (beta = thresholdBeta, 0.999;
 *              init 0, and a feature's first observation sets it: threshold_i = min kept, the
 *              EMA's warm start); buffer `threshold` [m], saved with the weights.
 *   inference: JumpReLU h = ReLU(pre) * [pre > threshold].
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import { AuxK } from "../auxk.ts";
import type { BaselineArch, LossParts, SaeFactory, SaeHyper, TrainBatchOptions } from "../types.ts";
import { RowWorkspace } from "../workspace.ts";
import { EncoderSae, type EncoderWs } from "./encoder-sae.ts";
import { arrayMaker, checkCommon, checkThresholdBeta, checkTopK, type FactoryOptions } from "./init.ts";
import { batchTopK, jumpReluInPlace, thresholdEma, updateThresholdEma } from "./standard.ts";

export class BatchTopKSae<A extends FloatArray> extends EncoderSae<A> {
  protected readonly threshold: A; // [m]
  private readonly auxk: AuxK<A>;
  private readonly idx: RowWorkspace<"idx", Int32Array>; // [rows * k] flat indices into [rows, m]
  private readonly minKept: Float64Array; // [m]

  constructor(hyper: SaeHyper, backend: Backend, options: FactoryOptions<A>, arch: BaselineArch = "batchtopk") {
    const make = arrayMaker<A>(options.arrayType);
    super(arch, hyper, backend, options, make);
    this.threshold = make(this.m);
    this.buffers.set("threshold", { data: this.threshold, shape: [this.m], inWeights: true });
    this.auxk = new AuxK(backend, this.d, this.m, hyper.auxK, hyper.auxKCoef, make);
    this.idx = new RowWorkspace((n) => new Int32Array(n), { idx: hyper.k });
    this.minKept = new Float64Array(this.m);
    this.sparseDecoder = true;
  }

  /**
   * trainSparse (encoder-sae.ts) when the codes are sparse enough: h from backend.batchTopkSelect
   * (no dense pass), the AuxK selection from topkSelect, the threshold EMA from h's entries. A
   * subclass whose decoder differs overrides reconstructSparse too (matryoshka).
   */
  override trainBatch(x: A, rows: number, options: TrainBatchOptions): LossParts {
    const { m } = this;
    const k = this.hyper.k;
    const aux = this.auxk.plan(options.deadMask);
    if (!this.sparseStepFits(rows, k, aux)) return super.trainBatch(x, rows, options);
    const gw = this.beginBatch(x, rows, options);
    const none = new Int32Array(0);
    const parts = this.trainSparse(x, rows, gw, this.auxk, aux, aux ? options.deadMask : null, (pre0, n) => {
      this.sparse.fromBatchTopK(pre0, this.b_enc.data, n, k * n);
      if (aux) {
        const sel = this.auxk.selection(n, aux.kAux);
        this.backend.topkSelect(
          pre0,
          this.b_enc.data,
          n,
          m,
          0,
          none,
          this.make(0),
          options.deadMask,
          aux.kAux,
          sel.idx,
          sel.val,
        );
      }
    });
    if (options.updateState) {
      const cols = this.sparse.columns();
      const h = this.sparse.values();
      const minKept = this.minKept;
      minKept.fill(Number.POSITIVE_INFINITY);
      for (let e = 0; e < h.length; e++) if (h[e] > 0 && h[e] < minKept[cols[e]]) minKept[cols[e]] = h[e];
      thresholdEma(minKept, this.hyper.thresholdBeta, this.threshold);
    }
    return parts;
  }

  protected activate(pre: A, h: A, rows: number, training: boolean): void {
    if (!training) {
      if (pre !== h) h.set(pre);
      jumpReluInPlace(h, rows, this.m, this.threshold);
      return;
    }
    this.backend.relu(pre, h);
    batchTopK(this.backend, h, rows, this.m, this.hyper.k, h, this.idx.at(rows).idx);
  }

  protected activateBackward(w: EncoderWs<A>, rows: number): void {
    const { k } = this.hyper;
    this.backend.topkRowsBackward(w.dh, this.idx.at(rows).idx, 1, rows * this.m, k * rows, w.dpre);
    this.backend.reluBackward(w.pre, w.dpre, w.dpre);
  }

  protected override aux(w: EncoderWs<A>, rows: number, options: TrainBatchOptions): number {
    return this.auxk.loss(w.pre, w.e, rows, options.deadMask, this.W_dec, options.gradWeight, w.dpre);
  }

  protected override updateState(w: EncoderWs<A>, rows: number): void {
    updateThresholdEma(w.h, this.idx.at(rows).idx, this.m, this.hyper.thresholdBeta, this.threshold, this.minKept);
  }
}

export const batchtopkFactory: SaeFactory = (hyper, backend, options) => {
  checkCommon("batchtopk", hyper, backend, options);
  checkTopK(hyper);
  checkThresholdBeta(hyper);
  return new BatchTopKSae(hyper, backend, options);
};
