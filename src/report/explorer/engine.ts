/**
 * The live explorer's engine: text -> tokens -> the model up to the SAE's hook -> SAE codes, on
 * the pure-TypeScript `ref` backend, from bytes (no file system), so the same code runs in the
 * browser bundle (browser.ts) and in Node.
 *
 *   ids   = [BOS if the SAE was trained with prepend_bos] ++ tokenizer.encode(text), cut to the context
 *   a     = model.run(ids, capture: hook, stop after it)      a [T, d]
 *   codes = SAE.forward(c a)                                   codes [T, m]   (c: the SAE's input scale)
 *
 * The model stops at the hook's block (no logits), so the cost is that of the blocks up to it.
 */
import type { Backend } from "../../core/backend.ts";
import { parseSaelensConfig } from "../../io/saelens-config.ts";
import { SafetensorsBuffer } from "../../io/safetensors-buffer.ts";
import { buildModel } from "../../lm/build.ts";
import type { RawConfig } from "../../lm/config-fields.ts";
import type { LanguageModel } from "../../lm/model.ts";
import { BASELINE_FACTORIES } from "../../sae/baselines/index.ts";
import { type LoadedSae, loadSaeFromParts } from "../../sae/load-parts.ts";
import { PAPER_FACTORIES } from "../../sae/paper/index.ts";
import { tokenizerFromJson } from "../../tokenizer/from-json.ts";
import type { LoadedTokenizer } from "../../tokenizer/load.ts";
import type { TokenizerJson } from "../../tokenizer/tokenizer-json.ts";

/** Everything the engine needs, as fetched: JSON already parsed, safetensors as bytes. */
export interface ExplorerParts {
  modelConfig: RawConfig;
  modelWeights: ArrayBuffer | Uint8Array;
  tokenizerJson: TokenizerJson;
  /** tokenizer_config.json fields, or {} when the model folder has none. */
  tokenizerConfig: Record<string, unknown>;
  saeCfg: unknown;
  saeWeights: ArrayBuffer | Uint8Array;
  /** Names used in error messages (URLs or paths). */
  names: { model: string; sae: string };
}

export interface Exploration {
  /** [T] token ids (BOS first when prepended). */
  ids: Int32Array;
  /** [T] each token's text as the tokenizer decodes it alone. */
  tokens: string[];
  /** [T, m] SAE codes, row t = token t. */
  codes: Float32Array;
  /** Dictionary size m. */
  m: number;
  /** True when the text was cut to the model's context. */
  truncated: boolean;
}

export class ExplorerEngine {
  readonly model: LanguageModel;
  readonly tokenizer: LoadedTokenizer;
  readonly sae: LoadedSae<Float32Array>;
  readonly hook: string;
  readonly prependBos: boolean;

  constructor(parts: ExplorerParts, backend: Backend) {
    const { names } = parts;
    this.tokenizer = tokenizerFromJson(parts.tokenizerJson, parts.tokenizerConfig, `${names.model}/tokenizer.json`);
    const weights = SafetensorsBuffer.from(`${names.model}/model.safetensors`, parts.modelWeights);
    this.model = buildModel(
      parts.modelConfig,
      `${names.model}/config.json`,
      weights,
      this.tokenizer,
      backend,
      names.model,
    );
    const cfgPath = `${names.sae}/cfg.json`;
    const cfg = parseSaelensConfig(parts.saeCfg, cfgPath);
    const saeFile = SafetensorsBuffer.from(`${names.sae}/sae_weights.safetensors`, parts.saeWeights);
    const factories = { ...PAPER_FACTORIES, ...BASELINE_FACTORIES };
    this.sae = loadSaeFromParts<Float32Array>(cfg, cfgPath, saeFile, null, factories, backend, { arrayType: "f32" });
    const hook = cfg.metadata.hook_name;
    if (typeof hook !== "string")
      throw new Error(`${cfgPath}: metadata.hook_name is missing; expected the hook the SAE was trained on`);
    if (!this.model.hookNames().includes(hook))
      throw new Error(`${cfgPath}: hook ${JSON.stringify(hook)} is not a hook of ${names.model}`);
    if (cfg.d_in !== this.model.dims.dModel)
      throw new Error(`${cfgPath}: d_in ${cfg.d_in} but the model's d_model is ${this.model.dims.dModel}`);
    this.hook = hook;
    this.prependBos = cfg.metadata.prepend_bos !== false && this.model.info.bosId !== null;
  }

  /** Dictionary size m. */
  get features(): number {
    return this.sae.sae.hyper.m;
  }

  /** Runs the text (see the header). Empty text with no BOS gives T = 0. */
  explore(text: string): Exploration {
    const enc = this.tokenizer.encode(text);
    const bos = this.prependBos ? [this.model.info.bosId as number] : [];
    const ctx = this.model.dims.contextLength;
    const all = [...bos, ...enc];
    const truncated = all.length > ctx;
    const ids = Int32Array.from(all.slice(0, ctx));
    const m = this.features;
    const T = ids.length;
    if (T === 0) return { ids, tokens: [], codes: new Float32Array(0), m, truncated };
    const { cache } = this.model.run([ids], { capture: [this.hook], logits: false });
    const act = cache[this.hook].data; // [T, d]
    const x = new Float32Array(act.length);
    const c = this.sae.scale;
    for (let i = 0; i < act.length; i++) x[i] = act[i] * c;
    const codes = new Float32Array(T * m);
    const recon = new Float32Array(act.length);
    this.sae.sae.forward(x, T, codes, recon);
    const tokens = Array.from(ids, (id) => this.tokenizer.decode([id]));
    return { ids, tokens, codes, m, truncated };
  }
}
