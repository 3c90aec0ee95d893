/**
 * The explorer's browser bundle: browser.ts and everything it imports (engine, LM forward, ref
 * backend, safetensors header validation, tokenizer, SAE archs), bundled by esbuild at serve time
 * (about a second, once per server) for the browser platform. A node: import anywhere in that graph
 * fails the build, so nothing of node:fs reaches the browser. No CDN: the bundle is self-contained.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const EXPLORER_ENTRY = join(dirname(fileURLToPath(import.meta.url)), "browser.ts");

let cached: Promise<string> | null = null;

/** The minified ES module text (built once per process). */
export function explorerBundle(): Promise<string> {
  cached ??= build().catch((e) => {
    cached = null;
    throw e;
  });
  return cached;
}

async function build(): Promise<string> {
  const esbuild = await import("esbuild");
  const r = await esbuild.build({
    entryPoints: [EXPLORER_ENTRY],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "none",
    logLevel: "silent",
  });
  return r.outputFiles[0].text;
}
