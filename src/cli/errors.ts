/**
 * CLI error conventions (DESIGN.md s.6): a usage error (bad option, bad value) exits 2, a runtime
 * failure exits 1; both print one plain line; the stack trace only with --debug. The error kinds
 * live in src/core/errors.ts (below the library); this file maps them to exit codes.
 */
import type { Command } from "commander";
import { badOption, UsageError } from "../core/errors.ts";

export { badOption, UsageError };

export function parseIntOption(option: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw badOption(option, value, `an integer in [${min}, ${max}]`);
  return n;
}

export function parseNumberOption(option: string, value: string, min: number, max = Number.POSITIVE_INFINITY): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw badOption(option, value, `a number in [${min}, ${max}]`);
  return n;
}

export function reportError(e: unknown, debug: boolean): number {
  const err = e instanceof Error ? e : new Error(String(e));
  const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith("commander.");
  const line = err.message.split("\n")[0];
  process.stderr.write(`msae: ${line}\n`);
  if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
  return usage ? 2 : 1;
}

/** "msae lm eval" for a command (its ancestors' names joined). */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/**
 * Commander's own errors (unknown option or command, missing argument or option value) become ONE
 * line plus a pointer to the command's --help, instead of the error and the whole help text:
 *   msae: unknown option '--bogus' (see `msae lm eval --help`)
 * Applied to `program` and every command registered on it so far (call after registering).
 */
export function oneLineCommanderErrors(program: Command): void {
  const visit = (cmd: Command): void => {
    cmd.showHelpAfterError(false);
    cmd.configureOutput({
      outputError: (str, write) => {
        const msg = str
          .replace(/^error:\s*/i, "")
          .replace(/\s*\n\s*/g, " ")
          .trim();
        write(`msae: ${msg} (see \`${commandPath(cmd)} --help\`)\n`);
      },
    });
    for (const sub of cmd.commands) visit(sub);
  };
  visit(program);
}
