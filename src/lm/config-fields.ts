/**
 * Typed reads of Hugging Face config.json fields with one-line errors naming the file, the field,
 * the value and what is expected. Shared by the architectures' config mappers.
 */

export type RawConfig = Readonly<Record<string, unknown>>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

export class ConfigReader {
  readonly raw: RawConfig;
  readonly where: string;

  constructor(raw: RawConfig, where: string) {
    this.raw = raw;
    this.where = where;
  }

  fail(field: string, value: unknown, expected: string): never {
    throw new ConfigError(
      `${this.where}: field ${field} is ${JSON.stringify(value) ?? "undefined"}; expected ${expected}`,
    );
  }

  has(field: string): boolean {
    return this.raw[field] !== undefined && this.raw[field] !== null;
  }

  /** A positive integer; the first present of `fields`, else `fallback` (undefined = required). */
  int(fields: string | readonly string[], fallback?: number, min = 1): number {
    const names = typeof fields === "string" ? [fields] : fields;
    for (const f of names) {
      const v = this.raw[f];
      if (v === undefined || v === null) continue;
      if (typeof v !== "number" || !Number.isInteger(v) || v < min) this.fail(f, v, `an integer >= ${min}`);
      return v;
    }
    if (fallback === undefined)
      throw new ConfigError(`${this.where}: field ${names.join(" / ")} is missing; expected an integer >= ${min}`);
    return fallback;
  }

  /** A positive finite number, or `fallback` when absent. */
  positive(field: string, fallback?: number): number {
    const v = this.raw[field];
    if (v === undefined || v === null) {
      if (fallback === undefined)
        throw new ConfigError(`${this.where}: field ${field} is missing; expected a number > 0`);
      return fallback;
    }
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) this.fail(field, v, "a number > 0");
    return v;
  }

  /** A positive number, or null when the field is explicitly null; `fallback` when absent. */
  positiveOrNull(field: string, fallback: number | null): number | null {
    if (!(field in this.raw) || this.raw[field] === undefined) return fallback;
    if (this.raw[field] === null) return null;
    return this.positive(field);
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.raw[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "boolean") this.fail(field, v, "true or false");
    return v;
  }

  str(field: string, fallback: string): string {
    const v = this.raw[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "string") this.fail(field, v, "a string");
    return v;
  }

  /** A token id (integer >= 0), the first entry of a list, or null. */
  tokenId(field: string, fallback: number | null = null): number | null {
    let v = this.raw[field];
    if (v === undefined) return fallback;
    if (Array.isArray(v)) v = v[0];
    if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
    return null;
  }
}

/** The activation names that mean GELU with the tanh approximation (Backend.gelu). */
export const TANH_GELU_NAMES = ["gelu_pytorch_tanh", "gelu_new", "gelu_fast", "gelu_accurate"];

export function checkTanhGelu(cfg: ConfigReader, field: string, fallback: string): void {
  const act = cfg.str(field, fallback);
  if (!TANH_GELU_NAMES.includes(act))
    cfg.fail(
      field,
      act,
      `one of ${TANH_GELU_NAMES.join(", ")} (GELU, tanh approximation; other activations are not supported)`,
    );
}
