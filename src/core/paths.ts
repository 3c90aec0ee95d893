/**
 * Paths inside the msae package, independent of the current directory: the package root, the
 * native addon, and the shipped default model (models/tiny-gemma2, the default --model everywhere).
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const addonPath = join(packageRoot, "build", "Release", "msae_native.node");
export const defaultModelDir = join(packageRoot, "models", "tiny-gemma2");
