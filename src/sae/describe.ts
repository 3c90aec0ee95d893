/**
 * What `msae sae inspect <folder>` shows about an SAELens folder, without building the SAE: the
 * cfg.json layout and fields, the msae architecture it maps to, where it came from, training
 * figures, a check of the standard tensors' shapes against d_in / d_sae, the tensor table and a
 * summary of sparsity.safetensors (log10 feature density).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  readSaelensConfig,
  SAELENS_CFG_FILE,
  SAELENS_SPARSITY_FILE,
  SAELENS_WEIGHTS_FILE,
  type SaelensConfig,
} from "../io/saelens.ts";
import { SafetensorsFile } from "../io/safetensors.ts";
import { archOfConfig } from "./load.ts";

export interface SaeFolderDescription {
  folder: string;
  cfg: SaelensConfig;
  /** The msae architecture it loads as, or why it cannot. */
  msaeArch: string | null;
  archProblem: string | null;
  tensors: { name: string; dtype: string; shape: readonly number[] }[];
  /** null when W_enc, W_dec, b_enc (or b_gate), b_dec have the shapes cfg.json implies. */
  problem: string | null;
  sparsity: { features: number; dead: number; meanLog10: number; minLog10: number; maxLog10: number } | null;
}

function expectedShapes(cfg: SaelensConfig): [string, number[]][] {
  const { d_in: d, d_sae: m } = cfg;
  const rows: [string, number[]][] = [
    ["W_enc", [d, m]],
    ["W_dec", [m, d]],
    ["b_dec", [d]],
  ];
  rows.push(cfg.architecture === "gated" ? ["b_gate", [m]] : ["b_enc", [m]]);
  if (cfg.architecture === "jumprelu") rows.push(["threshold", [m]]);
  return rows;
}

export function describeSaeFolder(folder: string): SaeFolderDescription {
  const cfgPath = join(folder, SAELENS_CFG_FILE);
  const cfg = readSaelensConfig(cfgPath);
  let msaeArch: string | null = null;
  let archProblem: string | null = null;
  try {
    msaeArch = archOfConfig(cfg, cfgPath);
  } catch (e) {
    archProblem = (e as Error).message;
  }
  const file = SafetensorsFile.open(join(folder, SAELENS_WEIGHTS_FILE));
  const tensors = file.names().map((name) => ({ name, ...file.info(name) }));
  file.close();
  let problem: string | null = null;
  for (const [name, shape] of expectedShapes(cfg)) {
    const t = tensors.find((r) => r.name === name);
    if (!t) problem ??= `tensor ${name} is missing`;
    else if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i]))
      problem ??= `tensor ${name} has shape [${t.shape.join(", ")}]; cfg.json implies [${shape.join(", ")}]`;
  }
  let sparsity: SaeFolderDescription["sparsity"] = null;
  const sp = join(folder, SAELENS_SPARSITY_FILE);
  if (existsSync(sp)) {
    const f = SafetensorsFile.open(sp);
    try {
      const s = f.readF32("sparsity");
      let dead = 0;
      let sum = 0;
      let n = 0;
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (const v of s) {
        if (!Number.isFinite(v)) {
          dead++;
          continue;
        }
        sum += v;
        n++;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      sparsity = { features: s.length, dead, meanLog10: n ? sum / n : Number.NaN, minLog10: lo, maxLog10: hi };
    } finally {
      f.close();
    }
  }
  return { folder, cfg, msaeArch, archProblem, tensors, problem, sparsity };
}

function fmt(v: unknown): string {
  return v === undefined ? "-" : typeof v === "number" ? String(Number(v.toPrecision(6))) : JSON.stringify(v);
}

export function formatSaeFolder(d: SaeFolderDescription): string {
  const { cfg } = d;
  const m = cfg.metadata;
  const lines: string[] = [];
  const kv = (k: string, v: string) => lines.push(`${k.padEnd(24)} ${v}`);
  kv("folder", d.folder);
  kv(
    "cfg.json layout",
    `SAELens ${cfg.layout}${m.sae_lens_version ? ` (sae_lens_version ${m.sae_lens_version})` : ""}`,
  );
  kv("architecture", `${cfg.architecture} (SAELens) -> ${d.msaeArch ?? `not loadable: ${d.archProblem}`}`);
  kv("d_in x d_sae", `${cfg.d_in} x ${cfg.d_sae} (expansion ${fmt(cfg.d_sae / cfg.d_in)})`);
  kv("dtype, device", `${cfg.dtype}, ${cfg.device}`);
  kv("apply_b_dec_to_input", String(cfg.apply_b_dec_to_input));
  kv("normalize_activations", cfg.normalize_activations);
  if (cfg.reshape_activations !== "none") kv("reshape_activations", cfg.reshape_activations);
  for (const [k, v] of Object.entries(cfg.extra)) kv(k, fmt(v));
  for (const k of ["model_name", "hook_name", "hook_head_index", "context_size", "prepend_bos", "dataset_path"])
    if (m[k] !== undefined) kv(k, fmt(m[k]));
  if (m.msae_version) kv("msae_version", m.msae_version);
  if (m.reconstruct) kv("reconstruct", m.reconstruct);
  if (m.activation_norm_scaling_factor !== undefined) kv("activation scale", fmt(m.activation_norm_scaling_factor));
  if (m.msae_folded_scaling_factor !== undefined) kv("folded scale", fmt(m.msae_folded_scaling_factor));
  for (const k of ["l0", "explained_variance", "dead_count"]) if (m[k] !== undefined) kv(k, fmt(m[k]));
  kv("weights check", d.problem ? `PROBLEM: ${d.problem}` : "standard tensors match cfg.json");
  if (d.sparsity) {
    const s = d.sparsity;
    kv(
      "sparsity",
      `${s.features} features, ${s.dead} never active, log10 density mean ${fmt(s.meanLog10)} (min ${fmt(s.minLog10)}, max ${fmt(s.maxLog10)})`,
    );
  } else kv("sparsity", "no sparsity.safetensors");
  lines.push("", "tensor                   dtype  shape");
  for (const t of d.tensors) lines.push(`${t.name.padEnd(24)} ${t.dtype.padEnd(6)} [${t.shape.join(", ")}]`);
  return lines.join("\n");
}
