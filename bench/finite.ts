/**
 * Time of the loaders' NaN / Inf scan (Backend.firstNonFinite, src/io/finite.ts):
 *   1. on the shipped model: every weight of models/tiny-gemma2 (as the loader holds them, float32);
 *   2. on a synthetic buffer (default 256 Mi floats = 1 GiB, MSAE_FINITE_FLOATS overrides), scaled
 *      to a 2.6B-float model (gemma-2-2b) as seconds per GiB x its 10.4 GB.
 * Native and ref backends; best of 5 runs each. Usage: npx tsx bench/finite.ts
 */
import { join } from "node:path";
import { nativeBackend, refBackend } from "../src/core/backends/index.ts";
import { loadModel } from "../src/lm/loader.ts";

const be = nativeBackend();
if (!be) throw new Error("bench/finite.ts needs the native addon (npm run build:native)");

function best(f: () => void, runs = 5): number {
  let t = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    t = Math.min(t, performance.now() - t0);
  }
  return t / 1000;
}

const dir = join(import.meta.dirname, "..", "models", "tiny-gemma2");
const t0 = performance.now();
const model = loadModel(dir, { backend: be, tokenizer: false });
const loadS = (performance.now() - t0) / 1000;
const w = (
  model.arch as unknown as {
    w: { embed: Float32Array; finalNorm: Float32Array; layers: Record<string, Float32Array>[] };
  }
).w;
const tensors = [w.embed, w.finalNorm, ...w.layers.flatMap((l) => Object.values(l))];
const floats = tensors.reduce((a, t) => a + t.length, 0);
for (const [name, b] of [
  ["native", be],
  ["ref", refBackend],
] as const) {
  const s = best(() => {
    for (const t of tensors) if (b.firstNonFinite(t) !== -1) throw new Error("non-finite");
  });
  console.log(
    `tiny-gemma2 (${floats} floats, ${(floats * 4e-6).toFixed(1)} MB): ${name} scan ${(s * 1000).toFixed(2)} ms (whole load ${(loadS * 1000).toFixed(0)} ms)`,
  );
}

const n = Number(process.env.MSAE_FINITE_FLOATS ?? 256 * 2 ** 20);
const big = new Float32Array(n);
for (let i = 0; i < n; i++) big[i] = (i & 1023) * 1e-3 - 0.5; // every page written (no shared zero pages)
const gib = (n * 4) / 2 ** 30;
for (const [name, b] of [
  ["native", be],
  ["ref", refBackend],
] as const) {
  const s = best(() => b.firstNonFinite(big), name === "ref" ? 2 : 5);
  const perGiB = s / gib;
  const est = (perGiB * 2.6e9 * 4) / 2 ** 30;
  console.log(
    `synthetic ${n} floats (${gib.toFixed(2)} GiB): ${name} ${(s * 1000).toFixed(0)} ms = ${perGiB.toFixed(3)} s/GiB` +
      ` (${(4 / perGiB).toFixed(1)} GB/s) -> 2.6B floats (10.4 GB float32): ${est.toFixed(2)} s`,
  );
}
