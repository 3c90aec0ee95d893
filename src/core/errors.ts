/**
 * Error kinds shared by the library and the CLI (DESIGN.md s.4 "Layering": library code never
 * imports src/cli/). A UsageError is a bad option, value or config field (the CLI exits 2); any
 * other Error is a runtime failure (exit 1). Both carry one plain line naming what is wrong and
 * what is expected.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A value that failed validation: names the option or field, the value and what is allowed. */
export function badOption(option: string, value: unknown, allowed: string): UsageError {
  return new UsageError(`${option} ${JSON.stringify(value)} is not valid: expected ${allowed}`);
}
