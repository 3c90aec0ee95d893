/**
 * Config validation (DESIGN.md s.6): every command's options go through one zod schema; a bad
 * value becomes ONE plain-English line naming the field, the value given and what is allowed.
 */
import type { z } from "zod";
import { UsageError } from "../core/errors.ts";

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Parses `input` with `schema`; on failure throws a UsageError with one line for the first issue. */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, source = "config"): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  if (issue.code === "unrecognized_keys") {
    const where = issue.path.length ? ` in ${issue.path.join(".")}` : "";
    throw new UsageError(
      `${source}: unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}${where}`,
    );
  }
  const field = issue.path.length ? issue.path.join(".") : "(root)";
  const given = describeValue(valueAt(input, issue.path));
  const more =
    r.error.issues.length > 1
      ? ` (and ${r.error.issues.length - 1} more problem${r.error.issues.length > 2 ? "s" : ""})`
      : "";
  const allowed = issue.message.replace(/^Invalid (input|option): /, "").replace(/^Too (small|big): /, "");
  throw new UsageError(`${source}: field "${field}" is ${given}: ${allowed}${more}`);
}
