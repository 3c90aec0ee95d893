/**
 * The loaded-SAE check (DESIGN.md s.3): an SAE folder whose cfg.json `metadata` records its
 * training-time `l0` and `explained_variance` is measured on the given model and data; when the
 * figures disagree (|EV - EV_train| > 0.1, or |L0 - L0_train| > 0.25 L0_train) one plain line says
 * so and names the likely cause, found by trying the alternatives on a few contexts:
 *   1. hook: the hook used differs from metadata.hook_name and the SAE measures as trained there;
 *   2. normalization: inputs rescaled to the norm the SAE was trained at (E||x_in||^2 = d, with
 *      x_in = c x for the scale recorded in the folder; for a folded scale c_f the module expects
 *      E||x||^2 = d / c_f^2) make the figures agree;
 *   3. hook: another hook of the model (same block first, then neighbouring blocks) agrees (the
 *      best match is named);
 *   4. otherwise architecture: the weights run as another architecture or with other settings
 *      (k, threshold, apply_b_dec_to_input) than in training.
 *
 *   const check = await checkLoadedSae(model, loaded, corpus, { hook, measured });  // check.line: string | null
 *   const { loaded, check } = await loadSaeChecked(folder, factories, model, corpus);  // the loader + check
 *   const check = checkOnRows(loaded, measured, store.hook, x, rows);  // stored activations, no model
 *
 * `measured` (e.g. evaluateSae's own l0 and explained_variance) skips the quick measurement
 * (default `quickTokens` = 4096 tokens); the diagnosis uses `diagnoseTokens` (default 256) tokens
 * with every candidate hook captured in one forward.
 */
import type { Backend } from "../core/backend.ts";
import { UsageError } from "../core/errors.ts";
import { packDocuments } from "../data/packing.ts";
import type { Corpus } from "../data/spec.ts";
import { specialIds } from "../harvest/activations.ts";
import type { ContextTokenizer } from "../harvest/contexts.ts";
import type { SaelensConfig } from "../io/saelens.ts";
import { HOOK_KINDS, hookName, parseHookName } from "../lm/hooks.ts";
import type { LanguageModel } from "../lm/model.ts";
import { type LoadedSae, loadSae } from "../sae/load.ts";
import type { SaeArch, SaeFactory, SaeModule } from "../sae/types.ts";
import { evaluateSae } from "./evaluate.ts";
import { ReconAccumulator } from "./recon.ts";
import { SaeRows } from "./sae-rows.ts";

export const EV_TOLERANCE = 0.1;
export const L0_TOLERANCE = 0.25;

export interface Figures {
  l0: number;
  explained_variance: number;
}

export type CheckCause = "hook" | "normalization" | "architecture";

export interface CheckResult {
  /** Training-time figures from cfg.json metadata, or null when it records none (nothing checked). */
  trained: Figures | null;
  measured: Figures | null;
  agree: boolean;
  cause: CheckCause | null;
  /** The one plain line to print, or null when the figures agree or were not recorded. */
  line: string | null;
}

export interface CheckOptions {
  /** Hook measured (default metadata.hook_name). */
  hook?: string;
  /** Figures already measured on this model, data and hook (skips the quick measurement). */
  measured?: Figures;
  quickTokens?: number;
  diagnoseTokens?: number;
  /** Context length (default metadata.context_size, else 128, at most the model's). */
  contextSize?: number;
  /** Name of the folder in the line (default "the SAE"). */
  name?: string;
}

/** The training-time figures a cfg records, or null. */
export function trainingFigures(cfg: SaelensConfig): Figures | null {
  const { l0, explained_variance: ev } = cfg.metadata;
  if (typeof l0 !== "number" || typeof ev !== "number" || !Number.isFinite(l0) || !Number.isFinite(ev)) return null;
  return { l0, explained_variance: ev };
}

/** Whether measured figures agree with the training ones (tolerances in the header). */
export function figuresAgree(trained: Figures, measured: Figures): boolean {
  const ev = Math.abs(measured.explained_variance - trained.explained_variance) <= EV_TOLERANCE;
  const l0 = Math.abs(measured.l0 - trained.l0) <= L0_TOLERANCE * Math.max(trained.l0, 1e-12);
  return ev && l0;
}

/** A distance for picking the best-matching alternative: each tolerance counts 1. */
function distance(trained: Figures, m: Figures): number {
  const ev = Math.abs(m.explained_variance - trained.explained_variance) / EV_TOLERANCE;
  const l0 = Math.abs(m.l0 - trained.l0) / (L0_TOLERANCE * Math.max(trained.l0, 1e-12));
  return Math.max(ev, Number.isFinite(l0) ? l0 : Number.POSITIVE_INFINITY);
}

const fmt = (f: Figures) => `EV ${f.explained_variance.toFixed(3)}, L0 ${f.l0.toPrecision(4)}`;

/** The hook to measure: the option, else metadata.hook_name (a UsageError when neither is there). */
export function hookOf(loaded: LoadedSae<Float32Array | Float64Array>, hook?: string): string {
  const h = hook ?? loaded.cfg.metadata.hook_name;
  if (typeof h !== "string" || h === "")
    throw new UsageError(
      "the SAE folder's cfg.json has no metadata.hook_name: pass the hook (--hook blocks.L.hook_resid_post)",
    );
  return h;
}

/** Candidate hooks: the same block's other kinds, then the same kind in blocks L +- 1, L +- 2, ..., then the rest. */
function candidateHooks(used: string, nLayers: number): string[] {
  const { layer, kind } = parseHookName(used, nLayers);
  const out: string[] = [];
  const push = (h: string) => {
    if (h !== used && !out.includes(h)) out.push(h);
  };
  for (const k of HOOK_KINDS) push(hookName(layer, k));
  for (let delta = 1; delta < nLayers; delta++)
    for (const l of [layer - delta, layer + delta]) if (l >= 0 && l < nLayers) push(hookName(l, kind));
  for (let l = 0; l < nLayers; l++) for (const k of HOOK_KINDS) push(hookName(l, k));
  return out;
}

/** Non-special rows of each hook over the first contexts of the corpus (about `tokens` rows). */
async function captureRows(
  model: LanguageModel,
  corpus: Corpus,
  hooks: string[],
  tokens: number,
  contextSize: number,
): Promise<{ rows: number; acts: Map<string, Float32Array> }> {
  const tok = model.tokenizer as unknown as ContextTokenizer;
  const n = Math.max(1, Math.ceil(tokens / contextSize));
  const ctxs: Int32Array[] = [];
  for await (const c of packDocuments(corpus.documents(), tok, { contextSize })) {
    ctxs.push(c);
    if (ctxs.length === n) break;
  }
  if (ctxs.length === 0) throw new UsageError(`data ${corpus.spec} holds fewer than ${contextSize} tokens`);
  const ids = new Int32Array(ctxs.length * contextSize);
  ctxs.forEach((c, i) => {
    ids.set(c, i * contextSize);
  });
  const excluded = new Set(specialIds(model));
  const keep: number[] = [];
  for (let r = 0; r < ids.length; r++) if (!excluded.has(ids[r])) keep.push(r);
  const { cache } = model.run(ids, { batch: ctxs.length, capture: hooks, logits: false });
  const d = model.dims.dModel;
  const acts = new Map<string, Float32Array>();
  for (const h of hooks) {
    const src = cache[h].data;
    const out = new Float32Array(keep.length * d);
    keep.forEach((r, i) => {
      out.set(src.subarray(r * d, (r + 1) * d), i * d);
    });
    acts.set(h, out);
  }
  return { rows: keep.length, acts };
}

function measureRows(sae: SaeModule, scale: number, x: Float32Array, rows: number): Figures {
  const runner = new SaeRows(sae, scale, rows);
  const acc = new ReconAccumulator(sae.hyper.d, sae.hyper.m);
  const { codes, xhat } = runner.run(x, rows);
  acc.add(x, xhat, codes, rows);
  const r = acc.result();
  return { l0: r.l0, explained_variance: r.explained_variance };
}

/** E||x_in||^2 the SAE module was trained at (see the header). */
function trainedInputNorm(cfg: SaelensConfig, d: number): number {
  const folded = cfg.metadata.msae_folded_scaling_factor;
  if (typeof folded === "number" && folded > 0 && cfg.metadata.activation_norm_scaling_factor === undefined)
    return d / (folded * folded);
  return d;
}

/** The loaded-SAE check (see the header). */
export async function checkLoadedSae(
  model: LanguageModel,
  loaded: LoadedSae<Float32Array | Float64Array>,
  corpus: Corpus,
  options: CheckOptions = {},
): Promise<CheckResult> {
  const trained = trainingFigures(loaded.cfg);
  if (!trained) return { trained: null, measured: null, agree: true, cause: null, line: null };
  const hook = hookOf(loaded, options.hook);
  const fromCfg = loaded.cfg.metadata.context_size;
  const C = options.contextSize ?? Math.min(typeof fromCfg === "number" ? fromCfg : 128, model.dims.contextLength);
  let measured: Figures;
  if (options.measured) measured = options.measured;
  else {
    const r = await evaluateSae(model, loaded.sae, corpus, {
      hook,
      scale: loaded.scale,
      tokens: options.quickTokens ?? 4096,
      contextSize: C,
      spliced: false,
    });
    measured = { l0: r.metrics.l0, explained_variance: r.metrics.explained_variance };
  }
  if (figuresAgree(trained, measured)) return { trained, measured, agree: true, cause: null, line: null };

  const nLayers = model.dims.nLayers;
  const candidates = candidateHooks(hook, nLayers);
  const { rows, acts } = await captureRows(model, corpus, [hook, ...candidates], options.diagnoseTokens ?? 256, C);
  return diagnose(loaded, trained, measured, hook, acts, rows, options.name ?? "the SAE");
}

/**
 * Names the likely cause of a disagreement (steps 1-4 of the header) from rows of the measured
 * hook and of any other hooks available: acts maps hook -> rows [rows, d] (model units).
 */
export function diagnose(
  loaded: LoadedSae<Float32Array | Float64Array>,
  trained: Figures,
  measured: Figures,
  hook: string,
  acts: ReadonlyMap<string, Float32Array>,
  rows: number,
  name: string,
): CheckResult {
  const head = `loaded-SAE check: ${name} was trained at ${fmt(trained)} but measures ${fmt(measured)} on ${hook}`;
  const { sae, scale, cfg } = loaded;
  const metaHook = typeof cfg.metadata.hook_name === "string" ? cfg.metadata.hook_name : null;
  const result = (cause: CheckCause, why: string): CheckResult => ({
    trained,
    measured,
    agree: false,
    cause,
    line: `${head}: likely cause: ${cause}: ${why}`,
  });
  // 1. the recorded hook
  if (metaHook !== null && metaHook !== hook) {
    const there = acts.get(metaHook);
    if (!there) return result("hook", `it was trained on ${metaHook}; evaluate it on that hook's activations`);
    const f = measureRows(sae, scale, there, rows);
    if (figuresAgree(trained, f))
      return result("hook", `it was trained on ${metaHook}, where it measures ${fmt(f)}; evaluate it there`);
  }
  // 2. normalization
  const x = acts.get(hook);
  if (!x) throw new Error(`diagnose: no rows of ${hook}`);
  let norm = 0;
  for (let i = 0; i < rows * sae.hyper.d; i++) norm += x[i] * x[i];
  norm /= Math.max(1, rows);
  const target = trainedInputNorm(cfg, sae.hyper.d);
  const given = norm * scale * scale;
  const fitted = Math.sqrt(target / norm);
  const factor = Math.sqrt(given / target);
  if (Number.isFinite(fitted) && fitted > 0) {
    const f = measureRows(sae, fitted, x, rows);
    if (figuresAgree(trained, f))
      return result(
        "normalization",
        `its inputs here are ${factor.toPrecision(3)} times the norm it was trained at (E||x_in||^2 = ${given.toPrecision(4)}, trained ${target.toPrecision(4)}); rescaled it measures ${fmt(f)}: check activation_norm_scaling_factor / normalize_activations`,
      );
  }
  // 3. another hook
  let best: { hook: string; f: Figures; dist: number } | null = null;
  for (const [h, a] of acts) {
    if (h === hook || h === metaHook) continue;
    const f = measureRows(sae, scale, a, rows);
    const dist = distance(trained, f);
    if (figuresAgree(trained, f) && (!best || dist < best.dist)) best = { hook: h, f, dist };
  }
  if (best)
    return result(
      "hook",
      `it measures ${fmt(best.f)} on ${best.hook}${metaHook ? ` (cfg.json says ${metaHook})` : ""}; evaluate it there`,
    );
  // 4. architecture
  const arch = cfg.metadata.msae_architecture ?? cfg.architecture;
  const others = acts.size > 1 ? "neither another hook nor a rescaling" : "no rescaling";
  return result(
    "architecture",
    `${others} of the inputs (factor ${factor.toPrecision(3)}) explains it; cfg.json architecture "${cfg.architecture}" runs here as msae arch ${sae.arch}${arch !== sae.arch ? ` (trained as ${arch})` : ""}: check the architecture and its settings (k, threshold, apply_b_dec_to_input)`,
  );
}

/**
 * The check on stored activations (no model): measured figures of rows of `hook` (e.g. a store's),
 * with the first `rows` rows x [rows, d] for the diagnosis (steps 1, 2 and 4 of the header).
 */
export function checkOnRows(
  loaded: LoadedSae<Float32Array | Float64Array>,
  measured: Figures,
  hook: string,
  x: Float32Array,
  rows: number,
  name = "the SAE",
): CheckResult {
  const trained = trainingFigures(loaded.cfg);
  if (!trained) return { trained: null, measured, agree: true, cause: null, line: null };
  if (figuresAgree(trained, measured)) return { trained, measured, agree: true, cause: null, line: null };
  return diagnose(loaded, trained, measured, hook, new Map([[hook, x]]), rows, name);
}

/** The loader with the check: loadSae, then checkLoadedSae on the model and data (one line when they disagree). */
export async function loadSaeChecked(
  folder: string,
  factories: Partial<Record<SaeArch, SaeFactory>>,
  model: LanguageModel,
  corpus: Corpus,
  options: CheckOptions & { backend?: Backend; arrayType?: "f32" | "f64" } = {},
): Promise<{ loaded: LoadedSae<Float32Array | Float64Array>; check: CheckResult }> {
  const loaded = loadSae<Float32Array | Float64Array>(folder, factories, options.backend ?? model.backend, {
    arrayType: options.arrayType ?? "f32",
  });
  const check = await checkLoadedSae(model, loaded, corpus, { name: folder, ...options });
  return { loaded, check };
}
