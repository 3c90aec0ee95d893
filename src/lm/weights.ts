/**
 * Weight lookup shared by the architectures: canonical HF names (without the "model." /
 * "transformer." prefix), expected shapes from the config, read as float32 from a TensorReader
 * (bf16 / f16 / f32 / f64 widened; any other stored dtype is refused by name). Each error is one
 * line naming the tensor (and both shapes, or its dtype and the accepted ones).
 */
import type { Backend } from "../core/backend.ts";
import { checkFinite } from "../io/finite.ts";
import type { TensorReader } from "../io/safetensors.ts";
import { checkDtype, FLOAT_WEIGHT_DTYPES } from "../io/safetensors-view.ts";

export interface WeightSpec {
  /** Canonical name, e.g. "layers.0.self_attn.q_proj.weight". */
  name: string;
  /** Shape implied by the config. */
  shape: readonly number[];
  /** Prefixes tried in order; default: the architecture's. */
  prefixes?: readonly string[];
}

export class WeightError extends Error {
  override name = "WeightError";
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** The stored name of `spec` in `reader` (first matching prefix), or null. */
export function findStored(
  reader: Pick<TensorReader, "has">,
  spec: WeightSpec,
  prefixes: readonly string[],
): string | null {
  for (const p of spec.prefixes ?? prefixes) if (reader.has(p + spec.name)) return p + spec.name;
  return null;
}

/**
 * Checks names, shapes and dtypes of every spec before any data is read; returns canonical ->
 * stored name. With `unused` given, a stored tensor no spec uses (and `unused.ignored` does not
 * match) is an error too: weights the config does not describe (e.g. more layers than
 * num_hidden_layers says) would otherwise be dropped silently. An untied-style lm_head.weight
 * beside tied embeddings is ignored, as transformers ties it.
 */
export function resolveNames(
  reader: Pick<TensorReader, "has" | "info"> & Partial<Pick<TensorReader, "names">>,
  specs: readonly WeightSpec[],
  prefixes: readonly string[],
  where: string,
  unused?: { ignored: RegExp | null },
): Map<string, string> {
  const out = new Map<string, string>();
  for (const spec of specs) {
    const stored = findStored(reader, spec, prefixes);
    const tried = (spec.prefixes ?? prefixes).map((p) => p + spec.name);
    if (stored === null) {
      const also = tried.length > 1 ? ` (also looked for ${tried.slice(1).join(", ")})` : "";
      throw new WeightError(`${where}: missing tensor ${tried[0]}${also}`);
    }
    const info = reader.info(stored);
    const same = info.shape.length === spec.shape.length && info.shape.every((d, i) => d === spec.shape[i]);
    if (!same)
      throw new WeightError(
        `${where}: tensor ${stored} has shape ${fmt(info.shape)} but the config implies ${fmt(spec.shape)}`,
      );
    checkDtype(where, stored, info.dtype, FLOAT_WEIGHT_DTYPES, "a float weight");
    out.set(spec.name, stored);
  }
  if (unused && reader.names) {
    const used = new Set(out.values());
    for (const name of reader.names()) {
      if (used.has(name) || unused.ignored?.test(name) || name === "lm_head.weight") continue;
      throw new WeightError(
        `${where}: tensor ${name} is stored but not a weight of the model config.json describes; ` +
          `expected only its ${specs.length} tensors (do num_hidden_layers or the other sizes match the weights?)`,
      );
    }
  }
  return out;
}

export interface ReadWeightsOptions {
  /** Stored names that are buffers, not weights (Architecture.ignored); any other unused tensor is an error. */
  ignored?: RegExp | null;
  /** Keep NaN / Inf weights (forensics); default false: the first one is an error (src/io/finite.ts). */
  allowNonFinite?: boolean;
  /** Called with the first non-finite tensor when allowNonFinite (for a warning). */
  onNonFinite?: (message: string) => void;
}

/**
 * Reads every spec as float32 (names, shapes and dtypes checked first), then scans each for NaN /
 * Inf with the backend's firstNonFinite (the native kernel when the backend is native).
 */
export function readWeights(
  reader: TensorReader,
  specs: readonly WeightSpec[],
  prefixes: readonly string[],
  where: string,
  backend?: Pick<Backend, "f16ToF32" | "bf16ToF32"> & Partial<Pick<Backend, "name" | "firstNonFinite">>,
  options: ReadWeightsOptions = {},
): Map<string, Float32Array> {
  const names = resolveNames(reader, specs, prefixes, where, { ignored: options.ignored ?? null });
  const scan =
    backend?.name && backend.firstNonFinite ? (backend as Pick<Backend, "name" | "firstNonFinite">) : undefined;
  const out = new Map<string, Float32Array>();
  let reported = false;
  for (const spec of specs) {
    const stored = names.get(spec.name)!;
    const data = reader.readF32(stored, { shape: spec.shape, backend });
    try {
      checkFinite(where, stored, data, { backend: scan, shape: spec.shape });
    } catch (e) {
      if (!options.allowNonFinite) throw e;
      if (!reported) options.onNonFinite?.((e as Error).message);
      reported = true;
    }
    out.set(spec.name, data);
  }
  return out;
}
