/**
 * Typed reads of Hugging Face config.json fields with one-line errors naming the file, the field,
 * the value and what is expected. Shared by the architectures' config mappers.
 */

export type RawConfig = Readonly<Record<string, unknown>>;

/** Largest integer a size field may hold (an Int32 index). */
export const MAX_INT_FIELD = 2 ** 31 - 1;
export const FLOAT32_MAX = 3.4028234663852886e38;
export const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

/** Largest layer count accepted (per-layer tables are built from it before any weight is read). */
export const MAX_LAYERS = 4096;

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

  /**
   * An integer in [min, max] (default [1, 2^31 - 1]: sizes must fit an Int32 index); the first
   * present of `fields`, else `fallback` (undefined = required).
   */
  int(fields: string | readonly string[], fallback?: number, min = 1, max = MAX_INT_FIELD): number {
    const names = typeof fields === "string" ? [fields] : fields;
    const range = max === MAX_INT_FIELD ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
    for (const f of names) {
      const v = this.raw[f];
      if (v === undefined || v === null) continue;
      if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) this.fail(f, v, range);
      return v;
    }
    if (fallback === undefined)
      throw new ConfigError(`${this.where}: field ${names.join(" / ")} is missing; expected ${range}`);
    return fallback;
  }

  /**
   * A positive number a float32 holds as a normal number (FLOAT32_MIN .. FLOAT32_MAX: the forward
   * computes in float32, where 1e308 is Inf and 1e-300 is 0), or `fallback` when absent.
   */
  positive(field: string, fallback?: number): number {
    const v = this.raw[field];
    const want = "a number in [1.2e-38, 3.4e38] (> 0, finite in float32)";
    if (v === undefined || v === null) {
      if (fallback === undefined) throw new ConfigError(`${this.where}: field ${field} is missing; expected ${want}`);
      return fallback;
    }
    if (typeof v !== "number" || !(v >= FLOAT32_MIN_NORMAL) || !(v <= FLOAT32_MAX)) this.fail(field, v, want);
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

  /**
   * A token id: an integer >= 0, the first entry of a non-empty list of them, or null (also for a
   * negative integer, which some configs use for "none"). Anything else (a string, a fraction, an
   * object) is an error rather than a silent null.
   */
  tokenId(field: string, fallback: number | null = null): number | null {
    const raw = this.raw[field];
    if (raw === undefined) return fallback;
    const v = Array.isArray(raw) && raw.length > 0 ? raw[0] : raw;
    if (v === null) return null;
    if (typeof v === "number" && Number.isInteger(v) && v <= MAX_INT_FIELD) return v >= 0 ? v : null;
    return this.fail(field, raw, "a token id (an integer >= 0), a list of them, or null");
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
