/**
 * Architecture registry: config.json -> the architecture that runs it. One folder per
 * architecture under src/lm/ (config map, weight map, forward). `model_type` decides; when it is
 * absent or unknown, the transformers class names in `architectures` do. A model_type whose
 * architectures list names a class of ANOTHER supported architecture is refused (one of the two is
 * wrong, and the weights would be read with the wrong map).
 */
import type { Backend } from "../core/backend.ts";
import type { RawConfig } from "./config-fields.ts";
import { type Gemma2Config, gemma2Dims, parseGemma2Config } from "./gemma2/config.ts";
import { Gemma2Model } from "./gemma2/forward.ts";
import { GEMMA2_PREFIXES, gemma2WeightSpecs, gemma2Weights } from "./gemma2/weights.ts";
import { type Gpt2Config, gpt2Dims, parseGpt2Config } from "./gpt2/config.ts";
import { Gpt2Model } from "./gpt2/forward.ts";
import { GPT2_PREFIXES, gpt2WeightSpecs, gpt2Weights } from "./gpt2/weights.ts";
import type { ArchModel, ModelDims } from "./model.ts";
import type { WeightSpec } from "./weights.ts";

export interface Architecture<C = unknown> {
  /** Registry name. */
  name: string;
  /** config.json model_type values. */
  modelTypes: readonly string[];
  /** config.json architectures values (transformers class names). */
  hfClasses: readonly string[];
  /** Stored-name prefixes tried in order for each canonical weight name. */
  prefixes: readonly string[];
  /** Stored names that are not weights (buffers) and are ignored. */
  ignored: RegExp | null;
  parseConfig(raw: RawConfig, where: string): C;
  dims(cfg: C): ModelDims;
  weightSpecs(cfg: C): WeightSpec[];
  build(cfg: C, weights: ReadonlyMap<string, Float32Array>, backend: Backend): ArchModel;
  specialIds(cfg: C): { bos: number | null; eos: number | null; pad: number | null };
  /** Architecture-specific facts for `msae inspect`: [label, value] rows. */
  summary(cfg: C): [string, string][];
}

/** "0, 2, 4" or "none". */
function layerList(layers: number[]): string {
  return layers.length ? layers.join(", ") : "none";
}

function define<C>(a: Architecture<C>): Architecture {
  return a as unknown as Architecture;
}

export const ARCHITECTURES: readonly Architecture[] = [
  define<Gemma2Config>({
    name: "gemma2",
    modelTypes: ["gemma2"],
    hfClasses: ["Gemma2ForCausalLM", "Gemma2Model"],
    prefixes: GEMMA2_PREFIXES,
    ignored: null,
    parseConfig: parseGemma2Config,
    dims: gemma2Dims,
    weightSpecs: gemma2WeightSpecs,
    build: (cfg, w, be) => new Gemma2Model(cfg, gemma2Weights(cfg, w), be),
    specialIds: (cfg) => ({ bos: cfg.bosId, eos: cfg.eosId, pad: cfg.padId }),
    summary: (cfg) => {
      const sliding = cfg.layerSliding.flatMap((s, i) => (s ? [i] : []));
      const global = cfg.layerSliding.flatMap((s, i) => (s ? [] : [i]));
      return [
        [
          "sliding-window layers",
          `${layerList(sliding)} (window ${cfg.slidingWindow}: key j visible when i - j < window)`,
        ],
        ["global layers", layerList(global)],
        ["attention scale", `query_pre_attn_scalar^-0.5 = ${cfg.queryPreAttnScalar}^-0.5`],
        ["soft-capping", `attention ${cfg.attnSoftcap ?? "off"}, final logits ${cfg.finalSoftcap ?? "off"}`],
        ["rope theta", String(cfg.ropeTheta)],
        ["norms", `RMSNorm (1 + w), eps ${cfg.rmsNormEps}, pre and post attention / MLP`],
        ["embeddings", `scaled by sqrt(${cfg.hiddenSize}), ${cfg.tieEmbeddings ? "tied" : "untied"} unembedding`],
      ];
    },
  }),
  define<Gpt2Config>({
    name: "gpt2",
    modelTypes: ["gpt2"],
    hfClasses: ["GPT2LMHeadModel", "GPT2Model"],
    prefixes: GPT2_PREFIXES,
    ignored: /(^|\.)attn\.(bias|masked_bias)$/,
    parseConfig: parseGpt2Config,
    dims: gpt2Dims,
    weightSpecs: gpt2WeightSpecs,
    build: (cfg, w, be) => new Gpt2Model(cfg, gpt2Weights(cfg, w), be),
    specialIds: (cfg) => ({ bos: cfg.bosId, eos: cfg.eosId, pad: null }),
    summary: (cfg) => [
      ["norms", `LayerNorm, eps ${cfg.layerNormEps}`],
      [
        "attention scale",
        `${cfg.scaleAttnWeights ? "1/sqrt(head_dim)" : "1"}${cfg.scaleAttnByInverseLayerIdx ? " / (layer + 1)" : ""}`,
      ],
      ["embeddings", `learned positions (${cfg.nPositions}), ${cfg.tieEmbeddings ? "tied" : "untied"} unembedding`],
    ],
  }),
];

export function supportedArchitectures(): string {
  return ARCHITECTURES.map((a) => `${a.name} (${a.hfClasses[0]})`).join(", ");
}

/** The architecture for a parsed config.json, or a one-line error listing the supported ones. */
export function findArchitecture(raw: RawConfig, where: string): Architecture {
  const modelType = typeof raw.model_type === "string" ? raw.model_type : undefined;
  const classes = Array.isArray(raw.architectures) ? raw.architectures.filter((x) => typeof x === "string") : [];
  const byType = modelType ? ARCHITECTURES.find((a) => a.modelTypes.includes(modelType)) : undefined;
  if (byType) {
    const other = classes.find((c) => ARCHITECTURES.some((a) => a !== byType && a.hfClasses.includes(c as string)));
    if (other !== undefined)
      throw new Error(
        `${where}: model_type ${JSON.stringify(modelType)} contradicts architectures ${JSON.stringify(classes)} (${other} is another architecture); expected a class of ${byType.name}, e.g. ${byType.hfClasses[0]}`,
      );
    return byType;
  }
  const byClass = ARCHITECTURES.find((a) => classes.some((c) => a.hfClasses.includes(c as string)));
  if (byClass) return byClass;
  const what = [
    modelType !== undefined ? `model_type ${JSON.stringify(modelType)}` : "no model_type",
    classes.length ? `architectures ${JSON.stringify(classes)}` : "",
  ]
    .filter(Boolean)
    .join(", ");
  throw new Error(`${where}: unsupported architecture (${what}); supported: ${supportedArchitectures()}`);
}
