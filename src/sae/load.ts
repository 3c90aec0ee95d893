/**
 * Loading an SAELens folder (ours or anyone's; v5 flat or v6 cfg.json) into an SaeModule.
 *
 * Architecture: `metadata.msae_architecture` when present, else from SAELens's `architecture`:
 * standard -> relu, topk -> topk, jumprelu -> jumprelu, gated -> gated (batchtopk and matryoshka
 * folders saved by SAELens are jumprelu folders and load as jumprelu). Hyperparameters: our
 * `metadata.msae_hyper` when present (validated by the SAE schema), else the schema's defaults with
 * d = d_in, m = d_sae (and `k` for topk).
 *
 * Weights: every parameter and every `inWeights` buffer of the module must be in
 * sae_weights.safetensors with its shape (F32, F64, F16 or BF16); a tensor the module does not
 * know is an error naming it (nothing is silently dropped). SAELens folders with
 * `apply_b_dec_to_input: false` (e.g. Gemma Scope) are converted exactly for our baselines, which
 * always subtract b_dec: pre = x W_enc + b_enc = (x - b_dec) W_enc + (b_enc + b_dec W_enc), so the
 * loader adds b_dec W_enc to b_enc (gated: to b_gate, and b_dec (W_enc o exp(r_mag)) to b_mag).
 * TopK folders with `rescale_acts_by_decoder_norm: true` get the decoder norms folded in (SAELens's
 * _fold_norm_topk; same codes and reconstruction).
 * `normalize_activations` "constant_norm_rescale" and "layer_norm" (run-time normalizations this
 * toolkit does not implement) are refused; "expected_average_only_in" is a no-op at inference.
 *
 * The module is built by the factory map given (src/sae/registry.ts joins the paper archs and the
 * baselines), so this file depends on no variant.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Backend, FloatArray } from "../core/backend.ts";
import { readSaelensConfig, SAELENS_CFG_FILE, SAELENS_SPARSITY_FILE, SAELENS_WEIGHTS_FILE } from "../io/saelens.ts";
import { SafetensorsFile } from "../io/safetensors.ts";
import { type LoadedSae, loadSaeFromParts } from "./load-parts.ts";
import type { SaeArch, SaeFactory } from "./types.ts";

export { archOfConfig, type LoadedSae, loadSaeFromParts } from "./load-parts.ts";

export function loadSae<A extends FloatArray>(
  folder: string,
  factories: Partial<Record<SaeArch, SaeFactory>>,
  backend: Backend,
  options: { arrayType: "f32" | "f64"; allowNonFinite?: boolean },
): LoadedSae<A> {
  const cfgPath = join(folder, SAELENS_CFG_FILE);
  const cfg = readSaelensConfig(cfgPath);
  let sparsity: Float32Array | null = null;
  const sparsityPath = join(folder, SAELENS_SPARSITY_FILE);
  if (existsSync(sparsityPath)) {
    const sf = SafetensorsFile.open(sparsityPath);
    try {
      sparsity = Float32Array.from(sf.readF32("sparsity", { shape: [cfg.d_sae] }));
    } finally {
      sf.close();
    }
  }
  const file = SafetensorsFile.open(join(folder, SAELENS_WEIGHTS_FILE));
  try {
    return loadSaeFromParts<A>(cfg, cfgPath, file, sparsity, factories, backend, options);
  } finally {
    file.close();
  }
}
