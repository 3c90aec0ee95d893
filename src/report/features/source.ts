/**
 * Where `msae features` reads activations: an activation store (its model is the store's own
 * model folder unless another is given, checked by content hash against the manifest), or the
 * model streamed over a corpus (ModelChunkSource; the features run it twice, once per pass).
 * Checks that the SAE and the activations agree on the hook and d.
 */
import type { Backend } from "../../core/backend.ts";
import { UsageError } from "../../core/errors.ts";
import { openCorpora } from "../../data/spec.ts";
import { specialIds } from "../../harvest/activations.ts";
import { ModelChunkSource } from "../../harvest/buffer.ts";
import type { ContextTokenizer } from "../../harvest/contexts.ts";
import { modelContentHash } from "../../harvest/identity.ts";
import { type ChunkSource, openStore } from "../../harvest/store.ts";
import { loadModel } from "../../lm/loader.ts";
import type { LanguageModel } from "../../lm/model.ts";

export interface FeatureSourceRequest {
  acts?: string;
  model?: string;
  data?: string[];
  /** The SAE's hook (cfg metadata.hook_name) and d_in. */
  saeHook: string | null;
  saeD: number;
  /** --hook: required with --model when the SAE names none. */
  hook?: string;
  tokens?: number;
  /** Context length for --model (default: the SAE's context_size, else 128). */
  context?: number;
  saeContext: number | null;
  llmBatch: number;
  backend: Backend;
}

export interface FeatureSource {
  source: ChunkSource;
  hookIndex: number;
  hook: string;
  contexts: number;
  contextSize: number;
  model: LanguageModel;
  facts: Record<string, unknown>;
}

export function openFeatureSource(r: FeatureSourceRequest): FeatureSource {
  if ((r.acts === undefined) === (r.data === undefined))
    throw new UsageError("give the activations either as --acts <store folder> or as --model <dir> --data <spec>");
  if (r.acts !== undefined) {
    const store = openStore(r.acts);
    const m = store.manifest;
    if (r.saeHook && r.saeHook !== m.hook)
      throw new Error(`the SAE was trained on ${r.saeHook} but the store ${store.dir} holds ${m.hook}`);
    if (r.hook && r.hook !== m.hook)
      throw new UsageError(`--hook ${r.hook} but the store ${store.dir} holds ${m.hook}`);
    if (m.d !== r.saeD) throw new Error(`the store ${store.dir} has d = ${m.d} but the SAE expects d_in = ${r.saeD}`);
    const modelDir = r.model ?? m.model_path;
    const hash = modelContentHash(modelDir);
    if (hash !== m.model.content_sha256)
      throw new Error(
        `the model folder ${modelDir} is not the one ${store.dir} was harvested with (content sha256 ${hash.slice(0, 12)}... vs ${m.model.content_sha256.slice(0, 12)}...): pass --model <that folder>`,
      );
    const model = loadModel(modelDir, { backend: r.backend });
    const C = m.context_size;
    const contexts = r.tokens === undefined ? m.contexts_total : Math.min(m.contexts_total, Math.ceil(r.tokens / C));
    return {
      source: store,
      hookIndex: 0,
      hook: m.hook,
      contexts,
      contextSize: C,
      model,
      facts: { acts: store.dir, model: modelDir, hook: m.hook, data: m.corpus, context_size: C },
    };
  }
  const modelDir = r.model;
  if (!modelDir) throw new UsageError("--data needs --model <dir> (the model to run over it)");
  const hook = r.hook ?? r.saeHook;
  if (!hook) throw new UsageError("the SAE's cfg.json names no hook_name: give --hook");
  if (r.hook && r.saeHook && r.hook !== r.saeHook)
    throw new Error(`--hook ${r.hook} but the SAE was trained on ${r.saeHook}`);
  let corpus: ReturnType<typeof openCorpora>;
  try {
    corpus = openCorpora(r.data ?? []);
  } catch (e) {
    throw new UsageError(`--data: ${(e as Error).message}`);
  }
  const model = loadModel(modelDir, { backend: r.backend });
  if (!model.hookNames().includes(hook))
    throw new UsageError(`--hook ${hook} is not a hook of ${modelDir} (e.g. blocks.0.hook_resid_post)`);
  if (model.dims.dModel !== r.saeD)
    throw new Error(`the model ${modelDir} has d_model = ${model.dims.dModel} but the SAE expects d_in = ${r.saeD}`);
  const C = r.context ?? r.saeContext ?? Math.min(128, model.dims.contextLength);
  const contexts = Math.ceil((r.tokens ?? 100_000) / C);
  const tok = model.tokenizer as unknown as ContextTokenizer;
  const source = new ModelChunkSource(model, tok, corpus, {
    hooks: [hook],
    contexts,
    contextSize: C,
    llmBatch: r.llmBatch,
    excludedIds: specialIds(model),
  });
  return {
    source,
    hookIndex: 0,
    hook,
    contexts,
    contextSize: C,
    model,
    facts: { model: modelDir, hook, data: r.data, context_size: C },
  };
}
