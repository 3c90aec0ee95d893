/**
 * gated (Rajamanoharan et al. 2024), DESIGN.md s.2 exactly, SAELens tensors
 * W_enc [d, m], b_gate [m], r_mag [m], b_mag [m], W_dec [m, d], b_dec [d]:
 *
 *   P       = (x - b_dec) W_enc
 *   pi_gate = P + b_gate;   pi_mag = P o exp(r_mag) + b_mag     (= (x - b_dec)(W_enc o exp(r_mag)) + b_mag)
 *   h       = [pi_gate > 0] o ReLU(pi_mag);   x^ = h W_dec + b_dec
 *   L       = mean_b ||x - x^||^2                                            (recon)
 *           + l1 * mean_b sum_i ReLU(pi_gate)_i ||W_dec,i||                   (sparsity; into W_dec too)
 *           + mean_b ||x - (ReLU(pi_gate) sg(W_dec) + sg(b_dec))||^2           (aux; sg = stop gradient)
 *
 * d h / d pi_gate = 0 (Heaviside). Init: the standard W_enc / W_dec / b_dec, b_gate = b_mag = r_mag = 0.
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import type { Parameter } from "../../core/parameter.ts";
import type { LossParts, SaeFactory, SaeHyper, TrainBatchOptions } from "../types.ts";
import { RowWorkspace } from "../workspace.ts";
import { arrayMaker, checkCommon, type FactoryOptions, initStandard, vectorParam } from "./init.ts";
import {
  BaselineBase,
  decode,
  decodeBackward,
  encode,
  encodeBackward,
  lossParts,
  meanL0,
  residual,
  weightedL1,
} from "./standard.ts";

type GatedKeys = "xc" | "e" | "dxhat" | "ea" | "P" | "g" | "h" | "dh" | "dpg" | "dpm";

export class GatedSae<A extends FloatArray> extends BaselineBase<A> {
  private readonly W_enc: Parameter<A>; // [d, m]
  private readonly b_gate: Parameter<A>; // [m]
  private readonly r_mag: Parameter<A>; // [m]
  private readonly b_mag: Parameter<A>; // [m]
  private readonly W_dec: Parameter<A>; // [m, d]
  private readonly b_dec: Parameter<A>; // [d]
  private readonly ws: RowWorkspace<GatedKeys, A>;
  private readonly negBdec: A; // [d]
  private readonly colD: A; // [d]
  private readonly colM: A; // [m]
  private readonly norms: A; // [m]
  private readonly expR: A; // [m] exp(r_mag)

  constructor(hyper: SaeHyper, backend: Backend, options: FactoryOptions<A>) {
    const make = arrayMaker<A>(options.arrayType);
    super("gated", hyper, backend, make);
    const { d, m } = this;
    const p = initStandard(d, m, make, options);
    this.W_enc = this.addParam(p.W_enc, "col");
    this.b_gate = this.addParam(vectorParam("b_gate", m, make), "elem");
    this.r_mag = this.addParam(vectorParam("r_mag", m, make), "elem");
    this.b_mag = this.addParam(vectorParam("b_mag", m, make), "elem");
    this.W_dec = this.addParam(p.W_dec, "row");
    this.b_dec = this.addParam(p.b_dec, null);
    this.ws = new RowWorkspace(make, { xc: d, e: d, dxhat: d, ea: d, P: m, g: m, h: m, dh: m, dpg: m, dpm: m });
    this.negBdec = make(d);
    this.colD = make(d);
    this.colM = make(m);
    this.norms = make(m);
    this.expR = make(m);
  }

  private computeExpR(): void {
    const r = this.r_mag.data;
    for (let i = 0; i < this.m; i++) this.expR[i] = Math.exp(r[i]);
  }

  /** h [rows, m] = [P + b_gate > 0] ReLU(P exp(r_mag) + b_mag) (h may alias P). */
  private gate(P: A, rows: number, h: A): void {
    const m = this.m;
    const bg = this.b_gate.data;
    const bm = this.b_mag.data;
    const er = this.expR;
    for (let r = 0; r < rows; r++) {
      const o = r * m;
      for (let i = 0; i < m; i++) {
        const p = P[o + i];
        const mag = p * er[i] + bm[i];
        h[o + i] = p + bg[i] > 0 && mag > 0 ? mag : 0;
      }
    }
  }

  trainBatch(x: A, rows: number, options: TrainBatchOptions): LossParts {
    this.checkBatch("trainBatch", x, rows);
    const gw = options.gradWeight;
    if (!Number.isFinite(gw)) throw new RangeError(`gated trainBatch: gradWeight must be finite, got ${gw}`);
    const { backend: bk, d, m } = this;
    const w = this.ws.at(rows);
    // Forward.
    encode(bk, x, rows, d, m, this.W_enc.data, null, this.b_dec.data, this.negBdec, w.xc, w.P);
    this.computeExpR();
    this.gate(w.P, rows, w.h);
    bk.addBias(w.P, this.b_gate.data, rows, m, w.g);
    bk.relu(w.g, w.g); // g = ReLU(pi_gate); [pi_gate > 0] = [g > 0]
    decode(bk, w.h, rows, d, m, this.W_dec.data, this.b_dec.data, w.e);
    const recon = residual(bk, x, w.e, rows, w.e);
    decode(bk, w.g, rows, d, m, this.W_dec.data, this.b_dec.data, w.ea);
    const aux = residual(bk, x, w.ea, rows, w.ea);
    // Recon backward: W_dec, b_dec grads and dh.
    decodeBackward(bk, w.e, w.h, rows, d, m, gw, this.W_dec, this.b_dec.grad, w.dxhat, w.dh, this.colD);
    // d pi_gate: aux through ReLU(pi_gate) only (sg on the decoder), plus the weighted L1.
    bk.gemm(false, true, rows, m, d, (-2 * gw) / rows, w.ea, d, this.W_dec.data, d, 0, w.dpg, m);
    const sparsity = weightedL1(bk, w.g, rows, d, m, this.hyper.l1, gw, this.W_dec, w.dpg, this.norms, this.colM);
    bk.reluBackward(w.g, w.dpg, w.dpg);
    // d pi_mag = dh [h > 0] (h > 0 iff pi_gate > 0 and pi_mag > 0).
    bk.reluBackward(w.h, w.dh, w.dpm);
    bk.sumRows(w.dpg, rows, m, this.colM, false);
    bk.axpy(1, this.colM, this.b_gate.grad);
    bk.sumRows(w.dpm, rows, m, this.colM, false);
    bk.axpy(1, this.colM, this.b_mag.grad);
    // d r_mag_i = exp(r_mag_i) sum_b dpm_bi P_bi (dh is free now).
    bk.mul(w.dpm, w.P, w.dh);
    bk.sumRows(w.dh, rows, m, this.colM, false);
    bk.mul(this.colM, this.expR, this.colM);
    bk.axpy(1, this.colM, this.r_mag.grad);
    // dP = dpg + dpm o exp(r_mag), then the encoder backward (no encoder bias).
    bk.scaleCols(w.dpm, this.expR, rows, m, w.dh);
    bk.add(w.dh, w.dpg, w.dh);
    encodeBackward(bk, w.dh, w.xc, rows, d, m, this.W_enc, null, this.b_dec.grad, this.colM);
    this.lastCodes = w.h;
    this.lastResidual = w.e;
    return lossParts(recon, sparsity, aux, meanL0(this.backend, w.h, rows, this.hyper.m));
  }

  forward(x: A, rows: number, codes: A, recon: A): void {
    this.checkBatch("forward", x, rows);
    this.checkForwardOut(codes, recon, rows);
    const { backend: bk, d, m } = this;
    encode(bk, x, rows, d, m, this.W_enc.data, null, this.b_dec.data, this.negBdec, recon, codes);
    this.computeExpR();
    this.gate(codes, rows, codes);
    decode(bk, codes, rows, d, m, this.W_dec.data, this.b_dec.data, recon);
    this.lastCodes = codes;
  }
}

export const gatedFactory: SaeFactory = (hyper, backend, options) => {
  checkCommon("gated", hyper, backend, options);
  return new GatedSae(hyper, backend, options);
};
