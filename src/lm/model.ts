/**
 * LanguageModel: a loaded causal LM (any registered architecture) with hooks.
 *
 *   run(ids [batch, seq]) -> logits [batch, seq, vocab] and captured activations [batch, seq, d]
 *
 * The architecture supplies llm.c-style pieces over a preallocated workspace (embed, one block,
 * head); this file runs the loop and the hook plan (capture, splice, early stop; see hooks.ts).
 * The workspace for a (batch, seq) is allocated on first use and reused by later runs of that
 * shape, so steady-state runs allocate nothing but small views.
 */
import type { Backend } from "../core/backend.ts";
import { Tensor } from "../core/tensor.ts";
import { type HookCallback, type HookKind, HookPlan, listHookNames, type RunOptions } from "./hooks.ts";
import type { Precision } from "./precision.ts";

/** Shape facts every architecture reports (msae inspect, hooks, harvest). */
export interface ModelDims {
  nLayers: number;
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  dMlp: number;
  vocabSize: number;
  /** Longest sequence the model accepts (max_position_embeddings / n_positions). */
  contextLength: number;
}

/** A workspace: every activation buffer of one (batch, seq). */
export interface ArchWorkspace {
  readonly batch: number;
  readonly seq: number;
  /** The residual stream entering block `layer` (layer = nLayers: after the last block) [batch*seq, d]. */
  resid(layer: number): Float32Array;
}

/** What an architecture implements (src/lm/<arch>/forward.ts). */
export interface ArchModel<W extends ArchWorkspace = ArchWorkspace> {
  readonly dims: ModelDims;
  /** keepActivations: one buffer set per block (for a backward pass) instead of one shared set. */
  createWorkspace(batch: number, seq: number, keepActivations: boolean): W;
  /** ids [batch*seq] -> ws.resid(0). */
  embed(ws: W, ids: Int32Array): void;
  /** Block `layer`: ws.resid(layer) -> ws.resid(layer + 1); calls hook(layer, "attn_out" | "mlp_out", act). */
  block(ws: W, layer: number, hook: HookCallback | null): void;
  /** Final norm and unembedding of ws.resid(nLayers) -> logits [batch*seq, vocab] (a workspace buffer). */
  head(ws: W): Float32Array;
  /** The linear layers' precision (precision.ts): "f32" until toBf16(). */
  readonly precision: Precision;
  /** Rounds the linear weights to bf16 once (their fp32 copies are dropped); inference only. */
  toBf16(): void;
}

/** Token ids as rows (number[][] or Int32Array[]), or a flat Int32Array with `batch` rows. */
export type TokenIds = Int32Array | readonly ArrayLike<number>[];

export interface RunResult {
  /** [batch, seq, vocab], or null when options.logits was false. */
  logits: Tensor | null;
  /** Hook name -> [batch, seq, d]. */
  cache: Record<string, Tensor>;
}

export interface TokenizerLike {
  encode(text: string): number[] | Int32Array;
  decode(ids: ArrayLike<number>): string;
  readonly vocabSize: number;
}

export interface ModelInfo {
  /** Registry name: "gemma2" | "gpt2". */
  architecture: string;
  /** Folder or file the model came from. */
  source: string;
  parameterCount: number;
  bosId: number | null;
  eosId: number | null;
  padId: number | null;
}

export class LanguageModel {
  readonly info: ModelInfo;
  readonly dims: ModelDims;
  readonly backend: Backend;
  readonly tokenizer: TokenizerLike | null;
  readonly arch: ArchModel;
  private ws: ArchWorkspace | null = null;
  private captureBufs = new Map<string, Float32Array>();

  constructor(arch: ArchModel, info: ModelInfo, backend: Backend, tokenizer: TokenizerLike | null) {
    this.arch = arch;
    this.dims = arch.dims;
    this.info = info;
    this.backend = backend;
    this.tokenizer = tokenizer;
  }

  /** The precision of the forward's linear layers ("f32", or "bf16" when loaded with precision: "bf16"). */
  get precision(): Precision {
    return this.arch.precision;
  }

  /** Every valid hook name, in forward order. */
  hookNames(): string[] {
    return listHookNames(this.dims.nLayers);
  }

  /** The workspace for (batch, seq), reusing the previous one when the shape matches. */
  workspace(batch: number, seq: number): ArchWorkspace {
    if (!this.ws || this.ws.batch !== batch || this.ws.seq !== seq) {
      this.ws = null; // drop the old buffers before allocating new ones
      this.captureBufs.clear();
      this.ws = this.arch.createWorkspace(batch, seq, false);
    }
    return this.ws;
  }

  /** Flattens and validates ids: every row the same length, ids in [0, vocab), seq within context. */
  private flatten(ids: TokenIds, batchOpt?: number): { flat: Int32Array; batch: number; seq: number } {
    let flat: Int32Array;
    let batch: number;
    if (ids instanceof Int32Array) {
      batch = batchOpt ?? 1;
      if (!Number.isInteger(batch) || batch < 1 || ids.length % batch !== 0)
        throw new RangeError(`run: ${ids.length} token ids do not split into ${batch} rows of equal length`);
      flat = ids;
    } else {
      batch = ids.length;
      if (batch === 0) throw new RangeError("run: no token rows given; expected [batch, seq] ids with batch >= 1");
      const t = ids[0].length;
      flat = new Int32Array(batch * t);
      for (let b = 0; b < batch; b++) {
        const row = ids[b];
        if (row.length !== t)
          throw new RangeError(`run: row ${b} has ${row.length} tokens but row 0 has ${t}; rows must be equally long`);
        for (let i = 0; i < t; i++) flat[b * t + i] = row[i];
      }
    }
    const seq = flat.length / batch;
    if (seq < 1) throw new RangeError("run: sequences are empty; expected at least 1 token per row");
    if (seq > this.dims.contextLength)
      throw new RangeError(`run: sequence length ${seq} exceeds the model's context length ${this.dims.contextLength}`);
    const V = this.dims.vocabSize;
    for (let i = 0; i < flat.length; i++) {
      const id = flat[i];
      if (!(id >= 0 && id < V) || !Number.isInteger(id))
        throw new RangeError(
          `run: token id ${id} at position ${i % seq} of row ${Math.floor(i / seq)} is outside the vocabulary [0, ${V})`,
        );
    }
    return { flat, batch, seq };
  }

  /**
   * Causal forward of ids [batch, seq] with hooks (see hooks.ts for names and semantics).
   * For a flat Int32Array pass `batch` in options (default 1).
   */
  run(ids: TokenIds, options: RunOptions & { batch?: number } = {}): RunResult {
    const { flat, batch, seq } = this.flatten(ids, options.batch);
    const { nLayers, dModel } = this.dims;
    const plan = new HookPlan(nLayers, options);
    const ws = this.workspace(batch, seq);
    const rows = batch * seq;
    const cache: Record<string, Tensor> = {};
    const copy = options.copy ?? false;
    const onHook: HookCallback = (layer: number, kind: HookKind, act: Float32Array) => {
      const e = plan.get(layer, kind);
      if (!e) return;
      if (e.splice) e.splice(act, rows, dModel);
      if (e.capture) {
        const name = `blocks.${layer}.hook_${kind}`;
        let buf = copy ? undefined : this.captureBufs.get(name);
        if (!buf) {
          buf = new Float32Array(rows * dModel);
          if (!copy) this.captureBufs.set(name, buf);
        }
        buf.set(act);
        cache[name] = new Tensor(buf, [batch, seq, dModel]);
      }
    };

    let first = 0;
    if (options.start) {
      const { layer, resid } = options.start;
      if (!Number.isInteger(layer) || layer < 0 || layer > nLayers)
        throw new RangeError(`run: start layer ${layer} is outside [0, ${nLayers}]`);
      if (resid.length !== rows * dModel)
        throw new RangeError(
          `run: start residual has ${resid.length} values; expected batch * seq * d = ${rows} * ${dModel}`,
        );
      const upstream = plan.firstBefore(layer);
      if (upstream) throw new RangeError(`run: hook ${upstream} is upstream of the start layer ${layer}`);
      const dst = ws.resid(layer);
      if (dst !== resid) dst.set(resid);
      first = layer;
    } else this.arch.embed(ws, flat);
    for (let layer = first; layer < nLayers; layer++) {
      onHook(layer, "resid_pre", ws.resid(layer));
      if (layer >= plan.layersToRun) break;
      this.arch.block(ws, layer, onHook);
      onHook(layer, "resid_post", ws.resid(layer + 1));
    }
    let logits: Tensor | null = null;
    if (options.logits ?? true) {
      const out = this.arch.head(ws);
      logits = new Tensor(copy ? out.slice() : out, [batch, seq, this.dims.vocabSize]);
    }
    return { logits, cache };
  }
}
