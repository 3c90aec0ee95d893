/**
 * Runs an SAE (inference, state frozen) on rows of hook activations in the model's units:
 *
 *   x_in = c x  [rows, d];   sae.forward(x_in) -> codes [rows, m], recon_in [rows, d];   x^ = recon_in / c
 *
 * c is the dataset scale the SAE's inputs were multiplied by in training (1 for folders whose scale
 * is folded into the weights; LoadedSae.scale, or the store's scale for an in-memory SAE trained on
 * it). Buffers (the module's array type) are preallocated for `maxRows` rows and reused; the views
 * returned are valid until the next call.
 */
import type { FloatArray } from "../core/backend.ts";
import type { SaeModule } from "../sae/types.ts";

export class SaeRows {
  readonly sae: SaeModule;
  readonly scale: number;
  readonly maxRows: number;
  private readonly xin: FloatArray;
  private readonly codes: FloatArray;
  private readonly recon: FloatArray;
  private readonly xhat: FloatArray;

  constructor(sae: SaeModule, scale: number, maxRows: number) {
    if (!Number.isFinite(scale) || scale <= 0) throw new RangeError(`scale ${scale}: expected a finite number > 0`);
    if (!Number.isInteger(maxRows) || maxRows < 1) throw new RangeError(`maxRows ${maxRows}: expected an integer >= 1`);
    this.sae = sae;
    this.scale = scale;
    this.maxRows = maxRows;
    const { d, m } = sae.hyper;
    const f64 = sae.params.get("W_dec")?.param.data instanceof Float64Array;
    const make = (n: number): FloatArray => (f64 ? new Float64Array(n) : new Float32Array(n));
    this.xin = make(maxRows * d);
    this.codes = make(maxRows * m);
    this.recon = make(maxRows * d);
    this.xhat = make(maxRows * d);
  }

  /** x [rows, d] (model units) -> codes [rows, m] and xhat [rows, d] (model units). */
  run(x: FloatArray, rows: number): { codes: FloatArray; xhat: FloatArray } {
    const { d, m } = this.sae.hyper;
    if (rows > this.maxRows) throw new RangeError(`SaeRows.run: ${rows} rows; at most ${this.maxRows}`);
    if (x.length < rows * d)
      throw new RangeError(`SaeRows.run: x has ${x.length} values; ${rows} rows need ${rows * d}`);
    const c = this.scale;
    const xin = this.xin.subarray(0, rows * d);
    for (let i = 0; i < rows * d; i++) xin[i] = c * x[i];
    const codes = this.codes.subarray(0, rows * m);
    const recon = this.recon.subarray(0, rows * d);
    this.sae.forward(xin, rows, codes, recon);
    const xhat = this.xhat.subarray(0, rows * d);
    for (let i = 0; i < rows * d; i++) xhat[i] = recon[i] / c;
    return { codes, xhat };
  }
}
