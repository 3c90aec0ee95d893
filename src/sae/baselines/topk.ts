/**
 * topk (Gao et al. 2024), DESIGN.md s.2 baselines:
 *
 *   pre = (x - b_dec) W_enc + b_enc;  h = TopK_k(ReLU(pre)) per token (others 0; ties: lower index)
 *   x^  = h W_dec + b_dec;  L = mean_b ||x - x^||^2 + AuxK (src/sae/auxk.ts)
 *
 * d h / d pre = [kept] * [pre > 0]. No sparsity penalty (l1 unused).
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import { AuxK } from "../auxk.ts";
import type { LossParts, SaeFactory, SaeHyper, TrainBatchOptions } from "../types.ts";
import { RowWorkspace } from "../workspace.ts";
import { EncoderSae, type EncoderWs } from "./encoder-sae.ts";
import { arrayMaker, checkCommon, checkTopK, type FactoryOptions } from "./init.ts";

export class TopKSae<A extends FloatArray> extends EncoderSae<A> {
  private readonly auxk: AuxK<A>;
  private readonly idxTrain: RowWorkspace<"idx", Int32Array>; // [rows, k]
  private readonly idxInfer: RowWorkspace<"idx", Int32Array>; // [rows, k]

  constructor(hyper: SaeHyper, backend: Backend, options: FactoryOptions<A>) {
    const make = arrayMaker<A>(options.arrayType);
    super("topk", hyper, backend, options, make);
    this.auxk = new AuxK(backend, this.d, this.m, hyper.auxK, hyper.auxKCoef, make);
    this.idxTrain = new RowWorkspace((n) => new Int32Array(n), { idx: hyper.k });
    this.idxInfer = new RowWorkspace((n) => new Int32Array(n), { idx: hyper.k });
    this.sparseDecoder = true;
  }

  override trainBatch(x: A, rows: number, options: TrainBatchOptions): LossParts {
    const { m } = this;
    const k = this.hyper.k;
    const aux = this.auxk.plan(options.deadMask);
    if (!this.sparseStepFits(rows, k, aux)) return super.trainBatch(x, rows, options);
    const gw = this.beginBatch(x, rows, options);
    const dead = aux ? options.deadMask : null;
    return this.trainSparse(x, rows, gw, this.auxk, aux, dead, (pre0, n) => {
      // h and the AuxK selection in one pass over pre0 (+ b_enc, ReLU, TopK).
      const sel = this.sparse.uniform(n, k);
      const auxSel = aux ? this.auxk.selection(n, aux.kAux) : { idx: new Int32Array(0), val: this.make(0) };
      this.backend.topkSelect(
        pre0,
        this.b_enc.data,
        n,
        m,
        k,
        sel.idx,
        sel.val,
        dead,
        aux ? aux.kAux : 0,
        auxSel.idx,
        auxSel.val,
      );
    });
  }

  /** The k kept latents of each row, from TopK's indices (no scan of h). */
  protected override codesToSparse(h: A, rows: number): number {
    return this.sparse.fromRowIndices(h, this.idxTrain.at(rows).idx, rows, this.hyper.k);
  }

  protected activate(pre: A, h: A, rows: number, training: boolean): void {
    const idx = (training ? this.idxTrain : this.idxInfer).at(rows).idx;
    this.backend.relu(pre, h);
    this.backend.topkRows(h, rows, this.m, this.hyper.k, h, idx);
  }

  protected activateBackward(w: EncoderWs<A>, rows: number): void {
    const idx = this.idxTrain.at(rows).idx;
    this.backend.topkRowsBackward(w.dh, idx, rows, this.m, this.hyper.k, w.dpre);
    this.backend.reluBackward(w.pre, w.dpre, w.dpre);
  }

  protected override aux(w: EncoderWs<A>, rows: number, options: TrainBatchOptions): number {
    return this.auxk.loss(w.pre, w.e, rows, options.deadMask, this.W_dec, options.gradWeight, w.dpre);
  }
}

export const topkFactory: SaeFactory = (hyper, backend, options) => {
  checkCommon("topk", hyper, backend, options);
  checkTopK(hyper);
  return new TopKSae(hyper, backend, options);
};
