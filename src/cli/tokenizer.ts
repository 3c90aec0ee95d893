/** (being written) `msae tokenizer train`. */
import type { Command } from "commander";

export function register(_program: Command): void {}
