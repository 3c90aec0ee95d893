/**
 * GPT-2 forward (transformers' GPT2LMHeadModel, eager attention), llm.c style.
 *
 *   x_0    = wte[ids] + wpe[t]
 *   per block l (x = x_l):
 *     a     = LayerNorm_1(x)                      (biased variance, eps inside the sqrt)
 *     q|k|v = a W_attn + b_attn                   (Conv1D: W [d, 3d]; columns q | k | v, head h at h*hd)
 *     s     = (q_h . k_h) / sqrt(hd) [/ (l + 1)]; p = causal softmax(s)
 *     attn  = (p v) W_proj + b_proj               -> hook_attn_out
 *     x_mid = x + attn
 *     mlp   = gelu_tanh(LayerNorm_2(x_mid) W_fc + b_fc) W_proj2 + b_proj2   -> hook_mlp_out
 *     x_l+1 = x_mid + mlp                         -> hook_resid_post
 *   logits = LayerNorm_f(x_L) wte^T               (tied lm_head)
 * Every "z W" above runs through Linears (../precision.ts): fp32 GEMM, or after toBf16()
 * bf16(z) bf16(W) with fp32 accumulation (the block weights' fp32 arrays are then empty placeholders).
 */
import type { Backend } from "../../core/backend.ts";
import { AttentionViews, attentionForward } from "../attention.ts";
import type { HookCallback } from "../hooks.ts";
import type { ArchModel, ArchWorkspace, ModelDims } from "../model.ts";
import { Linears, type Precision } from "../precision.ts";
import { type Gpt2Config, gpt2Dims } from "./config.ts";
import type { Gpt2Weights } from "./weights.ts";

/** Activations of one block; rows = batch * seq. */
export class Gpt2BlockActs {
  readonly ln1: Float32Array; // [rows, d]
  readonly ln1Mean: Float32Array; // [rows]
  readonly ln1Rstd: Float32Array; // [rows]
  readonly qkv: Float32Array; // [rows, 3d]
  readonly preatt: Float32Array; // [B, H, T, T]
  readonly att: Float32Array; // [B, H, T, T]
  readonly y: Float32Array; // [rows, d]
  readonly attnOut: Float32Array; // [rows, d]  (hook_attn_out)
  readonly residMid: Float32Array; // [rows, d]
  readonly ln2: Float32Array; // [rows, d]
  readonly ln2Mean: Float32Array; // [rows]
  readonly ln2Rstd: Float32Array; // [rows]
  readonly fc: Float32Array; // [rows, inner]  before GELU
  readonly fcAct: Float32Array; // [rows, inner]
  readonly mlpOut: Float32Array; // [rows, d]   (hook_mlp_out)
  readonly views: AttentionViews;

  constructor(cfg: Gpt2Config, batch: number, seq: number) {
    const rows = batch * seq;
    const { nEmbd: d, nHead: H, nInner: m } = cfg;
    const f = (n: number) => new Float32Array(n);
    this.ln1 = f(rows * d);
    this.ln1Mean = f(rows);
    this.ln1Rstd = f(rows);
    this.qkv = f(rows * 3 * d);
    this.preatt = f(batch * H * seq * seq);
    this.att = f(batch * H * seq * seq);
    this.y = f(rows * d);
    this.attnOut = f(rows * d);
    this.residMid = f(rows * d);
    this.ln2 = f(rows * d);
    this.ln2Mean = f(rows);
    this.ln2Rstd = f(rows);
    this.fc = f(rows * m);
    this.fcAct = f(rows * m);
    this.mlpOut = f(rows * d);
    this.views = new AttentionViews(
      { batch, seq, nHeads: H, nKvHeads: H, headDim: d / H },
      { buf: this.qkv, stride: 3 * d, offset: 0 },
      { buf: this.qkv, stride: 3 * d, offset: d },
      { buf: this.qkv, stride: 3 * d, offset: 2 * d },
      this.preatt,
      this.att,
      { buf: this.y, stride: d, offset: 0 },
    );
  }
}

export class Gpt2Workspace implements ArchWorkspace {
  readonly batch: number;
  readonly seq: number;
  readonly rows: number;
  readonly positions: Int32Array; // [rows]
  readonly posEmb: Float32Array; // [rows, d]
  readonly blocks: Gpt2BlockActs[];
  private readonly residBufs: Float32Array[];
  readonly lnf: Float32Array; // [rows, d]
  readonly lnfMean: Float32Array; // [rows]
  readonly lnfRstd: Float32Array; // [rows]
  private logitsBuf: Float32Array | null = null; // [rows, vocab]
  private readonly vocab: number;

  constructor(cfg: Gpt2Config, batch: number, seq: number, keepActivations: boolean) {
    this.batch = batch;
    this.seq = seq;
    this.rows = batch * seq;
    this.vocab = cfg.vocabSize;
    const d = cfg.nEmbd;
    this.positions = new Int32Array(this.rows);
    for (let i = 0; i < this.rows; i++) this.positions[i] = i % seq;
    this.posEmb = new Float32Array(this.rows * d);
    const shared = keepActivations ? null : new Gpt2BlockActs(cfg, batch, seq);
    this.blocks = Array.from({ length: cfg.nLayer }, () => shared ?? new Gpt2BlockActs(cfg, batch, seq));
    const nResid = keepActivations ? cfg.nLayer + 1 : 2;
    this.residBufs = Array.from({ length: nResid }, () => new Float32Array(this.rows * d));
    this.lnf = new Float32Array(this.rows * d);
    this.lnfMean = new Float32Array(this.rows);
    this.lnfRstd = new Float32Array(this.rows);
  }

  resid(layer: number): Float32Array {
    return this.residBufs.length === 2 ? this.residBufs[layer % 2] : this.residBufs[layer];
  }

  logits(): Float32Array {
    this.logitsBuf ??= new Float32Array(this.rows * this.vocab);
    return this.logitsBuf;
  }
}

export class Gpt2Model implements ArchModel<Gpt2Workspace> {
  readonly dims: ModelDims;
  readonly cfg: Gpt2Config;
  readonly w: Gpt2Weights;
  private readonly be: Backend;
  private readonly lin: Linears;

  constructor(cfg: Gpt2Config, weights: Gpt2Weights, backend: Backend) {
    this.cfg = cfg;
    this.w = weights;
    this.be = backend;
    this.lin = new Linears(backend);
    this.dims = gpt2Dims(cfg);
  }

  get precision(): Precision {
    return this.lin.precision;
  }

  /**
   * Rounds every linear weight to bf16 once (precision.ts): the Conv1D weights' fp32 arrays are
   * replaced by placeholders and freed; the logits head keeps its fp32 array (wte when tied).
   */
  toBf16(): void {
    if (this.lin.precision === "bf16") return;
    const { nEmbd: d, nInner: m, vocabSize: V } = this.cfg;
    const lin = this.lin;
    for (const w of this.w.layers) {
      w.wAttn = lin.toBf16(w.wAttn, 3 * d, d, true);
      w.wAttnProj = lin.toBf16(w.wAttnProj, d, d, true);
      w.wFc = lin.toBf16(w.wFc, m, d, true);
      w.wMlpProj = lin.toBf16(w.wMlpProj, d, m, true);
    }
    lin.toBf16(this.w.lmHead, V, d, false, true);
  }

  createWorkspace(batch: number, seq: number, keepActivations: boolean): Gpt2Workspace {
    return new Gpt2Workspace(this.cfg, batch, seq, keepActivations);
  }

  /** resid(0) = wte[ids] + wpe[positions]. */
  embed(ws: Gpt2Workspace, ids: Int32Array): void {
    const { vocabSize: V, nEmbd: d, nPositions: P } = this.cfg;
    const x = ws.resid(0);
    this.be.embeddingGather(this.w.wte, ids, V, d, x);
    this.be.embeddingGather(this.w.wpe, ws.positions, P, d, ws.posEmb);
    this.be.add(x, ws.posEmb, x);
  }

  block(ws: Gpt2Workspace, layer: number, hook: HookCallback | null): void {
    this.attentionBlock(ws, layer, hook);
    this.mlpBlock(ws, layer, hook);
  }

  attentionBlock(ws: Gpt2Workspace, layer: number, hook: HookCallback | null): void {
    const be = this.be;
    const c = this.cfg;
    const w = this.w.layers[layer];
    const a = ws.blocks[layer];
    const { rows } = ws;
    const d = c.nEmbd;
    const hd = d / c.nHead;
    const x = ws.resid(layer);
    be.layerNorm(x, w.ln1g, w.ln1b, rows, d, c.layerNormEps, a.ln1, a.ln1Mean, a.ln1Rstd);
    this.lin.xW(a.ln1, rows, d, w.wAttn, 3 * d, a.qkv);
    be.addBias(a.qkv, w.bAttn, rows, 3 * d, a.qkv);
    let alpha = c.scaleAttnWeights ? 1 / Math.sqrt(hd) : 1;
    if (c.scaleAttnByInverseLayerIdx) alpha /= layer + 1;
    attentionForward(be, a.views, a.preatt, a.att, alpha, null, 0);
    this.lin.xW(a.y, rows, d, w.wAttnProj, d, a.attnOut);
    be.addBias(a.attnOut, w.bAttnProj, rows, d, a.attnOut);
    hook?.(layer, "attn_out", a.attnOut);
    be.add(x, a.attnOut, a.residMid);
  }

  mlpBlock(ws: Gpt2Workspace, layer: number, hook: HookCallback | null): void {
    const be = this.be;
    const c = this.cfg;
    const w = this.w.layers[layer];
    const a = ws.blocks[layer];
    const { rows } = ws;
    const { nEmbd: d, nInner: m } = c;
    be.layerNorm(a.residMid, w.ln2g, w.ln2b, rows, d, c.layerNormEps, a.ln2, a.ln2Mean, a.ln2Rstd);
    this.lin.xW(a.ln2, rows, d, w.wFc, m, a.fc);
    be.addBias(a.fc, w.bFc, rows, m, a.fc);
    be.gelu(a.fc, a.fcAct);
    this.lin.xW(a.fcAct, rows, m, w.wMlpProj, d, a.mlpOut);
    be.addBias(a.mlpOut, w.bMlpProj, rows, d, a.mlpOut);
    hook?.(layer, "mlp_out", a.mlpOut);
    be.add(a.residMid, a.mlpOut, ws.resid(layer + 1));
  }

  head(ws: Gpt2Workspace): Float32Array {
    const be = this.be;
    const c = this.cfg;
    const { rows } = ws;
    const d = c.nEmbd;
    const logits = ws.logits();
    be.layerNorm(ws.resid(c.nLayer), this.w.lnfg, this.w.lnfb, rows, d, c.layerNormEps, ws.lnf, ws.lnfMean, ws.lnfRstd);
    this.lin.xWt(ws.lnf, rows, d, this.w.lmHead, c.vocabSize, logits);
    return logits;
  }
}
