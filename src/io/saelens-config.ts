/**
 * SAELens cfg.json (DESIGN.md s.4), read in both layouts and written in v6's:
 *
 * - v6 (SAELens >= 6.0): top level holds what running the SAE needs (`architecture`, `d_in`,
 *   `d_sae`, `dtype`, `device`, `apply_b_dec_to_input`, `normalize_activations`,
 *   `reshape_activations`, per-architecture fields such as `k`); `metadata` says where it came from
 *   (`model_name`, `hook_name`, `hook_head_index`, `context_size`, `prepend_bos`, `seqpos_slice`,
 *   `dataset_path`, `sae_lens_version`, ... and ours: `msae_version`, `msae_architecture`,
 *   `activation_norm_scaling_factor`, `reconstruct`, `l0`, `explained_variance`, `dead_count`).
 * - v5 and earlier: one flat object. Converted as SAELens's handle_pre_6_0_config does:
 *   `hook_point` -> `hook_name`, `hook_point_head_index` -> `hook_head_index`, `activation_fn_str` ->
 *   `activation_fn`; `architecture` defaults to "standard" (then "topk" when `activation_fn` is
 *   "topk" with `activation_fn_kwargs.k`); `apply_b_dec_to_input` defaults to true; a boolean
 *   `normalize_activations` maps true -> "expected_average_only_in", false/null -> "none";
 *   `reshape_activations` is "hook_z" for hook_z hooks; the metadata keys are picked from the top level.
 *
 * The version is decided like SAELens: `sae_lens_version` (top level or in `metadata`) >= 6 means
 * v6; a file with a `metadata` object and no version is also read as v6 (SAELens itself would
 * treat it as v5 and lose the nested metadata, so the writer always records a version).
 * This module knows the format only; which msae architecture a cfg means is src/sae/load.ts's job.
 * No file system here (the browser explorer parses fetched cfg.json files); saelens.ts reads and writes.
 */

export const SAELENS_CFG_FILE = "cfg.json";
export const SAELENS_WEIGHTS_FILE = "sae_weights.safetensors";
export const SAELENS_SPARSITY_FILE = "sparsity.safetensors";
/** The SAELens version our files claim to follow (so SAELens reads them as v6). */
export const SAELENS_FORMAT_VERSION = "6.0.0";

export const NORMALIZE_ACTIVATIONS = [
  "none",
  "expected_average_only_in",
  "constant_norm_rescale",
  "layer_norm",
] as const;
export type NormalizeActivations = (typeof NORMALIZE_ACTIVATIONS)[number];

/** SAELens's LLM_METADATA_KEYS: what a v5 flat cfg contributes to v6's `metadata`. */
const V5_METADATA_KEYS = [
  "model_name",
  "hook_name",
  "model_class_name",
  "hook_head_index",
  "model_from_pretrained_kwargs",
  "prepend_bos",
  "exclude_special_tokens",
  "neuronpedia_id",
  "context_size",
  "seqpos_slice",
  "dataset_path",
  "sae_lens_version",
  "sae_lens_training_version",
  "hook_name_out",
  "hook_head_index_out",
];

const DTYPES = ["float32", "float64", "float16", "bfloat16"];

export interface SaelensMetadata {
  model_name?: string | null;
  hook_name?: string | null;
  hook_head_index?: number | null;
  context_size?: number | null;
  prepend_bos?: boolean | null;
  seqpos_slice?: unknown;
  dataset_path?: string | null;
  sae_lens_version?: string | null;
  msae_version?: string;
  msae_architecture?: string;
  activation_norm_scaling_factor?: number;
  reconstruct?: "paper" | "denormalized";
  l0?: number;
  explained_variance?: number;
  dead_count?: number;
  [key: string]: unknown;
}

export interface SaelensConfig {
  /** SAELens architecture name (standard, topk, jumprelu, gated, or another SAELens registers). */
  architecture: string;
  d_in: number;
  d_sae: number;
  /** "float32" | "float64" | "float16" | "bfloat16" ("torch." prefixes are dropped). */
  dtype: string;
  device: string;
  apply_b_dec_to_input: boolean;
  normalize_activations: NormalizeActivations;
  reshape_activations: "none" | "hook_z";
  /** Other top-level fields (k, rescale_acts_by_decoder_norm, ...), as found. */
  extra: Record<string, unknown>;
  metadata: SaelensMetadata;
  /** Layout the file was read in. */
  layout: "v5" | "v6";
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function majorVersion(v: unknown): number | null {
  if (typeof v !== "string") return null;
  const m = /^v?(\d+)/.exec(v.trim());
  return m ? Number(m[1]) : null;
}

function fail(source: string, field: string, value: unknown, expected: string): never {
  const s = JSON.stringify(value);
  throw new Error(`${source}: field "${field}" is ${s === undefined ? "missing" : s}: expected ${expected}`);
}

/** v5 flat -> v6 layout (SAELens's handle_pre_6_0_config). */
function fromV5(raw: Record<string, unknown>): Record<string, unknown> {
  const rename: Record<string, string> = {
    hook_point: "hook_name",
    hook_point_head_index: "hook_head_index",
    activation_fn_str: "activation_fn",
  };
  const cfg: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) cfg[rename[k] ?? k] = v;
  cfg.prepend_bos ??= true;
  cfg.apply_b_dec_to_input ??= true;
  cfg.activation_fn ??= "relu";
  cfg.architecture ??= "standard";
  cfg.reshape_activations ??= String(cfg.hook_name ?? "").includes("hook_z") ? "hook_z" : "none";
  const kwargs = cfg.activation_fn_kwargs;
  if (cfg.activation_fn === "topk" && isObject(kwargs) && kwargs.k != null) {
    cfg.architecture = "topk";
    cfg.k = kwargs.k;
  }
  if (typeof cfg.normalize_activations === "boolean")
    cfg.normalize_activations = cfg.normalize_activations ? "expected_average_only_in" : "none";
  cfg.normalize_activations ??= "none";
  cfg.device ??= "cpu";
  const metadata: Record<string, unknown> = {};
  for (const k of V5_METADATA_KEYS) if (k in cfg) metadata[k] = cfg[k];
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(cfg)) if (!V5_METADATA_KEYS.includes(k)) out[k] = v;
  out.metadata = metadata;
  return out;
}

const TOP_LEVEL = new Set([
  "architecture",
  "d_in",
  "d_sae",
  "dtype",
  "device",
  "apply_b_dec_to_input",
  "normalize_activations",
  "reshape_activations",
  "metadata",
]);

/** A parsed cfg.json object (either layout) -> SaelensConfig; one-line errors name the field. */
export function parseSaelensConfig(raw: unknown, source = SAELENS_CFG_FILE): SaelensConfig {
  if (!isObject(raw))
    throw new Error(`${source}: expected a JSON object, got ${Array.isArray(raw) ? "an array" : typeof raw}`);
  if (raw.metadata !== undefined && !isObject(raw.metadata)) fail(source, "metadata", raw.metadata, "an object");
  const version =
    majorVersion(raw.sae_lens_version) ?? (isObject(raw.metadata) ? majorVersion(raw.metadata.sae_lens_version) : null);
  const v6 = version !== null ? version >= 6 : isObject(raw.metadata);
  const cfg = v6 ? { ...raw } : fromV5(raw);
  const meta = cfg.metadata === undefined ? {} : cfg.metadata;
  if (!isObject(meta)) fail(source, "metadata", meta, "an object");
  if (typeof cfg.architecture !== "string" || cfg.architecture === "")
    fail(
      source,
      "architecture",
      cfg.architecture,
      'an SAELens architecture name such as "standard", "topk", "jumprelu" or "gated"',
    );
  for (const f of ["d_in", "d_sae"])
    if (!Number.isInteger(cfg[f]) || (cfg[f] as number) < 1) fail(source, f, cfg[f], "an integer >= 1");
  const dtype =
    typeof cfg.dtype === "string" ? cfg.dtype.replace(/^torch\./, "") : cfg.dtype === undefined ? "float32" : cfg.dtype;
  if (typeof dtype !== "string" || !DTYPES.includes(dtype))
    fail(source, "dtype", cfg.dtype, `one of ${DTYPES.join(", ")}`);
  const device = cfg.device ?? "cpu";
  if (typeof device !== "string") fail(source, "device", device, 'a string such as "cpu"');
  const applyBDec = cfg.apply_b_dec_to_input ?? true;
  if (typeof applyBDec !== "boolean") fail(source, "apply_b_dec_to_input", applyBDec, "true or false");
  const norm = cfg.normalize_activations ?? "none";
  if (!(NORMALIZE_ACTIVATIONS as readonly unknown[]).includes(norm))
    fail(source, "normalize_activations", norm, `one of ${NORMALIZE_ACTIVATIONS.join(", ")}`);
  const reshape = cfg.reshape_activations ?? "none";
  if (reshape !== "none" && reshape !== "hook_z") fail(source, "reshape_activations", reshape, '"none" or "hook_z"');
  const metadata = { ...meta } as SaelensMetadata;
  const scale = metadata.activation_norm_scaling_factor;
  if (scale !== undefined && (typeof scale !== "number" || !Number.isFinite(scale) || scale <= 0))
    fail(source, "metadata.activation_norm_scaling_factor", scale, "a finite number > 0");
  if (metadata.reconstruct !== undefined && metadata.reconstruct !== "paper" && metadata.reconstruct !== "denormalized")
    fail(source, "metadata.reconstruct", metadata.reconstruct, '"paper" or "denormalized"');
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(cfg)) if (!TOP_LEVEL.has(k)) extra[k] = v;
  if (extra.k !== undefined && (!Number.isInteger(extra.k) || (extra.k as number) < 1))
    fail(source, "k", extra.k, "an integer >= 1");
  return {
    architecture: cfg.architecture as string,
    d_in: cfg.d_in as number,
    d_sae: cfg.d_sae as number,
    dtype,
    device,
    apply_b_dec_to_input: applyBDec,
    normalize_activations: norm as NormalizeActivations,
    reshape_activations: reshape,
    extra,
    metadata,
    layout: v6 ? "v6" : "v5",
  };
}

/** The v6 cfg.json object of a config (SAELens's to_dict layout: run fields, then extras, then metadata). */
export function saelensConfigJson(cfg: Omit<SaelensConfig, "layout">): Record<string, unknown> {
  return {
    architecture: cfg.architecture,
    d_in: cfg.d_in,
    d_sae: cfg.d_sae,
    dtype: cfg.dtype,
    device: cfg.device,
    apply_b_dec_to_input: cfg.apply_b_dec_to_input,
    normalize_activations: cfg.normalize_activations,
    reshape_activations: cfg.reshape_activations,
    ...cfg.extra,
    metadata: { ...cfg.metadata, sae_lens_version: cfg.metadata.sae_lens_version ?? SAELENS_FORMAT_VERSION },
  };
}
