/**
 * Weight lookup shared by the architectures: canonical HF names (without the "model." /
 * "transformer." prefix), expected shapes from the config, read as float32 from a TensorReader
 * (bf16 / f16 / f32 widened). Each error is one line naming the tensor (and both shapes).
 */
import type { Backend } from "../core/backend.ts";
import type { TensorReader } from "../io/safetensors.ts";

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

/** Checks names and shapes of every spec before any data is read; returns canonical -> stored name. */
export function resolveNames(
  reader: Pick<TensorReader, "has" | "info">,
  specs: readonly WeightSpec[],
  prefixes: readonly string[],
  where: string,
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
    out.set(spec.name, stored);
  }
  return out;
}

/** Reads every spec as float32 (shapes checked first). */
export function readWeights(
  reader: TensorReader,
  specs: readonly WeightSpec[],
  prefixes: readonly string[],
  where: string,
  backend?: Pick<Backend, "f16ToF32" | "bf16ToF32">,
): Map<string, Float32Array> {
  const names = resolveNames(reader, specs, prefixes, where);
  const out = new Map<string, Float32Array>();
  for (const spec of specs) {
    const stored = names.get(spec.name)!;
    out.set(spec.name, reader.readF32(stored, { shape: spec.shape, backend }));
  }
  return out;
}
