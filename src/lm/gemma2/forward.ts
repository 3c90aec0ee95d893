/**
 * Gemma-2 forward (transformers' Gemma2ForCausalLM, eager attention), llm.c style: one function
 * per stage writing named activation buffers of a preallocated workspace.
 *
 *   x_0      = E[ids] * fround(sqrt(d))                          (normalizer in the run dtype, f32)
 *   per block l (x = x_l):
 *     a      = RMSNorm_in(x)                                      RMSNorm(z) = z / sqrt(mean(z^2) + eps) * (1 + w)
 *     q,k,v  = a Wq^T, a Wk^T, a Wv^T; RoPE(q), RoPE(k)            (rotate_half layout, theta)
 *              (one packed qkv = q | k | v per row, one GEMM with [Wq; Wk; Wv] when the weights
 *              lie back to back, as in training: packed.ts; attention reads it strided)
 *     s      = (q_h . k_g) * query_pre_attn_scalar^-0.5;  s = c_a tanh(s / c_a)
 *     p      = causal softmax (sliding layers: keys with i - j < window)
 *              (s, p, p v in one kernel: Backend.attentionForwardFused)
 *     attn   = RMSNorm_post_attn((p v) Wo^T)                      -> hook_attn_out
 *     x_mid  = x + attn
 *     mlp    = RMSNorm_post_ff(((gelu_tanh(b Wg^T)) * (b Wu^T)) Wd^T),  b = RMSNorm_pre_ff(x_mid)
 *              (gate | up packed per row, gu; gelu_tanh(.) * (.) in one pass: Backend.gegluPacked)
 *                                                                 -> hook_mlp_out
 *     x_l+1  = x_mid + mlp                                        -> hook_resid_post
 *     (without a hook each residual add runs inside its RMSNorm: Backend.rmsNorm's residual, sum)
 *   logits   = c_f tanh((RMSNorm_final(x_L) E^T) / c_f)           (tied unembedding)
 *   (training: headRaw stops at z = RMSNorm_final(x_L) E^T; the cap is fused with the loss,
 *   Backend.softcapCrossEntropy in backward.ts)
 *
 * Every "z W^T" above runs through Linears (../precision.ts): fp32 GEMM, or after toBf16()
 * bf16(z) bf16(W)^T with fp32 accumulation (the block weights' fp32 arrays are then empty placeholders).
 * Grouped-query attention: query head h reads key/value head floor(h / (H / KV)).
 * Every buffer a backward pass needs is kept (rstd of each norm, scores after capping,
 * probabilities, gate and up before the GeGLU); with keepActivations each block has its own set.
 */
import type { Backend } from "../../core/backend.ts";
import type { HookCallback } from "../hooks.ts";
import type { ArchModel, ArchWorkspace, ModelDims } from "../model.ts";
import { Linears, type Precision } from "../precision.ts";
import { type Gemma2Config, gemma2Dims } from "./config.ts";
import { concatArrays, type PackedLayer, packedLayer } from "./packed.ts";
import type { Gemma2Weights } from "./weights.ts";

/** Activations of one block; rows = batch * seq. */
export class Gemma2BlockActs {
  readonly ln1: Float32Array; // [rows, d]      input_layernorm output
  readonly ln1Rstd: Float32Array; // [rows]
  readonly qkv: Float32Array; // [rows, (H + 2 KV) hd]  q | k | v per row, q and k after RoPE
  readonly preatt: Float32Array; // [B, H, T, T] scaled, soft-capped scores
  readonly att: Float32Array; // [B, H, T, T]    probabilities
  readonly y: Float32Array; // [rows, H*hd]   per-head attention outputs
  readonly attnProj: Float32Array; // [rows, d]  o_proj output
  readonly attnOut: Float32Array; // [rows, d]   post_attention_layernorm output (hook_attn_out)
  readonly attnRstd: Float32Array; // [rows]
  readonly residMid: Float32Array; // [rows, d]
  readonly ln2: Float32Array; // [rows, d]      pre_feedforward_layernorm output
  readonly ln2Rstd: Float32Array; // [rows]
  readonly gu: Float32Array; // [rows, 2 dMlp]  gate | up per row, before the GeGLU
  readonly hidden: Float32Array; // [rows, dMlp]  gelu(gate) * up
  readonly down: Float32Array; // [rows, d]
  readonly mlpOut: Float32Array; // [rows, d]   post_feedforward_layernorm output (hook_mlp_out)
  readonly mlpRstd: Float32Array; // [rows]

  constructor(cfg: Gemma2Config, batch: number, seq: number) {
    const rows = batch * seq;
    const { hiddenSize: d, numHeads: H, numKvHeads: KV, headDim: hd, intermediateSize: m } = cfg;
    const f = (n: number) => new Float32Array(n);
    this.ln1 = f(rows * d);
    this.ln1Rstd = f(rows);
    this.qkv = f(rows * (H + 2 * KV) * hd);
    this.preatt = f(batch * H * seq * seq);
    this.att = f(batch * H * seq * seq);
    this.y = f(rows * H * hd);
    this.attnProj = f(rows * d);
    this.attnOut = f(rows * d);
    this.attnRstd = f(rows);
    this.residMid = f(rows * d);
    this.ln2 = f(rows * d);
    this.ln2Rstd = f(rows);
    this.gu = f(rows * 2 * m);
    this.hidden = f(rows * m);
    this.down = f(rows * d);
    this.mlpOut = f(rows * d);
    this.mlpRstd = f(rows);
  }
}

export class Gemma2Workspace implements ArchWorkspace {
  readonly batch: number;
  readonly seq: number;
  readonly rows: number;
  readonly positions: Int32Array; // [rows]: t for row b*seq + t
  readonly blocks: Gemma2BlockActs[]; // nLayers entries (shared object unless keepActivations)
  private readonly residBufs: Float32Array[]; // nLayers + 1, or 2 ping-pong buffers
  readonly finalNorm: Float32Array; // [rows, d]
  readonly finalRstd: Float32Array; // [rows]
  private logitsBuf: Float32Array | null = null; // [rows, vocab], allocated on first head()
  private readonly vocab: number;

  constructor(cfg: Gemma2Config, batch: number, seq: number, keepActivations: boolean) {
    this.batch = batch;
    this.seq = seq;
    this.rows = batch * seq;
    this.vocab = cfg.vocabSize;
    this.positions = new Int32Array(this.rows);
    for (let i = 0; i < this.rows; i++) this.positions[i] = i % seq;
    const d = cfg.hiddenSize;
    const shared = keepActivations ? null : new Gemma2BlockActs(cfg, batch, seq);
    this.blocks = Array.from({ length: cfg.numLayers }, () => shared ?? new Gemma2BlockActs(cfg, batch, seq));
    const nResid = keepActivations ? cfg.numLayers + 1 : 2;
    this.residBufs = Array.from({ length: nResid }, () => new Float32Array(this.rows * d));
    this.finalNorm = new Float32Array(this.rows * d);
    this.finalRstd = new Float32Array(this.rows);
  }

  resid(layer: number): Float32Array {
    return this.residBufs.length === 2 ? this.residBufs[layer % 2] : this.residBufs[layer];
  }

  logits(): Float32Array {
    this.logitsBuf ??= new Float32Array(this.rows * this.vocab);
    return this.logitsBuf;
  }
}

export class Gemma2Model implements ArchModel<Gemma2Workspace> {
  readonly dims: ModelDims;
  readonly cfg: Gemma2Config;
  readonly w: Gemma2Weights;
  private readonly be: Backend;
  private readonly lin: Linears;
  /** Per layer: [Wq; Wk; Wv] and [Wg; Wu] as one matrix each, where the weights allow (packed.ts). */
  readonly packed: PackedLayer[];

  constructor(cfg: Gemma2Config, weights: Gemma2Weights, backend: Backend) {
    this.cfg = cfg;
    this.w = weights;
    this.be = backend;
    this.lin = new Linears(backend);
    this.dims = gemma2Dims(cfg);
    this.packed = weights.layers.map((w) => packedLayer(w));
  }

  get precision(): Precision {
    return this.lin.precision;
  }

  /**
   * Rounds every linear weight to bf16 once (precision.ts): the block projections' fp32 arrays are
   * replaced by placeholders and freed; the logits head keeps its fp32 array (the embedding when tied).
   * q|k|v and gate|up are stacked first ([Wq; Wk; Wv], [Wg; Wu]: one bf16 GEMM each).
   */
  toBf16(): void {
    if (this.lin.precision === "bf16") return;
    const { hiddenSize: d, numHeads: H, numKvHeads: KV, headDim: hd, intermediateSize: m, vocabSize: V } = this.cfg;
    const lin = this.lin;
    for (const [l, w] of this.w.layers.entries()) {
      const pk = this.packed[l];
      pk.wqkv = lin.toBf16(pk.wqkv ?? concatArrays([w.wq, w.wk, w.wv]), (H + 2 * KV) * hd, d, false);
      pk.wgu = lin.toBf16(pk.wgu ?? concatArrays([w.wGate, w.wUp]), 2 * m, d, false);
      w.wq = w.wk = w.wv = w.wGate = w.wUp = new Float32Array(0);
      w.wo = lin.toBf16(w.wo, d, H * hd, false);
      w.wDown = lin.toBf16(w.wDown, d, m, false);
    }
    lin.toBf16(this.w.lmHead, V, d, false, true);
  }

  createWorkspace(batch: number, seq: number, keepActivations: boolean): Gemma2Workspace {
    return new Gemma2Workspace(this.cfg, batch, seq, keepActivations);
  }

  /** ids [rows] -> resid(0) = E[ids] * sqrt(d) (the constant rounded to float32, as transformers does). */
  embed(ws: Gemma2Workspace, ids: Int32Array): void {
    const { vocabSize: V, hiddenSize: d } = this.cfg;
    const x = ws.resid(0);
    this.be.embeddingGather(this.w.embed, ids, V, d, x);
    this.be.scale(x, Math.fround(Math.sqrt(d)), x);
  }

  block(ws: Gemma2Workspace, layer: number, hook: HookCallback | null): void {
    this.attentionBlock(ws, layer, hook);
    this.mlpBlock(ws, layer, hook);
  }

  /** resid(layer) -> a.residMid = x + RMSNorm_post_attn(attention(RMSNorm_in(x))). */
  attentionBlock(ws: Gemma2Workspace, layer: number, hook: HookCallback | null): void {
    const be = this.be;
    const c = this.cfg;
    const w = this.w.layers[layer];
    const a = ws.blocks[layer];
    const { rows } = ws;
    const { hiddenSize: d, numHeads: H, numKvHeads: KV, headDim: hd, rmsNormEps: eps } = c;
    const x = ws.resid(layer);
    const n3 = (H + 2 * KV) * hd;
    const qkv = a.qkv;
    be.rmsNorm(x, w.inputNorm, 1, rows, d, eps, a.ln1, a.ln1Rstd);
    const wqkv = this.packed[layer].wqkv;
    if (wqkv) this.lin.xWt(a.ln1, rows, d, wqkv, n3, qkv);
    else {
      be.gemm(false, true, rows, H * hd, d, 1, a.ln1, d, w.wq, d, 0, qkv, n3);
      be.gemm(false, true, rows, KV * hd, d, 1, a.ln1, d, w.wk, d, 0, qkv.subarray(H * hd), n3);
      be.gemm(false, true, rows, KV * hd, d, 1, a.ln1, d, w.wv, d, 0, qkv.subarray((H + KV) * hd), n3);
    }
    be.rope(qkv, ws.positions, rows, H + KV, hd, c.ropeTheta, false, qkv, n3); // q and k heads
    const window = c.layerSliding[layer] ? c.slidingWindow : 0;
    const { batch: B, seq: T } = ws;
    const alpha = c.queryPreAttnScalar ** -0.5;
    const cap = c.attnSoftcap ?? 0;
    const [q, k, v] = [qkv, qkv.subarray(H * hd), qkv.subarray((H + KV) * hd)];
    be.attentionForwardFused(q, k, v, B, T, H, KV, hd, alpha, cap, window, a.preatt, a.att, a.y, n3);
    this.lin.xWt(a.y, rows, H * hd, w.wo, d, a.attnProj);
    if (hook) {
      be.rmsNorm(a.attnProj, w.postAttnNorm, 1, rows, d, eps, a.attnOut, a.attnRstd);
      hook(layer, "attn_out", a.attnOut); // may rewrite attnOut (splice) before the residual add
      be.add(x, a.attnOut, a.residMid);
    } else be.rmsNorm(a.attnProj, w.postAttnNorm, 1, rows, d, eps, a.attnOut, a.attnRstd, x, a.residMid);
  }

  /** a.residMid -> resid(layer + 1) = residMid + RMSNorm_post_ff(GeGLU(RMSNorm_pre_ff(residMid))). */
  mlpBlock(ws: Gemma2Workspace, layer: number, hook: HookCallback | null): void {
    const be = this.be;
    const c = this.cfg;
    const w = this.w.layers[layer];
    const a = ws.blocks[layer];
    const { rows } = ws;
    const { hiddenSize: d, intermediateSize: m, rmsNormEps: eps } = c;
    be.rmsNorm(a.residMid, w.preFfNorm, 1, rows, d, eps, a.ln2, a.ln2Rstd);
    const wgu = this.packed[layer].wgu;
    if (wgu) this.lin.xWt(a.ln2, rows, d, wgu, 2 * m, a.gu);
    else {
      be.gemm(false, true, rows, m, d, 1, a.ln2, d, w.wGate, d, 0, a.gu, 2 * m);
      be.gemm(false, true, rows, m, d, 1, a.ln2, d, w.wUp, d, 0, a.gu.subarray(m), 2 * m);
    }
    be.gegluPacked(a.gu, rows, m, a.hidden);
    this.lin.xWt(a.hidden, rows, m, w.wDown, d, a.down);
    if (hook) {
      be.rmsNorm(a.down, w.postFfNorm, 1, rows, d, eps, a.mlpOut, a.mlpRstd);
      hook(layer, "mlp_out", a.mlpOut);
      be.add(a.residMid, a.mlpOut, ws.resid(layer + 1));
    } else {
      const next = ws.resid(layer + 1);
      be.rmsNorm(a.down, w.postFfNorm, 1, rows, d, eps, a.mlpOut, a.mlpRstd, a.residMid, next);
    }
  }

  /** resid(nLayers) -> logits [rows, vocab] = softcap(RMSNorm_final(x) E^T). */
  head(ws: Gemma2Workspace): Float32Array {
    const logits = this.headRaw(ws);
    const c = this.cfg;
    if (c.finalSoftcap !== null) this.be.softcap(logits, c.finalSoftcap, logits);
    return logits;
  }

  /**
   * resid(nLayers) -> ws.logits() [rows, vocab] = z = RMSNorm_final(x) E^T, before the soft-cap
   * (training: Gemma2Backward.lossAndBackward caps z inside the fused cross-entropy).
   */
  headRaw(ws: Gemma2Workspace): Float32Array {
    const be = this.be;
    const c = this.cfg;
    const { rows } = ws;
    const d = c.hiddenSize;
    const logits = ws.logits();
    be.rmsNorm(ws.resid(c.numLayers), this.w.finalNorm, 1, rows, d, c.rmsNormEps, ws.finalNorm, ws.finalRstd);
    this.lin.xWt(ws.finalNorm, rows, d, this.w.lmHead, c.vocabSize, logits);
    return logits;
  }
}
