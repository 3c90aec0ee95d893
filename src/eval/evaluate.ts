/**
 * Evaluating an SAE on a model and a corpus (DESIGN.md s.3; the metrics are defined in metrics.ts).
 *
 *   const r = await evaluateSae(model, sae, corpus, { hook: "blocks.3.hook_resid_post", scale: loaded.scale });
 *   r.metrics   // { mse, ..., dead_pct, ce_clean, ce_sae, ce_zero, ce_loss_score, kl_div_score }
 *   r.tokens    // tokens in the reconstruction metrics (non-special positions)
 *
 * The corpus is packed into contexts of `contextSize` tokens (SAELens packing, BOS first, as the
 * harvest does) and the first ceil(tokens / contextSize) contexts (fewer when the corpus is shorter)
 * run in batches of `batch` contexts. Per batch, three forwards (the patched two start at the hook
 * from the clean forward's stream there: PatchedForwards):
 *   clean:  the model as it is; its logits are the reference of CE and KL;
 *   sae:    at the hook, every non-special position (token not BOS / EOS / PAD) is replaced by the
 *           SAE's reconstruction x^ = sae(c x) / c (sae-rows.ts); the rows the SAE saw there feed
 *           the reconstruction metrics (the hook activation is upstream of the splice, so it equals
 *           the clean one);
 *   zero:   the same positions are set to 0 (or every position, with zeroAllPositions).
 * So an SAE returning x exactly scores ce_loss_score = kl_div_score = 1, one returning 0 scores 0.
 * CE targets are next tokens except where the next token is BOS and at each context's last position
 * (src/lm/train/data.ts fillTargets); KL runs over the non-special positions. With `spliced: false`
 * only the reconstruction metrics are computed (one forward per batch, stopped after the hook).
 *
 * Memory: the model's workspace for (batch, contextSize), the SAE's buffers for batch * contextSize
 * rows, and one float32 copy of the clean logits [batch * contextSize, vocab] (choose `batch`
 * accordingly for large vocabularies). For stored activations see evaluateOnStore (store.ts).
 */
import { UsageError } from "../core/errors.ts";
import type { Tensor } from "../core/tensor.ts";
import { packDocuments } from "../data/packing.ts";
import type { Corpus } from "../data/spec.ts";
import { specialIds } from "../harvest/activations.ts";
import type { ContextTokenizer } from "../harvest/contexts.ts";
import type { SpliceFn } from "../lm/hooks.ts";
import { parseHookName } from "../lm/hooks.ts";
import type { LanguageModel } from "../lm/model.ts";
import { fillTargets } from "../lm/train/data.ts";
import type { SaeModule } from "../sae/types.ts";
import { CleanBatch, PatchedSums, SplicedLossAccumulator, splicedMetrics } from "./ce.ts";
import type { ReconMetrics, SaeMetrics } from "./metrics.ts";
import { ReconAccumulator } from "./recon.ts";
import { SaeRows } from "./sae-rows.ts";

export interface EvaluateOptions {
  /** Hook the SAE reads and writes, e.g. blocks.3.hook_resid_post. */
  hook: string;
  /** Dataset scale c: the SAE sees c x (default 1: folded into the weights). */
  scale?: number;
  /** Positions to run (contexts = ceil(tokens / contextSize), fewer when the corpus is shorter). Default 65536. */
  tokens?: number;
  /** Context length (default min(128, the model's)). */
  contextSize?: number;
  /** Contexts per forward (default 8); also the legacy EV's group. */
  batch?: number;
  /** Spliced forwards for CE / KL (default true). */
  spliced?: boolean;
  /** Zero-ablate every position, special ones included (default false: the positions the SAE replaces). */
  zeroAllPositions?: boolean;
  /** Token ids whose positions are left alone and not scored (default the model's BOS, EOS, PAD). */
  excludedIds?: readonly number[];
  /** Tokenizer for packing (default the model's). */
  tokenizer?: ContextTokenizer;
  onBatch?: (contextsDone: number, contextsTotal: number) => void;
}

export interface EvalCounts {
  /** Tokens in the reconstruction metrics (non-special positions). */
  tokens: number;
  /** CE-scored positions (0 without spliced forwards). */
  ceTokens: number;
  contexts: number;
  contextSize: number;
}

export interface EvalReport<M> extends EvalCounts {
  metrics: M;
}

export const DEFAULT_EVAL_TOKENS = 65536;

interface Prepared {
  C: number;
  N: number;
  B: number;
  tok: ContextTokenizer;
  excluded: Set<number>;
}

function prepare(model: LanguageModel, sae: SaeModule, o: EvaluateOptions): Prepared {
  try {
    parseHookName(o.hook, model.dims.nLayers);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (sae.hyper.d !== model.dims.dModel)
    throw new UsageError(
      `the SAE reads d_in = ${sae.hyper.d} values per token but ${o.hook} of ${model.info.source} has ${model.dims.dModel}`,
    );
  const C = o.contextSize ?? Math.min(128, model.dims.contextLength);
  if (!Number.isInteger(C) || C < 2 || C > model.dims.contextLength)
    throw new UsageError(`context size ${C} is not valid: expected an integer in [2, ${model.dims.contextLength}]`);
  const tokens = o.tokens ?? DEFAULT_EVAL_TOKENS;
  if (!Number.isInteger(tokens) || tokens < 1) throw new UsageError(`tokens ${tokens}: expected an integer >= 1`);
  const B = o.batch ?? 8;
  if (!Number.isInteger(B) || B < 1) throw new UsageError(`batch ${B}: expected an integer >= 1`);
  const tok = o.tokenizer ?? (model.tokenizer as unknown as ContextTokenizer | null);
  if (!tok) throw new Error(`${model.info.source} has no tokenizer: evaluation needs one to pack the corpus`);
  return { C, N: Math.ceil(tokens / C), B, tok, excluded: new Set(o.excludedIds ?? specialIds(model)) };
}

/** Batches of up to B contexts [n * C] from the first N contexts of the corpus. */
async function* contextBatches(corpus: Corpus, p: Prepared): AsyncGenerator<{ ids: Int32Array; n: number }> {
  const { C, N, B } = p;
  const buf = new Int32Array(B * C);
  let n = 0;
  let seen = 0;
  for await (const ctx of packDocuments(corpus.documents(), p.tok, { contextSize: C })) {
    buf.set(ctx, n * C);
    n++;
    seen++;
    if (n === B || seen === N) {
      yield { ids: buf.subarray(0, n * C), n };
      n = 0;
    }
    if (seen === N) return;
  }
  if (n > 0) yield { ids: buf.subarray(0, n * C), n };
  if (seen === 0)
    throw new UsageError(`data ${corpus.spec} holds fewer than ${C} tokens: not even one context can be packed`);
}

/** Gathers the non-special rows of act, runs the SAE on them, feeds the accumulator. */
class SpliceRunner {
  private readonly rows: SaeRows;
  private readonly gather: Float32Array;
  private readonly keep: Int32Array;
  private kept = 0;

  constructor(
    sae: SaeModule,
    scale: number,
    maxRows: number,
    private readonly recon: ReconAccumulator,
  ) {
    this.rows = new SaeRows(sae, scale, maxRows);
    this.gather = new Float32Array(maxRows * sae.hyper.d);
    this.keep = new Int32Array(maxRows);
  }

  /** Marks the rows of ids to replace (non-special). */
  select(ids: Int32Array, excluded: Set<number>): void {
    let k = 0;
    for (let r = 0; r < ids.length; r++) if (!excluded.has(ids[r])) this.keep[k++] = r;
    this.kept = k;
  }

  /** act [rows, d]: reconstruct the kept rows (write x^ back when `write`). */
  reconstruct(act: Float32Array, d: number, write: boolean): void {
    const k = this.kept;
    for (let i = 0; i < k; i++) {
      const r = this.keep[i];
      this.gather.set(act.subarray(r * d, (r + 1) * d), i * d);
    }
    const x = this.gather.subarray(0, k * d);
    const { codes, xhat } = this.rows.run(x, k);
    this.recon.add(x, xhat, codes, k);
    if (write) for (let i = 0; i < k; i++) act.set(xhat.subarray(i * d, (i + 1) * d), this.keep[i] * d);
  }

  /** Zeroes the kept rows of act. */
  zero(act: Float32Array, d: number): void {
    for (let i = 0; i < this.kept; i++) act.fill(0, this.keep[i] * d, (this.keep[i] + 1) * d);
  }
}

/**
 * Patched forwards that start at the hook: the clean forward captures the stream at the hook, and
 * each patched forward copies it, rewrites it and runs only the blocks downstream of it
 * (RunOptions.start). The upstream blocks are the same in every forward, so the logits are
 * those of a full spliced forward. Hooks inside a block (attn_out, mlp_out) run the full forward.
 */
class PatchedForwards {
  private readonly scratch: Float32Array;
  /** Hook -> block the patched forward starts at (resid_pre L: L; resid_post L: L + 1), or null. */
  private readonly startOf = new Map<string, number | null>();

  constructor(
    private readonly model: LanguageModel,
    hooks: readonly string[],
    maxRows: number,
  ) {
    this.scratch = new Float32Array(maxRows * model.dims.dModel);
    for (const h of hooks) {
      const { layer, kind } = parseHookName(h, model.dims.nLayers);
      this.startOf.set(h, kind === "resid_pre" ? layer : kind === "resid_post" ? layer + 1 : null);
    }
  }

  /** The hooks the clean forward captures (the resumable ones). */
  get captured(): string[] {
    return [...this.startOf].filter(([, s]) => s !== null).map(([h]) => h);
  }

  /** Logits of the forward with `splice` at `hook`; clean: the clean forward's cache of this batch. */
  run(ids: Int32Array, n: number, hook: string, clean: Record<string, Tensor>, splice: SpliceFn): Float32Array {
    const start = this.startOf.get(hook);
    const d = this.model.dims.dModel;
    if (start === null || start === undefined)
      return this.model.run(ids, { batch: n, splice: { [hook]: splice } }).logits!.data;
    const resid = this.scratch.subarray(0, ids.length * d);
    resid.set(clean[hook].data);
    splice(resid, ids.length, d);
    return this.model.run(ids, { batch: n, start: { layer: start, resid } }).logits!.data;
  }
}

/** Every metric of DESIGN.md s.3 (see the header). */
export async function evaluateSae(
  model: LanguageModel,
  sae: SaeModule,
  corpus: Corpus,
  options: EvaluateOptions & { spliced?: true },
): Promise<EvalReport<SaeMetrics>>;
export async function evaluateSae(
  model: LanguageModel,
  sae: SaeModule,
  corpus: Corpus,
  options: EvaluateOptions & { spliced: false },
): Promise<EvalReport<ReconMetrics>>;
export async function evaluateSae(
  model: LanguageModel,
  sae: SaeModule,
  corpus: Corpus,
  options: EvaluateOptions,
): Promise<EvalReport<SaeMetrics | ReconMetrics>> {
  const p = prepare(model, sae, options);
  const { C, B, N } = p;
  const d = model.dims.dModel;
  const V = model.dims.vocabSize;
  const spliced = options.spliced ?? true;
  const recon = new ReconAccumulator(d, sae.hyper.m);
  const runner = new SpliceRunner(sae, options.scale ?? 1, B * C, recon);
  const ce = spliced ? new SplicedLossAccumulator(V, model.backend) : null;
  const patched = spliced ? new PatchedForwards(model, [options.hook], B * C) : null;
  const targets = new Int32Array(B * C);
  const klMask = new Uint8Array(B * C);
  const bos = model.info.bosId;
  const hook = options.hook;
  const saeSplice: SpliceFn = (act, _rows, dd) => runner.reconstruct(act, dd, true);
  const zeroSplice: SpliceFn = options.zeroAllPositions
    ? (act) => act.fill(0)
    : (act, _rows, dd) => runner.zero(act, dd);
  let contexts = 0;
  for await (const { ids, n } of contextBatches(corpus, p)) {
    runner.select(ids, p.excluded);
    if (ce) {
      const rows = n * C;
      const t = targets.subarray(0, rows);
      fillTargets(ids, C, bos, t);
      const mask = klMask.subarray(0, rows);
      for (let r = 0; r < rows; r++) mask[r] = p.excluded.has(ids[r]) ? 0 : 1;
      const cleanRun = model.run(ids, { batch: n, capture: patched!.captured });
      ce.setClean(cleanRun.logits!.data, rows, t, mask);
      ce.addPatched("sae", patched!.run(ids, n, hook, cleanRun.cache, saeSplice));
      ce.addPatched("zero", patched!.run(ids, n, hook, cleanRun.cache, zeroSplice));
    } else {
      const { cache } = model.run(ids, { batch: n, capture: [hook], logits: false });
      runner.reconstruct(cache[hook].data, d, false);
    }
    contexts += n;
    options.onBatch?.(contexts, N);
  }
  const metrics = ce ? { ...recon.result(), ...ce.result() } : recon.result();
  return { metrics, tokens: recon.tokens, ceTokens: ce?.counts.ce ?? 0, contexts, contextSize: C };
}

/** One SAE of an evaluateSaes call: the hook it reads and writes and its dataset scale c. */
export interface SaeToEvaluate {
  sae: SaeModule;
  hook: string;
  scale?: number;
}

/**
 * Several SAEs on the same text (the ablation's 30): per batch ONE clean forward, one zero-ablated
 * forward per distinct hook, and one spliced forward per SAE, instead of three forwards per SAE.
 * Each SAE's metrics are exactly evaluateSae's for it (the same sums in the same order).
 */
export async function evaluateSaes(
  model: LanguageModel,
  saes: readonly SaeToEvaluate[],
  corpus: Corpus,
  options: Omit<EvaluateOptions, "hook" | "scale" | "spliced">,
): Promise<EvalReport<SaeMetrics>[]> {
  if (saes.length === 0) return [];
  const ps = saes.map((s) => prepare(model, s.sae, { ...options, hook: s.hook, scale: s.scale }));
  const p = ps[0];
  const { C, B, N } = p;
  const d = model.dims.dModel;
  const V = model.dims.vocabSize;
  const recons = saes.map((s) => new ReconAccumulator(d, s.sae.hyper.m));
  const runners = saes.map((s, j) => new SpliceRunner(s.sae, s.scale ?? 1, B * C, recons[j]));
  const clean = new CleanBatch(V, model.backend);
  const saeSums = saes.map(() => new PatchedSums());
  const hooks = [...new Set(saes.map((s) => s.hook))];
  const patched = new PatchedForwards(model, hooks, B * C);
  const zeroSums = new Map(hooks.map((h) => [h, new PatchedSums()]));
  const targets = new Int32Array(B * C);
  const klMask = new Uint8Array(B * C);
  const bos = model.info.bosId;
  let contexts = 0;
  for await (const { ids, n } of contextBatches(corpus, p)) {
    for (const r of runners) r.select(ids, p.excluded);
    const rows = n * C;
    const t = targets.subarray(0, rows);
    fillTargets(ids, C, bos, t);
    const mask = klMask.subarray(0, rows);
    for (let r = 0; r < rows; r++) mask[r] = p.excluded.has(ids[r]) ? 0 : 1;
    const cleanRun = model.run(ids, { batch: n, capture: patched.captured });
    clean.set(cleanRun.logits!.data, rows, t, mask);
    for (const h of hooks) {
      const runner = runners[saes.findIndex((s) => s.hook === h)];
      const zero: SpliceFn = options.zeroAllPositions ? (act) => act.fill(0) : (act, _r, dd) => runner.zero(act, dd);
      zeroSums.get(h)!.add(clean, patched.run(ids, n, h, cleanRun.cache, zero), "zero");
    }
    saes.forEach((s, j) => {
      const splice: SpliceFn = (act, _r, dd) => runners[j].reconstruct(act, dd, true);
      saeSums[j].add(clean, patched.run(ids, n, s.hook, cleanRun.cache, splice), "sae");
    });
    contexts += n;
    options.onBatch?.(contexts, N);
  }
  return saes.map((s, j) => ({
    metrics: { ...recons[j].result(), ...splicedMetrics(clean, saeSums[j], zeroSums.get(s.hook)!) },
    tokens: recons[j].tokens,
    ceTokens: clean.ceTokens,
    contexts,
    contextSize: C,
  }));
}
