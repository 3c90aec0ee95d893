/**
 * The pipeline of the standard-encoder baselines (relu, topk, batchtopk, jumprelu, matryoshka):
 *
 *   pre = (x - b_dec) W_enc + b_enc;  h = act(pre);  x^ = h W_dec + b_dec
 *   L   = mean_b ||x - x^||^2 + sparsity(h, pre) + aux
 *
 * Forward then backward of one micro-batch, in order: encode, activate, reconstruct (loss and its
 * backward to d h), sparsity (adds to d h), activateBackward (d h -> d pre), aux (adds to d pre),
 * encodeBackward. Each variant overrides only its steps; the shared kernels are in standard.ts.
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import type { Parameter } from "../../core/parameter.ts";
import type { AuxK } from "../auxk.ts";
import { SparseCodes } from "../sparse-codes.ts";
import type { BaselineArch, LossParts, SaeHyper, TrainBatchOptions } from "../types.ts";
import { RowWorkspace } from "../workspace.ts";
import { type FactoryOptions, initStandard, type MakeArray, vectorParam } from "./init.ts";
import {
  BaselineBase,
  decode,
  decodeBackward,
  encode,
  encodeBackward,
  lossParts,
  meanL0,
  residual,
} from "./standard.ts";

/** Per-row buffers of one micro-batch: widths d (xc, e, dxhat) and m (pre, h, dh, dpre). */
export type EncoderWs<A extends FloatArray> = Readonly<Record<"xc" | "e" | "dxhat" | "pre" | "h" | "dh" | "dpre", A>>;

export abstract class EncoderSae<A extends FloatArray> extends BaselineBase<A> {
  protected readonly W_enc: Parameter<A>; // [d, m]
  protected readonly b_enc: Parameter<A>; // [m]
  protected readonly W_dec: Parameter<A>; // [m, d]
  protected readonly b_dec: Parameter<A>; // [d]
  protected readonly ws: RowWorkspace<"xc" | "e" | "dxhat" | "pre" | "h" | "dh" | "dpre", A>;
  protected readonly negBdec: A; // [d]
  protected readonly colD: A; // [d]
  protected readonly colM: A; // [m]
  protected readonly norms: A; // [m]
  /**
   * True for archs whose activation backward reads d L / d h only where h != 0 (relu, topk,
   * batchtopk): their decoder may run on the active latents (sparse-codes.ts). jumprelu's threshold
   * gradient reads it below the threshold too, so it stays dense.
   */
  protected sparseDecoder = false;
  protected readonly sparse: SparseCodes<A>;
  /** True while codes() must be rebuilt from `sparse` (the last trainBatch ran trainSparse). */
  private codesInSparse = false;
  /** [m, d] scratch of trainSparse: (x^T dpre)^T before it is added into W_enc.grad. */
  private encGradT: A | null = null;

  constructor(arch: BaselineArch, hyper: SaeHyper, backend: Backend, options: FactoryOptions<A>, make: MakeArray<A>) {
    super(arch, hyper, backend, make);
    const { d, m } = this;
    const p = initStandard(d, m, make, options);
    this.W_enc = this.addParam(p.W_enc, "col");
    this.b_enc = this.addParam(vectorParam("b_enc", m, make), "elem");
    this.W_dec = this.addParam(p.W_dec, "row");
    this.b_dec = this.addParam(p.b_dec, null);
    this.ws = new RowWorkspace(make, { xc: d, e: d, dxhat: d, pre: m, h: m, dh: m, dpre: m });
    this.negBdec = make(d);
    this.colD = make(d);
    this.colM = make(m);
    this.norms = make(m);
    this.sparse = new SparseCodes(backend, m, make);
  }

  /** h [rows, m] = act(pre) (h may be pre itself at inference). `training` picks the training rule. */
  protected abstract activate(pre: A, h: A, rows: number, training: boolean): void;
  /** w.dpre = d L / d pre through the activation, from w.dh (overwrites w.dpre). */
  protected abstract activateBackward(w: EncoderWs<A>, rows: number): void;

  /** The sparsity term; adds its gradient (weighted by gw) into w.dh and the parameters. Default none. */
  protected sparsity(_w: EncoderWs<A>, _rows: number, _gw: number): number {
    return 0;
  }

  /** An auxiliary loss; adds its gradient into w.dpre and the parameters. Default none. */
  protected aux(_w: EncoderWs<A>, _rows: number, _options: TrainBatchOptions): number {
    return 0;
  }

  /** Training-time state after the step (thresholds). Default none. */
  protected updateState(_w: EncoderWs<A>, _rows: number): void {}

  /**
   * recon = mean_b ||x - x^||^2 with x^ = h W_dec + b_dec; leaves w.e = x - x^ and w.dh =
   * gw d recon / d h, and adds the decoder gradients.
   */
  protected reconstruct(x: A, w: EncoderWs<A>, rows: number, gw: number): number {
    const { backend: bk, d, m } = this;
    const sparse = this.sparseDecoder && SparseCodes.sizeAllows(m, d);
    if (sparse && SparseCodes.useSparse(this.codesToSparse(w.h, rows), rows, m)) {
      // The same decoder and backward on the active latents (sparse-codes.ts); dh is 0 off them.
      const { recon, dpre } = this.reconstructSparse(x, w, rows, gw);
      this.sparse.scatter(dpre, false, w.dh);
      return recon;
    }
    decode(bk, w.h, rows, d, m, this.W_dec.data, this.b_dec.data, w.e);
    const recon = residual(bk, x, w.e, rows, w.e);
    decodeBackward(bk, w.e, w.h, rows, d, m, gw, this.W_dec, this.b_dec.grad, w.dxhat, w.dh, this.colD);
    return recon;
  }

  /**
   * Loads the training codes h [rows, m] into `sparse` (default: its nonzeros) and returns nnz.
   * Only called for archs with sparseDecoder, whose d L / d h is needed at the active latents only.
   */
  protected codesToSparse(h: A, rows: number): number {
    return this.sparse.fromDense(h, rows, SparseCodes.maxNnz(rows, this.m));
  }

  /** Checks one trainBatch call's input and returns its gradWeight. */
  protected beginBatch(x: A, rows: number, options: TrainBatchOptions): number {
    this.checkBatch("trainBatch", x, rows);
    const gw = options.gradWeight;
    if (!Number.isFinite(gw)) throw new RangeError(`${this.arch} trainBatch: gradWeight must be finite, got ${gw}`);
    this.codesInSparse = false;
    return gw;
  }

  /**
   * Whether trainSparse fits this micro-batch: a decoder large enough for sparse codes and both k
   * per row and AuxK's k_aux per row within SPARSE_DECODER's density (sparse-codes.ts).
   */
  protected sparseStepFits(rows: number, k: number, aux: { kAux: number } | null): boolean {
    const { d, m } = this;
    return (
      SparseCodes.sizeAllows(m, d) &&
      SparseCodes.useSparse(rows * k, rows, m) &&
      (aux === null || SparseCodes.useSparse(rows * aux.kAux, rows, m))
    );
  }

  /**
   * The step of the TopK family on sparse codes (issue 18): everything after the encoder GEMM runs
   * on the selected entries. With pre0 = (x - b_dec) W_enc (no b_enc: `select` adds it),
   * `select` fills `sparse` with h's entries (values ReLU(pre0 + b_enc) >= 0) and, when `aux` is
   * given, the AuxK selection (auxk.selection). Then
   *
   *   x^ = S W_dec + b_dec, recon, W_dec.grad += S^T g, dpre_e = <g_r, W_dec[j_e]> [h_e > 0]
   *   (reconstructSparse; matryoshka: its nested prefixes)
   *   aux (AuxK on its selection: auxk.selectionLoss), its d pre on its entries
   *   W_enc.grad += x_c^T dpre = ((S_dpre)^T x_c)^T (spmm, then addTransposed), b_enc.grad += colsum dpre,
   *   b_dec.grad -= W_enc colsum(dpre)
   *
   * the same sums as the dense step, in another order; no [rows, m] pass after the GEMM. codes()
   * scatters S into the dense workspace when asked.
   */
  protected trainSparse(
    x: A, // [rows, d]
    rows: number,
    gw: number,
    auxk: AuxK<A> | null,
    aux: { kAux: number; scale: number } | null,
    dead: Uint8Array | null, // [m] the dead mask AuxK selected from
    select: (pre0: A, rows: number) => void,
  ): LossParts {
    const { backend: bk, d, m } = this;
    const w = this.ws.at(rows);
    const sc = this.sparse;
    encode(bk, x, rows, d, m, this.W_enc.data, null, this.b_dec.data, this.negBdec, w.xc, w.pre);
    select(w.pre, rows);
    const { recon, dpre } = this.reconstructSparse(x, w, rows, gw);
    const h = sc.values();
    for (let e = 0; e < dpre.length; e++) if (!(h[e] > 0)) dpre[e] = 0; // ReLU backward
    const auxLoss = auxk && aux && dead ? auxk.selectionLoss(w.e, rows, aux.scale, this.W_dec, gw, dead) : 0;
    const auxGrad = auxk && aux && auxk.grad.length > 0 ? auxk.grad : null;
    // Encoder backward on dpre's entries (h's, then the AuxK selection's; duplicates add).
    const T = this.encGradT ?? (this.encGradT = this.make(m * d));
    sc.transposedProduct(dpre, w.xc, d, 0, T);
    if (auxk && auxGrad) auxk.selected.transposedProduct(auxGrad, w.xc, d, 1, T);
    bk.addTransposed(T, m, d, 1, this.W_enc.grad);
    const colM = this.colM;
    colM.fill(0);
    sc.addColumnSums(dpre, colM);
    if (auxk && auxGrad) auxk.selected.addColumnSums(auxGrad, colM);
    bk.axpy(1, colM, this.b_enc.grad);
    bk.gemm(false, true, 1, d, m, -1, colM, m, this.W_enc.data, m, 1, this.b_dec.grad, d);
    this.lastCodes = w.h;
    this.codesInSparse = true;
    this.lastResidual = w.e;
    return lossParts(recon, 0, auxLoss, sc.countPositive() / rows);
  }

  /**
   * The decoder part of trainSparse on the codes in `sparse`: x^ = S W_dec + b_dec, recon =
   * mean_b ||x - x^||^2; leaves w.e = x - x^, adds W_dec's and b_dec's gradients, and returns recon
   * and d L / d h at S's entries (values()'s order). matryoshka overrides it with its prefixes.
   */
  protected reconstructSparse(x: A, w: EncoderWs<A>, rows: number, gw: number): { recon: number; dpre: A } {
    const { backend: bk, d } = this;
    const sc = this.sparse;
    sc.decode(this.W_dec.data, d, 1, 0, w.e);
    bk.addBias(w.e, this.b_dec.data, rows, d, w.e);
    const recon = residual(bk, x, w.e, rows, w.e);
    bk.scale(w.e, (-2 * gw) / rows, w.dxhat);
    sc.decoderGrad(w.dxhat, d, 1, this.W_dec);
    bk.sumRows(w.dxhat, rows, d, this.colD, false);
    bk.axpy(1, this.colD, this.b_dec.grad);
    return { recon, dpre: sc.codeGradValues(w.dxhat, this.W_dec.data, d, 1) };
  }

  override codeColumnStats(colSum: A, fired: Int32Array): number {
    if (!this.codesInSparse) return super.codeColumnStats(colSum, fired);
    this.sparse.columnStats(colSum, fired);
    return this.sparse.rows;
  }

  override codes(): A {
    if (this.codesInSparse) {
      this.sparse.scatter(this.sparse.values(), false, this.lastCodes);
      this.codesInSparse = false;
    }
    return this.lastCodes;
  }

  trainBatch(x: A, rows: number, options: TrainBatchOptions): LossParts {
    const gw = this.beginBatch(x, rows, options);
    const { backend: bk, d, m } = this;
    const w = this.ws.at(rows);
    encode(bk, x, rows, d, m, this.W_enc.data, this.b_enc.data, this.b_dec.data, this.negBdec, w.xc, w.pre);
    this.activate(w.pre, w.h, rows, true);
    const recon = this.reconstruct(x, w, rows, gw);
    const sparsity = this.sparsity(w, rows, gw);
    this.activateBackward(w, rows);
    const aux = this.aux(w, rows, options);
    encodeBackward(bk, w.dpre, w.xc, rows, d, m, this.W_enc, this.b_enc.grad, this.b_dec.grad, this.colM);
    if (options.updateState) this.updateState(w, rows);
    this.lastCodes = w.h;
    this.lastResidual = w.e;
    return lossParts(recon, sparsity, aux, meanL0(this.backend, w.h, rows, this.hyper.m));
  }

  forward(x: A, rows: number, codes: A, recon: A): void {
    this.checkBatch("forward", x, rows);
    this.checkForwardOut(codes, recon, rows);
    this.codesInSparse = false;
    const { backend: bk, d, m } = this;
    // recon holds x - b_dec until the decoder overwrites it; codes holds pre, then h in place.
    encode(bk, x, rows, d, m, this.W_enc.data, this.b_enc.data, this.b_dec.data, this.negBdec, recon, codes);
    this.activate(codes, codes, rows, false);
    decode(bk, codes, rows, d, m, this.W_dec.data, this.b_dec.data, recon);
    this.lastCodes = codes;
  }
}
