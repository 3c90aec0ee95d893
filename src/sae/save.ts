/**
 * Saving an SAE as an SAELens v6 folder (DESIGN.md s.4): cfg.json, sae_weights.safetensors
 * (every parameter and every `inWeights` buffer under its DESIGN.md s.2 tensor name, F32 for a
 * float32 module, F64 for a float64 one) and, when given, sparsity.safetensors (`sparsity` [d_sae],
 * log10 feature density).
 *
 * SAELens names: `architecture` is the SAELens class that runs the standard part (base, relu and
 * the normalized paper archs "standard"; topk "topk"; batchtopk and matryoshka "jumprelu" with
 * their `threshold`, as SAELens saves them; jumprelu "jumprelu"; gated "gated"); ours goes in
 * `metadata.msae_architecture`, and `metadata.msae_hyper` holds every SaeHyper field so the folder
 * reloads exactly. SAELens loads the state dict strictly, so it refuses (loudly) the normalized
 * archs' extra tensors rather than running them wrong.
 *
 * Dataset scale c (the SAE saw x_in = c x): archs that subtract b_dec from the input fold it into
 * the saved weights as SAELens's fold_activation_norm_scaling_factor does (W_enc c, W_dec / c,
 * b_dec / c; every pre-activation, hence every threshold, is unchanged), so the folder runs on raw
 * activations; the normalized archs cannot fold it and record it as
 * `metadata.activation_norm_scaling_factor` (callers multiply inputs by it, divide outputs by it).
 *
 * The folder is written as a whole: into a temp folder beside it, fsynced, then renamed into place
 * (an existing folder is first renamed aside and removed after); a reader never sees a mix.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { FloatArray } from "../core/backend.ts";
import { msaeVersion } from "../core/paths.ts";
import { fsyncDirSync } from "../io/atomic.ts";
import {
  SAELENS_CFG_FILE,
  SAELENS_SPARSITY_FILE,
  SAELENS_WEIGHTS_FILE,
  type SaelensMetadata,
  writeSaelensConfig,
} from "../io/saelens.ts";
import type { TensorToWrite } from "../io/safetensors-write.ts";
import { writeSafetensorsSync } from "../io/safetensors-write.ts";
import { NORMALIZED_ARCHS, type SaeArch, type SaeModule } from "./types.ts";

export { NORMALIZED_ARCHS } from "./types.ts";

export const SAELENS_ARCHITECTURE: Record<SaeArch, string> = {
  base: "standard",
  layernorm: "standard",
  adaptive: "standard",
  attention: "standard",
  multiscale: "standard",
  relu: "standard",
  topk: "topk",
  batchtopk: "jumprelu",
  jumprelu: "jumprelu",
  gated: "gated",
  matryoshka: "jumprelu",
};

/** Where the SAE came from and how it did (metadata; all optional). */
export interface SaeRunInfo {
  model_name?: string;
  hook_name?: string;
  hook_head_index?: number | null;
  context_size?: number;
  prepend_bos?: boolean;
  seqpos_slice?: unknown;
  dataset_path?: string;
  l0?: number;
  explained_variance?: number;
  dead_count?: number;
  [key: string]: unknown;
}

export interface SaveSaeOptions {
  info?: SaeRunInfo;
  /** Dataset constant c the SAE's inputs were multiplied by (default 1). */
  scale?: number;
  /** [m] log10 feature density; sparsity.safetensors is written only when given. */
  sparsity?: FloatArray;
}

function tensorOf(data: FloatArray, shape: readonly number[]): TensorToWrite {
  return data instanceof Float64Array ? { dtype: "F64", shape, data } : { dtype: "F32", shape, data };
}

/** The tensors of sae_weights.safetensors (copies where the scale is folded in). */
export function weightTensors(sae: SaeModule, scale = 1): Map<string, TensorToWrite> {
  const fold = scale !== 1 && !NORMALIZED_ARCHS.includes(sae.arch);
  const out = new Map<string, TensorToWrite>();
  for (const [name, { param }] of sae.params) {
    let data: FloatArray = param.data;
    if (fold && (name === "W_enc" || name === "W_dec" || name === "b_dec")) {
      const f = name === "W_enc" ? scale : 1 / scale;
      data = data.map((v) => v * f) as FloatArray;
    }
    out.set(name, tensorOf(data, param.shape));
  }
  for (const [name, b] of sae.buffers) if (b.inWeights) out.set(name, tensorOf(b.data, b.shape));
  return out;
}

/** The cfg.json fields (v6) of a module. */
export function saeConfigFields(sae: SaeModule, options: SaveSaeOptions = {}) {
  const { hyper } = sae;
  const scale = options.scale ?? 1;
  if (!Number.isFinite(scale) || scale <= 0) throw new RangeError(`scale ${scale}: expected a finite number > 0`);
  const normalized = NORMALIZED_ARCHS.includes(sae.arch);
  const info = options.info ?? {};
  const metadata: SaelensMetadata = {
    ...info,
    msae_version: msaeVersion,
    msae_architecture: sae.arch,
    reconstruct: hyper.reconstruct,
    msae_hyper: { ...hyper, matryoshkaFractions: [...hyper.matryoshkaFractions] },
  };
  if (normalized) metadata.activation_norm_scaling_factor = scale;
  else if (scale !== 1) metadata.msae_folded_scaling_factor = scale;
  const extra: Record<string, unknown> = {};
  if (sae.arch === "topk") Object.assign(extra, { k: hyper.k, rescale_acts_by_decoder_norm: false });
  const f64 = sae.params.get("W_dec")?.param.data instanceof Float64Array;
  return {
    architecture: SAELENS_ARCHITECTURE[sae.arch],
    d_in: hyper.d,
    d_sae: hyper.m,
    dtype: f64 ? "float64" : "float32",
    device: "cpu",
    apply_b_dec_to_input: !normalized,
    normalize_activations: "none" as const,
    reshape_activations: (String(info.hook_name ?? "").includes("hook_z") ? "hook_z" : "none") as "none" | "hook_z",
    extra,
    metadata,
  };
}

/** Writes `folder` (created or replaced as a whole, see the header). */
export function saveSae(folder: string, sae: SaeModule, options: SaveSaeOptions = {}): void {
  const target = resolve(folder);
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  const tag = `${process.pid}-${randomBytes(6).toString("hex")}`;
  const tmp = join(parent, `.${basename(target)}.tmp-${tag}`);
  const cfg = saeConfigFields(sae, options);
  if (options.sparsity && options.sparsity.length !== sae.hyper.m)
    throw new RangeError(`sparsity has ${options.sparsity.length} values; expected d_sae = ${sae.hyper.m}`);
  mkdirSync(tmp);
  try {
    writeSafetensorsSync(join(tmp, SAELENS_WEIGHTS_FILE), weightTensors(sae, options.scale ?? 1));
    if (options.sparsity)
      writeSafetensorsSync(join(tmp, SAELENS_SPARSITY_FILE), {
        sparsity: { dtype: "F32", shape: [sae.hyper.m], data: Float32Array.from(options.sparsity) },
      });
    writeSaelensConfig(join(tmp, SAELENS_CFG_FILE), cfg);
    fsyncDirSync(tmp);
    if (existsSync(target)) {
      const old = join(parent, `.${basename(target)}.old-${tag}`);
      renameSync(target, old);
      renameSync(tmp, target);
      rmSync(old, { recursive: true, force: true });
    } else renameSync(tmp, target);
    fsyncDirSync(parent);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
