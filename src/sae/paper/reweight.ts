/**
 * Feature reweighting by attention (paper eq. 5; archs `attention` and `multiscale`), forward and
 * backward over flat arrays (DESIGN.md s.2):
 *
 *   Q = n W_Q [rows, d_k],  T = Q K^T / sqrt(d_k) [rows, m],  P = softmax_i(alpha T)  (over the m features)
 *   h' = h o (m P)
 *
 * n [rows, d] is the architecture's normalized input, h [rows, m] the ReLU codes; W_Q = attn_WQ
 * [d, d_k], K = attn_K [m, d_k], alpha = attn_alpha [] (init 1), d_k = d / 4.
 *
 * Backward, from dh' [rows, m]:
 *   dh = dh' o m P;   dP = dh' o m h;   dS = P o (dP - <dP, P>_row);   d alpha += sum dS o T
 *   dT = alpha dS;    dQ = dT K / sqrt(d_k);   dK += dT^T Q / sqrt(d_k);   dW_Q += n^T dQ;   dn = dQ W_Q^T
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import { Parameter } from "../../core/parameter.ts";
import type { Rng } from "../../core/tensor.ts";
import { floatLike } from "../ortho.ts";

export class Reweighting<A extends FloatArray> {
  readonly d: number;
  readonly m: number;
  readonly dk: number;
  readonly wq: Parameter<A>; // [d, d_k]
  readonly k: Parameter<A>; // [m, d_k]
  readonly alpha: Parameter<A>; // []
  private readonly backend: Backend;
  private readonly arrayType: "f32" | "f64";
  private cap = 0;
  private q: A; // [rows, d_k]
  private t: A; // [rows, m]
  private p: A; // [rows, m]
  private ds: A; // [rows, m]
  private dq: A; // [rows, d_k]

  /** W_Q, K ~ N(0, 1/d) drawn from rng in that order; alpha = 1. */
  constructor(backend: Backend, d: number, m: number, rng: Rng, arrayType: "f32" | "f64") {
    this.backend = backend;
    this.arrayType = arrayType;
    this.d = d;
    this.m = m;
    this.dk = d / 4;
    if (!Number.isInteger(this.dk) || this.dk < 1)
      throw new RangeError(`attention needs d divisible by 4; got d = ${d}`);
    const std = 1 / Math.sqrt(d);
    this.wq = new Parameter<A>("attn_WQ", rng.fillNormal(floatLike<A>(arrayType, d * this.dk), std), [d, this.dk]);
    this.k = new Parameter<A>("attn_K", rng.fillNormal(floatLike<A>(arrayType, m * this.dk), std), [m, this.dk]);
    this.alpha = new Parameter<A>("attn_alpha", floatLike<A>(arrayType, 1).fill(1) as A, [], false);
    this.q = this.t = this.p = this.ds = this.dq = floatLike<A>(arrayType, 0);
  }

  get params(): Parameter<A>[] {
    return [this.wq, this.k, this.alpha];
  }

  private ensure(rows: number): void {
    if (rows === this.cap) return; // exact-length views for the kernels; reallocates only when rows changes
    this.cap = rows;
    const t = this.arrayType;
    this.q = floatLike<A>(t, rows * this.dk);
    this.dq = floatLike<A>(t, rows * this.dk);
    this.t = floatLike<A>(t, rows * this.m);
    this.p = floatLike<A>(t, rows * this.m);
    this.ds = floatLike<A>(t, rows * this.m);
  }

  /** h' [rows, m] = h o (m softmax(alpha (n W_Q) K^T / sqrt(d_k))); n [rows, d], h [rows, m]. */
  forward(n: A, h: A, rows: number, hp: A): void {
    this.ensure(rows);
    const { d, m, dk, backend } = this;
    backend.gemm(false, false, rows, dk, d, 1, n, d, this.wq.data, dk, 0, this.q, dk);
    backend.gemm(false, true, rows, m, dk, 1 / Math.sqrt(dk), this.q, dk, this.k.data, dk, 0, this.t, m);
    const len = rows * m;
    const p = this.p;
    backend.scale(this.t, this.alpha.data[0], p);
    backend.softmax(p, rows, m, p);
    for (let i = 0; i < len; i++) hp[i] = h[i] * m * p[i];
  }

  /**
   * From dh' [rows, m]: writes dh [rows, m] (may alias dh') and dn [rows, d] (overwritten);
   * accumulates the gradients of W_Q, K and alpha. n, h as in the forward just run.
   */
  backward(dhp: A, n: A, h: A, rows: number, dh: A, dn: A): void {
    const { d, m, dk, backend } = this;
    const len = rows * m;
    const p = this.p;
    const ds = this.ds;
    for (let i = 0; i < len; i++) {
      const g = dhp[i] * m;
      ds[i] = g * h[i];
      dh[i] = g * p[i];
    }
    backend.softmaxBackward(p, ds, rows, m, ds);
    let dalpha = 0;
    const t = this.t;
    for (let i = 0; i < len; i++) dalpha += ds[i] * t[i];
    this.alpha.grad[0] += dalpha;
    backend.scale(ds, this.alpha.data[0], ds);
    const inv = 1 / Math.sqrt(dk);
    backend.gemm(false, false, rows, dk, m, inv, ds, m, this.k.data, dk, 0, this.dq, dk);
    backend.gemm(true, false, m, dk, rows, inv, ds, m, this.q, dk, 1, this.k.grad, dk);
    backend.gemm(true, false, d, dk, rows, 1, n, d, this.dq, dk, 1, this.wq.grad, dk);
    backend.gemm(false, true, rows, d, dk, 1, this.dq, dk, this.wq.data, dk, 0, dn, d);
  }
}
