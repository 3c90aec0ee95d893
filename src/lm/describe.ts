/**
 * What `msae inspect` shows:
 * - a model folder: architecture, parameter count, depth and widths, context, architecture facts,
 *   hook names, a check of every expected tensor's name and shape, and the tensor table;
 * - a bare .safetensors (or index .json, or a folder without config.json): metadata and tensor table;
 * and, for both, the checks a loader would make, each reported on its own line (a failure makes
 * `msae inspect` exit 1):
 * - values: every float tensor scanned for NaN / Inf (Backend.firstNonFinite; this reads the data);
 * - tokenizer: tokenizer.json loaded (structure, special tokens) and checked against config.json
 *   (tokens vs embedding rows, bos / eos / pad ids);
 * - config: special-token ids within vocab_size;
 * - run: the completion marker of a folder msae wrote (src/io/complete.ts).
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Backend } from "../core/backend.ts";
import { getBackend } from "../core/backends/index.ts";
import { describeCompletion } from "../io/complete.ts";
import { checkFinite } from "../io/finite.ts";
import type { TensorReader } from "../io/safetensors.ts";
import { openWeights } from "../io/safetensors-sharded.ts";
import { loadTokenizer } from "../tokenizer/load.ts";
import { HOOK_KINDS, listHookNames } from "./hooks.ts";
import { checkSpecialIds, checkTokenizerAgrees, readModelConfig } from "./loader.ts";
import type { ModelDims } from "./model.ts";
import { resolveNames } from "./weights.ts";

export interface TensorRow {
  name: string;
  dtype: string;
  shape: readonly number[];
  /** Shard file name, for sharded checkpoints. */
  file?: string;
}

export interface ModelDescription {
  path: string;
  weightsPath: string;
  metadata: Readonly<Record<string, string>>;
  tensors: TensorRow[];
  /** Sum of the tensors' element counts (all tensors of the file). */
  storedElements: number;
  model?: {
    architecture: string;
    parameterCount: number;
    dims: ModelDims;
    details: [string, string][];
    hooks: string[];
    /** Tensors the architecture expects (the stored file may hold more, e.g. mask buffers). */
    expectedTensors: number;
    /** null when every expected tensor is present with the config's shape, else the problem. */
    problem: string | null;
  };
  /** The loader's checks: label, whether it passed, and the one-line result. */
  checks: { label: string; ok: boolean; text: string }[];
}

/** The first failed check's one-line message ("" when none failed). */
export function firstProblem(d: ModelDescription): string {
  return (d.model?.problem ?? d.checks.find((c) => !c.ok)?.text ?? "").split("\n")[0];
}

/** Whether any check failed (then `msae inspect` exits 1). */
export function hasProblem(d: ModelDescription): boolean {
  return d.model?.problem != null || d.checks.some((c) => !c.ok);
}

/** The NaN / Inf scan of every float tensor: null when all are finite, else the first problem. */
function scanValues(reader: TensorReader, backend: Backend): { ok: boolean; text: string } {
  let values = 0;
  try {
    for (const name of reader.names()) {
      const info = reader.info(name);
      if (!/^(F|BF)/.test(info.dtype)) continue; // integers and bools are finite
      const data = reader.readF32(name, { backend });
      checkFinite(reader.path, name, data, { backend, shape: info.shape, hint: "loaders refuse it" });
      values += data.length;
    }
  } catch (e) {
    return { ok: false, text: (e as Error).message };
  }
  return { ok: true, text: `OK: all ${values.toLocaleString("en-US")} float values finite` };
}

/** Natural order: layers.2 before layers.10. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}

function tensorRows(reader: TensorReader): TensorRow[] {
  const shardPath = (reader as { shardPath?: (n: string) => string }).shardPath?.bind(reader);
  return reader
    .names()
    .sort(naturalCompare)
    .map((name) => {
      const info = reader.info(name);
      const row: TensorRow = { name, dtype: info.dtype, shape: info.shape };
      if (shardPath) row.file = shardPath(name).split(/[\\/]/).pop();
      return row;
    });
}

export function describePath(
  path: string,
  options: { backend?: Backend; scanValues?: boolean } = {},
): ModelDescription {
  const isDir = statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  const checks: ModelDescription["checks"] = [];
  const run = isDir ? describeCompletion(path) : null;
  if (run) checks.push({ label: "run", ...run });
  // a folder without config.json is shown like a bare weights file
  const cfg = isDir && existsSync(join(path, "config.json")) ? readModelConfig(path) : null;
  const reader = openWeights(path);
  try {
    const tensors = tensorRows(reader);
    const storedElements = tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    const out: ModelDescription = {
      path,
      weightsPath: reader.path,
      metadata: reader.metadata,
      tensors,
      storedElements,
      checks,
    };
    if (options.scanValues ?? true)
      checks.push({ label: "values check", ...scanValues(reader, options.backend ?? getBackend()) });
    else checks.push({ label: "values check", ok: true, text: "skipped (--no-scan)" });
    if (cfg) {
      const { arch, config } = cfg;
      const specs = arch.weightSpecs(config);
      let problem: string | null = null;
      try {
        resolveNames(reader, specs, arch.prefixes, reader.path, { ignored: arch.ignored });
      } catch (e) {
        problem = (e as Error).message;
      }
      const dims = arch.dims(config);
      out.model = {
        architecture: arch.name,
        parameterCount: specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0),
        dims,
        details: arch.summary(config),
        hooks: listHookNames(dims.nLayers),
        expectedTensors: specs.length,
        problem,
      };
      const configPath = join(path, "config.json");
      const ids = arch.specialIds(config);
      try {
        checkSpecialIds(configPath, ids, dims.vocabSize);
        checks.push({ label: "config check", ok: true, text: "OK: special-token ids within the vocabulary" });
      } catch (e) {
        checks.push({ label: "config check", ok: false, text: (e as Error).message });
      }
      const tokPath = join(path, "tokenizer.json");
      if (!existsSync(tokPath)) {
        checks.push({ label: "tokenizer", ok: true, text: "none (lm eval and lm generate need tokenizer.json)" });
      } else {
        try {
          const tok = loadTokenizer(tokPath);
          checkTokenizerAgrees(path, tok, ids, dims.vocabSize);
          const sp = `bos ${tok.bosId ?? "none"}, eos ${tok.eosId ?? "none"}, pad ${tok.padId ?? "none"}`;
          checks.push({ label: "tokenizer", ok: true, text: `OK: ${tok.vocabSize} tokens (${tok.engine}), ${sp}` });
        } catch (e) {
          checks.push({ label: "tokenizer", ok: false, text: (e as Error).message });
        }
      }
    }
    return out;
  } finally {
    reader.close();
  }
}

function fmtCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

/** Plain-text report (what the CLI prints). */
export function formatDescription(d: ModelDescription): string {
  const lines: string[] = [];
  const kv = (k: string, v: string) => lines.push(`${`${k}:`.padEnd(24)}${v}`);
  kv("path", d.path);
  if (d.model) {
    const m = d.model;
    const dm = m.dims;
    kv("architecture", m.architecture);
    kv("parameters", `${m.parameterCount.toLocaleString("en-US")} (${fmtCount(m.parameterCount)})`);
    kv("layers", String(dm.nLayers));
    kv("d_model", String(dm.dModel));
    kv("heads", `${dm.nHeads} query, ${dm.nKvHeads} key/value, head_dim ${dm.headDim}`);
    kv("d_mlp", String(dm.dMlp));
    kv("vocab", String(dm.vocabSize));
    kv("context", String(dm.contextLength));
    for (const [k, v] of m.details) kv(k, v);
    kv(
      "hooks",
      `blocks.{L}.hook_{${HOOK_KINDS.join("|")}}, L = 0..${dm.nLayers - 1} (${m.hooks.length} hooks, [batch, seq, ${dm.dModel}] each)`,
    );
    kv("weights check", m.problem ?? `OK: all ${m.expectedTensors} expected tensors present with the config's shapes`);
  }
  for (const c of d.checks) kv(c.label, c.text);
  kv("weights file", d.weightsPath);
  const meta = Object.entries(d.metadata);
  kv("metadata", meta.length ? meta.map(([k, v]) => `${k}=${v}`).join(", ") : "(none)");
  kv("tensors", `${d.tensors.length} (${d.storedElements.toLocaleString("en-US")} values)`);
  lines.push("");
  const shapeStr = (s: readonly number[]) => `[${s.join(", ")}]`;
  const w0 = Math.max(4, ...d.tensors.map((t) => t.name.length));
  const w1 = Math.max(5, ...d.tensors.map((t) => t.dtype.length));
  const w2 = Math.max(5, ...d.tensors.map((t) => shapeStr(t.shape).length));
  const withFile = d.tensors.some((t) => t.file);
  lines.push(`${"name".padEnd(w0)}  ${"dtype".padEnd(w1)}  ${"shape".padEnd(w2)}${withFile ? "  file" : ""}`.trimEnd());
  for (const t of d.tensors) {
    lines.push(
      `${t.name.padEnd(w0)}  ${t.dtype.padEnd(w1)}  ${shapeStr(t.shape).padEnd(w2)}${t.file ? `  ${t.file}` : ""}`.trimEnd(),
    );
  }
  return lines.join("\n");
}
