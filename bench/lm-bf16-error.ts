/**
 * What `--precision bf16` does to a model's activations (the README's figures), measured against
 * the fp32 forward of the same model on the same packed contexts of a corpus:
 *
 *   rel_err(hook) = ||a_bf16 - a_f32|| / ||a_f32||      (Frobenius norm over every kept position)
 *   logits:         the same over the logits; ce_f32, ce_bf16 = mean next-token cross-entropy (nats)
 *
 * Kept positions: as a harvest keeps them (BOS / EOS / PAD positions dropped). Hooks: `--layers`
 * (default auto, the paper's relative depths) resid_post hooks. Both models run on the native
 * backend when built; the bf16 kernel in use (amx, avx512bf16 or f32) is reported.
 *
 *   npx tsx bench/lm-bf16-error.ts [--model dir] [--data brown:validation] [--contexts 64] [--layers auto]
 */
import { pathToFileURL } from "node:url";
import { getBackend } from "../src/core/backends/index.ts";
import { bf16Kernels } from "../src/core/bf16-gemm.ts";
import { defaultModelDir } from "../src/core/paths.ts";
import { packDocuments } from "../src/data/packing.ts";
import { openCorpora } from "../src/data/spec.ts";
import { resolveHooks } from "../src/harvest/hooks.ts";
import { loadModel } from "../src/lm/loader.ts";

export interface Bf16ErrorOptions {
  modelDir: string;
  data: string;
  layers: string;
  contexts: number;
  contextSize: number;
  llmBatch: number;
}

export interface Bf16ErrorResult {
  model: string;
  data: string;
  contexts: number;
  positions: number;
  bf16_kernel: string | null;
  backend: string;
  rel_err: Record<string, number>;
  ce_f32: number;
  ce_bf16: number;
}

export const DEFAULT_BF16_ERROR: Bf16ErrorOptions = {
  modelDir: defaultModelDir,
  data: "brown:validation",
  layers: "auto",
  contexts: 64,
  contextSize: 128,
  llmBatch: 16,
};

/** Mean over rows of logsumexp(logits[r]) - logits[r, target[r]] for rows with target >= 0 (float64). */
function meanCe(logits: Float32Array /* [rows, V] */, targets: Int32Array /* [rows] */, V: number): [number, number] {
  let s = 0;
  let n = 0;
  for (let r = 0; r < targets.length; r++) {
    if (targets[r] < 0) continue;
    let mx = -Infinity;
    for (let j = 0; j < V; j++) mx = Math.max(mx, logits[r * V + j]);
    let z = 0;
    for (let j = 0; j < V; j++) z += Math.exp(logits[r * V + j] - mx);
    s += mx + Math.log(z) - logits[r * V + targets[r]];
    n++;
  }
  return [s, n];
}

export async function measureBf16Error(options: Partial<Bf16ErrorOptions> = {}): Promise<Bf16ErrorResult> {
  const o = { ...DEFAULT_BF16_ERROR, ...options };
  const backend = getBackend();
  const f32 = loadModel(o.modelDir, { backend });
  const bf16 = loadModel(o.modelDir, { backend, precision: "bf16", tokenizer: false });
  const tok = f32.tokenizer as unknown as { encode(t: string): Int32Array; bosId: number | null; padId: number | null };
  const hooks = resolveHooks({ layers: o.layers }, f32.dims.nLayers);
  const C = Math.min(o.contextSize, f32.dims.contextLength);
  const ctxs: Int32Array[] = [];
  const corpus = openCorpora([o.data]);
  for await (const c of packDocuments(corpus.documents(), tok, { contextSize: C })) {
    ctxs.push(c);
    if (ctxs.length === o.contexts) break;
  }
  const special = new Set([f32.info.bosId, f32.info.eosId, f32.info.padId].filter((x) => x !== null));
  const err = Object.fromEntries(hooks.map((h) => [h, 0]));
  const norm = Object.fromEntries(hooks.map((h) => [h, 0]));
  let [le, ln, cf, cb, cn, positions] = [0, 0, 0, 0, 0, 0];
  const V = f32.dims.vocabSize;
  const d = f32.dims.dModel;
  for (let i = 0; i < ctxs.length; i += o.llmBatch) {
    const batch = ctxs.slice(i, i + o.llmBatch);
    const ids = new Int32Array(batch.length * C);
    for (const [b, c] of batch.entries()) ids.set(c, b * C);
    const targets = new Int32Array(ids.length).fill(-1);
    for (let r = 0; r < ids.length; r++) if (r % C < C - 1 && !special.has(ids[r + 1])) targets[r] = ids[r + 1];
    const rf = f32.run(ids, { batch: batch.length, capture: hooks, copy: true });
    const rb = bf16.run(ids, { batch: batch.length, capture: hooks, copy: true });
    for (let r = 0; r < ids.length; r++) {
      if (special.has(ids[r])) continue;
      positions++;
      for (const h of hooks) {
        const a = rf.cache[h].data;
        const b = rb.cache[h].data;
        for (let j = r * d; j < (r + 1) * d; j++) {
          err[h] += (b[j] - a[j]) ** 2;
          norm[h] += a[j] ** 2;
        }
      }
      const a = rf.logits!.data;
      const b = rb.logits!.data;
      for (let j = r * V; j < (r + 1) * V; j++) {
        le += (b[j] - a[j]) ** 2;
        ln += a[j] ** 2;
      }
    }
    const [sf, n] = meanCe(rf.logits!.data as Float32Array, targets, V);
    const [sb] = meanCe(rb.logits!.data as Float32Array, targets, V);
    cf += sf;
    cb += sb;
    cn += n;
  }
  const rel: Record<string, number> = {};
  for (const h of hooks) rel[h] = Math.sqrt(err[h] / norm[h]);
  rel.logits = Math.sqrt(le / ln);
  return {
    model: o.modelDir,
    data: o.data,
    contexts: ctxs.length,
    positions,
    bf16_kernel: backend.name === "native" ? bf16Kernels().kernel : null,
    backend: backend.name,
    rel_err: rel,
    ce_f32: cf / cn,
    ce_bf16: cb / cn,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const contexts = opt("--contexts");
  const r = await measureBf16Error({
    modelDir: opt("--model") ?? DEFAULT_BF16_ERROR.modelDir,
    data: opt("--data") ?? DEFAULT_BF16_ERROR.data,
    layers: opt("--layers") ?? DEFAULT_BF16_ERROR.layers,
    contexts: contexts === undefined ? DEFAULT_BF16_ERROR.contexts : Number(contexts),
  });
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
}
