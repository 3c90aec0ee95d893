/**
 * Gemma-2 backward, llm.c style: hand-written over the activation buffers the forward (forward.ts)
 * keeps in a keepActivations workspace. Gradients are ADDED into `grads` (so micro-batches
 * accumulate); the residual-stream gradient flows through one scratch buffer, dx.
 *
 * Loss: L = sum_r dloss_r * CE(logits_r, target_r) over rows with target_r != -1 (the trainer
 * passes dloss_r = 1 / (target count of the optimizer step) for a token-weighted mean).
 *
 *   head:  logits = c_f tanh(z / c_f), z = n E^T, n = RMSNorm_f(x_L)
 *          dz = (softmax(logits) - onehot(target)) dloss * (1 - (logits / c_f)^2)
 *          (lossAndBackward: the cap, the loss and dz in one pass, Backend.softcapCrossEntropy, from
 *          z of Gemma2Model.headRaw, dz written over z; loss + backward: from the capped logits of head(), unfused)
 *          dn = dz E;  dE += dz^T n;  dx_L = RMSNorm_f'(dn)          (dw_f accumulated)
 *   block l, MLP half (x_l+1 = m + RMSNorm_pf(down), m = x_mid):
 *          d_down = RMSNorm_pf'(dx);  d_hid = d_down Wd;  dWd += d_down^T hid
 *          d_up = d_hid * gelu(gate);  d_gate = gelu'(gate) * d_hid * up      (Backend.gegluPackedBackward)
 *          d_b = d_gate Wg + d_up Wu;  dWg += d_gate^T b;  dWu += d_up^T b   (b = RMSNorm_pre_ff(m))
 *          (packed.ts: d_gu = d_gate | d_up, d_b = d_gu [Wg; Wu], d[Wg; Wu] += d_gu^T b, one GEMM each)
 *          dm = dx + RMSNorm_pre_ff'(d_b)
 *   block l, attention half (x_mid = x + RMSNorm_pa(y Wo^T)):
 *          d_proj = RMSNorm_pa'(dm);  dy = d_proj Wo;  dWo += d_proj^T y
 *          dq, dk, dv = Backend.attentionBackwardFused(dy)   (the equations of attention-backward.ts)
 *          dq, dk <- RoPE^-1(dq), RoPE^-1(dk)  (RoPE is a rotation: its transpose is the inverse)
 *          d_a = dq Wq + dk Wk + dv Wv;  dWq += dq^T a  (same for k, v)   (a = RMSNorm_in(x))
 *          (dqkv = dq | dk | dv per row; d_a = dqkv [Wq; Wk; Wv] and d[Wq; Wk; Wv] += dqkv^T a, one
 *          GEMM each, when the weights and the gradients each lie back to back: packed.ts)
 *          dx = dm + RMSNorm_in'(d_a)
 *   embedding: x_0 = E[ids] * s, s = fround(sqrt(d))  ->  dE[ids] += s dx_0
 * With tied embeddings grads.lmHead IS grads.embed, so E gets both the lookup and the unembedding
 * gradient. Every matrix product runs through Backend.gemm; the scratch buffers are allocated once
 * per (batch, seq) with the workspace's array type (Float64Array for float64 gradient checks).
 */
import type { Backend, FloatArray } from "../../core/backend.ts";
import type { Gemma2Config } from "./config.ts";
import type { Gemma2Model, Gemma2Workspace } from "./forward.ts";
import { joinedView } from "./packed.ts";
import type { Gemma2Weights } from "./weights.ts";

/** Gradient buffers, laid out exactly like Gemma2Weights (lmHead === embed when tied). */
export type Gemma2Grads = Gemma2Weights;

/** Scratch buffers of one backward pass; rows = batch * seq. */
export class Gemma2BackwardScratch {
  readonly batch: number;
  readonly seq: number;
  readonly dx: FloatArray; // [rows, d] gradient of the residual stream
  readonly dA: FloatArray; // [rows, d] gradient of o_proj / down_proj outputs
  readonly dLn: FloatArray; // [rows, d] gradient of a norm's output
  readonly dTmp: FloatArray; // [rows, d] gradient of a norm's input
  readonly dHidden: FloatArray; // [rows, dMlp]
  readonly dGu: FloatArray; // [rows, 2 dMlp]  d_gate | d_up per row
  readonly dqkv: FloatArray; // [rows, (H + 2 KV) hd]  dq | dk | dv per row
  readonly dy: FloatArray; // [rows, H*hd]
  readonly dLogits: FloatArray; // [rows, vocab] (backward() only; lossAndBackward writes dz over z)
  readonly dloss: FloatArray; // [rows]

  constructor(cfg: Gemma2Config, batch: number, seq: number, like: FloatArray) {
    const rows = batch * seq;
    const { hiddenSize: d, numHeads: H, numKvHeads: KV, headDim: hd, intermediateSize: m, vocabSize: V } = cfg;
    const f = (n: number): FloatArray => (like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));
    this.batch = batch;
    this.seq = seq;
    this.dx = f(rows * d);
    this.dA = f(rows * d);
    this.dLn = f(rows * d);
    this.dTmp = f(rows * d);
    this.dHidden = f(rows * m);
    this.dGu = f(rows * 2 * m);
    this.dqkv = f(rows * (H + 2 * KV) * hd);
    this.dy = f(rows * H * hd);
    this.dLogits = f(rows * V);
    this.dloss = f(rows);
  }
}

export class Gemma2Backward {
  readonly model: Gemma2Model;
  private readonly be: Backend;
  private scratch: Gemma2BackwardScratch | null = null;

  constructor(model: Gemma2Model, backend: Backend) {
    this.model = model;
    this.be = backend;
  }

  /** Scratch for ws's (batch, seq), reused across calls. */
  scratchFor(ws: Gemma2Workspace): Gemma2BackwardScratch {
    const s = this.scratch;
    if (s && s.batch === ws.batch && s.seq === ws.seq && sameType(s.dx, ws.resid(0))) return s;
    this.scratch = null;
    this.scratch = new Gemma2BackwardScratch(this.model.cfg, ws.batch, ws.seq, ws.resid(0));
    return this.scratch;
  }

  /**
   * Sum of dloss-weighted cross-entropies of ws's logits (after head()) against targets [rows]
   * (-1 = ignored). Returns the plain sum of the per-row losses and the count of scored rows.
   */
  loss(ws: Gemma2Workspace, targets: Int32Array): { sum: number; count: number } {
    const s = this.scratchFor(ws);
    const V = this.model.cfg.vocabSize;
    const losses = s.dTmp.subarray(0, ws.rows); // scratch reuse: dTmp is free outside the backward
    const count = this.be.crossEntropy(ws.logits(), targets, ws.rows, V, losses);
    let sum = 0;
    for (let r = 0; r < ws.rows; r++) sum += losses[r];
    return { sum, count };
  }

  /**
   * Full backward after embed + every block + head on a keepActivations workspace:
   * grads += dL/dtheta for L = dlossPerRow * sum of the scored rows' cross-entropies.
   */
  backward(ws: Gemma2Workspace, ids: Int32Array, targets: Int32Array, dlossPerRow: number, grads: Gemma2Grads): void {
    const s = this.scratchFor(ws);
    s.dloss.fill(dlossPerRow);
    this.headBackward(ws, targets, s.dloss, grads);
    for (let l = this.model.cfg.numLayers - 1; l >= 0; l--) {
      this.mlpBackward(ws, l, grads);
      this.attentionBackward(ws, l, grads);
    }
    this.embedBackward(ids, s.dx, grads);
  }

  /**
   * The training step's loss and backward after embed + every block + headRaw (ws.logits() holds
   * z, before the soft-cap) on a keepActivations workspace: the fused soft-capped cross-entropy
   * gives the per-row losses and dz in one pass; then grads += dL/dtheta as backward() does, for
   * L = dlossPerRow * sum of the scored rows' cross-entropies. Returns the plain sum of the
   * per-row losses and the count of scored rows (as loss()). dz overwrites z in ws.logits() (one
   * [rows, vocab] buffer streamed instead of two: the pass is memory-bound).
   */
  lossAndBackward(
    ws: Gemma2Workspace,
    ids: Int32Array, // [rows]
    targets: Int32Array, // [rows], -1 = ignored
    dlossPerRow: number,
    grads: Gemma2Grads,
  ): { sum: number; count: number } {
    const s = this.scratchFor(ws);
    const c = this.model.cfg;
    const V = c.vocabSize;
    s.dloss.fill(dlossPerRow);
    const losses = s.dTmp.subarray(0, ws.rows); // free until the blocks' backward
    const count = this.be.softcapCrossEntropy(
      ws.logits(),
      targets,
      ws.rows,
      V,
      c.finalSoftcap ?? 0,
      s.dloss,
      losses,
      ws.logits(), // dz in place of z
    );
    let sum = 0;
    for (let r = 0; r < ws.rows; r++) sum += losses[r];
    this.headBackwardFromDz(ws, grads, ws.logits());
    for (let l = c.numLayers - 1; l >= 0; l--) {
      this.mlpBackward(ws, l, grads);
      this.attentionBackward(ws, l, grads);
    }
    this.embedBackward(ids, s.dx, grads);
    return { sum, count };
  }

  /** Head from dz [rows, vocab]: dx = dL/d resid(nLayers); grads.lmHead, grads.finalNorm accumulated. */
  private headBackwardFromDz(ws: Gemma2Workspace, grads: Gemma2Grads, dz: FloatArray): void {
    const be = this.be;
    const c = this.model.cfg;
    const w = this.model.w;
    const s = this.scratchFor(ws);
    const { rows } = ws;
    const { hiddenSize: d, vocabSize: V } = c;
    be.gemm(false, false, rows, d, V, 1, dz, V, w.lmHead, d, 0, s.dLn, d);
    be.gemm(true, false, V, d, rows, 1, dz, V, ws.finalNorm, d, 1, grads.lmHead, d);
    be.rmsNormBackward(s.dLn, ws.resid(c.numLayers), w.finalNorm, 1, ws.finalRstd, rows, d, s.dx, grads.finalNorm);
  }

  /** Head: dx (scratch) = dL/d resid(nLayers); grads.lmHead, grads.finalNorm accumulated. */
  headBackward(ws: Gemma2Workspace, targets: Int32Array, dloss: FloatArray, grads: Gemma2Grads): void {
    const be = this.be;
    const c = this.model.cfg;
    const s = this.scratchFor(ws);
    const { rows } = ws;
    const V = c.vocabSize;
    const logits = ws.logits(); // [rows, V] after soft-capping
    be.crossEntropyBackward(logits, targets, dloss, rows, V, s.dLogits);
    if (c.finalSoftcap !== null) be.softcapBackward(logits, s.dLogits, c.finalSoftcap, s.dLogits);
    this.headBackwardFromDz(ws, grads, s.dLogits);
  }

  /** MLP half of block `layer`: dx holds dL/d resid(layer + 1) on entry, dL/d residMid on exit. */
  mlpBackward(ws: Gemma2Workspace, layer: number, grads: Gemma2Grads): void {
    const be = this.be;
    const c = this.model.cfg;
    const w = this.model.w.layers[layer];
    const g = grads.layers[layer];
    const a = ws.blocks[layer];
    const s = this.scratchFor(ws);
    const { rows } = ws;
    const { hiddenSize: d, intermediateSize: m } = c;
    be.rmsNormBackward(s.dx, a.down, w.postFfNorm, 1, a.mlpRstd, rows, d, s.dA, g.postFfNorm);
    be.gemm(false, false, rows, m, d, 1, s.dA, d, w.wDown, m, 0, s.dHidden, m);
    be.gemm(true, false, d, m, rows, 1, s.dA, d, a.hidden, m, 1, g.wDown, m);
    be.gegluPackedBackward(a.gu, s.dHidden, rows, m, s.dGu);
    const wgu = joinedView([w.wGate, w.wUp]);
    const ggu = joinedView([g.wGate, g.wUp]);
    const m2 = 2 * m;
    if (wgu && ggu) {
      be.gemm(false, false, rows, d, m2, 1, s.dGu, m2, wgu, d, 0, s.dLn, d);
      be.gemm(true, false, m2, d, rows, 1, s.dGu, m2, a.ln2, d, 1, ggu, d);
    } else {
      const dUp = s.dGu.subarray(m);
      be.gemm(false, false, rows, d, m, 1, s.dGu, m2, w.wGate, d, 0, s.dLn, d);
      be.gemm(false, false, rows, d, m, 1, dUp, m2, w.wUp, d, 1, s.dLn, d);
      be.gemm(true, false, m, d, rows, 1, s.dGu, m2, a.ln2, d, 1, g.wGate, d);
      be.gemm(true, false, m, d, rows, 1, dUp, m2, a.ln2, d, 1, g.wUp, d);
    }
    be.rmsNormBackward(s.dLn, a.residMid, w.preFfNorm, 1, a.ln2Rstd, rows, d, s.dx, g.preFfNorm, true); // dx +=
  }

  /** Attention half of block `layer`: dx holds dL/d residMid on entry, dL/d resid(layer) on exit. */
  attentionBackward(ws: Gemma2Workspace, layer: number, grads: Gemma2Grads): void {
    const be = this.be;
    const c = this.model.cfg;
    const w = this.model.w.layers[layer];
    const g = grads.layers[layer];
    const a = ws.blocks[layer];
    const s = this.scratchFor(ws);
    const { rows } = ws;
    const { hiddenSize: d, numHeads: H, numKvHeads: KV, headDim: hd } = c;
    const qd = H * hd;
    const kd = KV * hd;
    be.rmsNormBackward(s.dx, a.attnProj, w.postAttnNorm, 1, a.attnRstd, rows, d, s.dA, g.postAttnNorm);
    be.gemm(false, false, rows, qd, d, 1, s.dA, d, w.wo, qd, 0, s.dy, qd);
    be.gemm(true, false, d, qd, rows, 1, s.dA, d, a.y, qd, 1, g.wo, qd);
    const window = c.layerSliding[layer] ? c.slidingWindow : 0;
    const alpha = c.queryPreAttnScalar ** -0.5;
    const n3 = qd + 2 * kd;
    const [q, k, v, pre, att] = [a.qkv, a.qkv.subarray(qd), a.qkv.subarray(qd + kd), a.preatt, a.att];
    const dqkv = s.dqkv;
    be.attentionBackwardFused(
      q,
      k,
      v,
      ws.batch,
      ws.seq,
      H,
      KV,
      hd,
      alpha,
      c.attnSoftcap ?? 0,
      window,
      pre,
      att,
      s.dy,
      dqkv,
      dqkv.subarray(qd),
      dqkv.subarray(qd + kd),
      n3,
    );
    be.rope(dqkv, ws.positions, rows, H + KV, hd, c.ropeTheta, true, dqkv, n3); // dq and dk heads
    const wqkv = joinedView([w.wq, w.wk, w.wv]);
    const gqkv = joinedView([g.wq, g.wk, g.wv]);
    if (wqkv && gqkv) {
      be.gemm(false, false, rows, d, n3, 1, dqkv, n3, wqkv, d, 0, s.dLn, d);
      be.gemm(true, false, n3, d, rows, 1, dqkv, n3, a.ln1, d, 1, gqkv, d);
    } else {
      const [dk, dv] = [dqkv.subarray(qd), dqkv.subarray(qd + kd)];
      be.gemm(false, false, rows, d, qd, 1, dqkv, n3, w.wq, d, 0, s.dLn, d);
      be.gemm(false, false, rows, d, kd, 1, dk, n3, w.wk, d, 1, s.dLn, d);
      be.gemm(false, false, rows, d, kd, 1, dv, n3, w.wv, d, 1, s.dLn, d);
      be.gemm(true, false, qd, d, rows, 1, dqkv, n3, a.ln1, d, 1, g.wq, d);
      be.gemm(true, false, kd, d, rows, 1, dk, n3, a.ln1, d, 1, g.wk, d);
      be.gemm(true, false, kd, d, rows, 1, dv, n3, a.ln1, d, 1, g.wv, d);
    }
    be.rmsNormBackward(s.dLn, ws.resid(layer), w.inputNorm, 1, a.ln1Rstd, rows, d, s.dx, g.inputNorm, true); // dx +=
  }

  /** Embedding: grads.embed[ids] += fround(sqrt(d)) * dx0. dx0 [rows, d] is scaled in place. */
  embedBackward(ids: Int32Array, dx0: FloatArray, grads: Gemma2Grads): void {
    const { hiddenSize: d, vocabSize: V } = this.model.cfg;
    this.be.scale(dx0, Math.fround(Math.sqrt(d)), dx0);
    this.be.embeddingScatterAdd(dx0, ids, V, d, grads.embed);
  }
}

function sameType(a: FloatArray, b: FloatArray): boolean {
  return a instanceof Float64Array === b instanceof Float64Array;
}
