/**
 * Paths inside the msae package, independent of the current directory: the package root, the
 * native addon, and the shipped default model (models/tiny-gemma2, the default --model everywhere).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const addonPath = join(packageRoot, "build", "Release", "msae_native.node");
export const defaultModelDir = join(packageRoot, "models", "tiny-gemma2");

/** msae's version (package.json), recorded in every manifest and cfg.json it writes. */
export const msaeVersion: string = (
  JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }
).version;
