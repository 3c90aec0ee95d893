/**
 * Loading an SAE from a parsed cfg.json and readers over its tensors, with no file system (load.ts
 * opens the folder's files; the browser explorer passes bytes it fetched). What is loaded and
 * converted is described in load.ts's header.
 */
import { parseSaeHyper } from "../config/sae.ts";
import type { Backend, FloatArray } from "../core/backend.ts";
import { checkFinite } from "../io/finite.ts";
import type { SaelensConfig } from "../io/saelens-config.ts";
import type { TensorReader } from "../io/safetensors.ts";
import { toF32 } from "../io/safetensors-view.ts";
import { isSaeArch, NORMALIZED_ARCHS, type SaeArch, type SaeFactory, type SaeModule } from "./types.ts";

const FROM_SAELENS: Record<string, SaeArch> = { standard: "relu", topk: "topk", jumprelu: "jumprelu", gated: "gated" };

export interface LoadedSae<A extends FloatArray> {
  sae: SaeModule<A>;
  cfg: SaelensConfig;
  /** Multiply inputs by this (and divide reconstructions by it): metadata.activation_norm_scaling_factor or 1. */
  scale: number;
  /** [d_sae] log10 feature density from sparsity.safetensors, or null when the folder has none. */
  sparsity: Float32Array | null;
  /** What the loader converted (one line each). */
  notes: string[];
}

/** Which msae architecture a cfg means (see the header). */
export function archOfConfig(cfg: SaelensConfig, source: string): SaeArch {
  const ours = cfg.metadata.msae_architecture;
  if (ours !== undefined) {
    if (typeof ours !== "string" || !isSaeArch(ours))
      throw new Error(`${source}: metadata.msae_architecture ${JSON.stringify(ours)} is not an msae architecture`);
    return ours;
  }
  const arch = FROM_SAELENS[cfg.architecture];
  if (!arch)
    throw new Error(
      `${source}: SAELens architecture "${cfg.architecture}" is not supported; expected one of ${Object.keys(FROM_SAELENS).join(", ")}`,
    );
  return arch;
}

function hyperOf(cfg: SaelensConfig, arch: SaeArch, source: string) {
  const saved = cfg.metadata.msae_hyper;
  let input: Record<string, unknown>;
  if (saved !== undefined) {
    if (saved === null || typeof saved !== "object" || Array.isArray(saved))
      throw new Error(`${source}: metadata.msae_hyper is not an object`);
    const { d: _d, m: _m, arch: _a, ...rest } = saved as Record<string, unknown>;
    input = rest;
  } else {
    input = {};
    if (arch === "topk" && cfg.extra.k !== undefined) input.k = cfg.extra.k;
  }
  if (cfg.metadata.reconstruct !== undefined) input.reconstruct = cfg.metadata.reconstruct;
  return parseSaeHyper({ ...input, arch, m: cfg.d_sae }, cfg.d_in, `${source} (metadata.msae_hyper)`);
}

function fillFrom(file: TensorReader, name: string, shape: readonly number[], out: FloatArray): void {
  const info = file.info(name);
  const same = info.shape.length === shape.length && info.shape.every((v, i) => v === shape[i]);
  if (!same)
    throw new Error(
      `${file.path}: tensor ${name} has shape [${info.shape.join(", ")}]; expected [${shape.join(", ")}]`,
    );
  if (!["F32", "F64", "F16", "BF16"].includes(info.dtype))
    throw new Error(`${file.path}: tensor ${name} is ${info.dtype}; expected F32, F64, F16 or BF16`);
  const data = file.read(name);
  out.set(info.dtype === "F64" ? (data as Float64Array) : toF32(info.dtype, data));
}

/** b += v M for v [rows], M [rows, cols] row-major (float64 accumulation). */
function addVecMat(
  b: FloatArray,
  v: FloatArray,
  mat: FloatArray,
  rows: number,
  cols: number,
  colScale?: FloatArray,
): void {
  for (let c = 0; c < cols; c++) {
    let s = 0;
    for (let r = 0; r < rows; r++) s += v[r] * mat[r * cols + c] * (colScale ? Math.exp(colScale[c]) : 1);
    b[c] += s;
  }
}

/**
 * cfg: the parsed cfg.json (cfgPath names it in errors); file: sae_weights.safetensors (its path
 * names it in errors); sparsity: [d_sae] log10 densities or null.
 */
export function loadSaeFromParts<A extends FloatArray>(
  cfg: SaelensConfig,
  cfgPath: string,
  file: TensorReader,
  sparsity: Float32Array | null,
  factories: Partial<Record<SaeArch, SaeFactory>>,
  backend: Backend,
  options: { arrayType: "f32" | "f64"; allowNonFinite?: boolean },
): LoadedSae<A> {
  const arch = archOfConfig(cfg, cfgPath);
  if (cfg.normalize_activations === "constant_norm_rescale" || cfg.normalize_activations === "layer_norm")
    throw new Error(
      `${cfgPath}: normalize_activations "${cfg.normalize_activations}" is not supported; expected "none" or "expected_average_only_in"`,
    );
  const hyper = hyperOf(cfg, arch, cfgPath);
  const factory = factories[arch];
  if (!factory)
    throw new Error(
      `${cfgPath}: no SAE implementation for arch ${arch} here (have: ${Object.keys(factories).join(", ")})`,
    );
  // The cfg's sizes must be the weights' before anything is allocated from them.
  for (const [name, want] of [
    ["W_enc", [hyper.d, hyper.m]],
    ["W_dec", [hyper.m, hyper.d]],
  ] as const) {
    const got = file.has(name) ? file.info(name).shape : null;
    if (got && (got.length !== 2 || got[0] !== want[0] || got[1] !== want[1]))
      throw new Error(
        `${cfgPath}: d_in ${cfg.d_in} x d_sae ${cfg.d_sae} disagrees with ${name} [${got.join(", ")}] in ${file.path}`,
      );
  }
  const zeros = (options.arrayType === "f32" ? new Float32Array(hyper.d) : new Float64Array(hyper.d)) as A;
  const sae = factory<A>(hyper, backend, { arrayType: options.arrayType, seed: 0, firstBatch: zeros, rows: 1 });
  const notes: string[] = [];
  const weightsPath = file.path;
  const expected = new Map<string, { shape: readonly number[]; data: FloatArray }>();
  for (const [name, { param }] of sae.params) expected.set(name, { shape: param.shape, data: param.data });
  for (const [name, b] of sae.buffers) if (b.inWeights) expected.set(name, { shape: b.shape, data: b.data });
  const unknown = file.names().filter((n) => !expected.has(n));
  if (unknown.length)
    throw new Error(
      `${weightsPath}: tensor${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} unknown to arch ${arch}`,
    );
  const missing = [...expected.keys()].filter((n) => !file.has(n));
  if (missing.length)
    throw new Error(`${weightsPath}: arch ${arch} needs tensor${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
  for (const [name, e] of expected) {
    fillFrom(file, name, e.shape, e.data);
    // Never run an SAE with NaN / Inf weights unless asked (forensics).
    if (!options.allowNonFinite) checkFinite(file.path, name, e.data, { backend, shape: e.shape });
  }
  if (!cfg.apply_b_dec_to_input && !NORMALIZED_ARCHS.includes(arch)) {
    const p = (n: string) => sae.params.get(n)?.param.data;
    const bDec = p("b_dec");
    const wEnc = p("W_enc");
    const { d, m } = hyper;
    if (!bDec || !wEnc) throw new Error(`${cfgPath}: apply_b_dec_to_input false needs W_enc and b_dec to convert`);
    if (arch === "gated") {
      addVecMat(p("b_gate")!, bDec, wEnc, d, m);
      addVecMat(p("b_mag")!, bDec, wEnc, d, m, p("r_mag"));
      notes.push("apply_b_dec_to_input false: b_gate += b_dec W_enc, b_mag += b_dec (W_enc o exp(r_mag))");
    } else {
      const bEnc = p("b_enc");
      if (!bEnc) throw new Error(`${cfgPath}: apply_b_dec_to_input false needs b_enc to convert`);
      addVecMat(bEnc, bDec, wEnc, d, m);
      notes.push("apply_b_dec_to_input false: b_enc += b_dec W_enc (same pre-activations)");
    }
  }
  if (cfg.extra.rescale_acts_by_decoder_norm === true) {
    // SAELens TopK with rescale_acts_by_decoder_norm: pre' = pre o |W_dec,i|, decode with h / |W_dec,i|.
    // Folded exactly (SAELens's _fold_norm_topk): W_enc[:, i] and b_enc[i] times |W_dec,i|, W_dec[i] divided by it.
    const p = (n: string) => sae.params.get(n)?.param.data;
    const wEnc = p("W_enc");
    const bEnc = p("b_enc");
    const wDec = p("W_dec");
    if (!wEnc || !bEnc || !wDec)
      throw new Error(`${cfgPath}: rescale_acts_by_decoder_norm needs W_enc, b_enc and W_dec`);
    const { d, m } = hyper;
    for (let i = 0; i < m; i++) {
      let sq = 0;
      for (let j = 0; j < d; j++) sq += wDec[i * d + j] ** 2;
      const norm = Math.sqrt(sq);
      if (norm === 0) continue;
      for (let j = 0; j < d; j++) {
        wEnc[j * m + i] *= norm;
        wDec[i * d + j] /= norm;
      }
      bEnc[i] *= norm;
    }
    notes.push("rescale_acts_by_decoder_norm: decoder norms folded into W_enc, b_enc, W_dec");
  }
  if (sparsity && sparsity.length !== hyper.m)
    throw new Error(`sparsity has ${sparsity.length} values; expected d_sae = ${hyper.m}`);
  return { sae, cfg, scale: cfg.metadata.activation_norm_scaling_factor ?? 1, sparsity, notes };
}
