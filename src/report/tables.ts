/**
 * Table 1 of the paper, ours: one table per hook (layer) and one averaged over layers, rows = the
 * architectures (the paper's five cumulative rows, then the baselines), columns = the paper's five
 * (MSE, L0 Sparsity, KL div score, L2 ratio, CE loss score) then EV, L0, L1, cossim, frac_alive,
 * train time and tokens/s. A cell is "mean ± std" over seeds (just the mean for one seed), each
 * number written by formatMetric, so table.md can be checked against results.json. The paper's own
 * Table 1 (Gemma-2-2B) is printed beside it, unchanged.
 */
import type { SaeArch } from "../sae/types.ts";
import { findSummary, type SummaryRow } from "./results.ts";
import { summarize } from "./stats.ts";

export interface Column {
  metric: string;
  title: string;
  /** Fixed decimals, or significant digits when `sig`. */
  digits: number;
  sig?: boolean;
}

export const TABLE_COLUMNS: readonly Column[] = [
  { metric: "mse", title: "MSE", digits: 4, sig: true },
  { metric: "sparsity_pct", title: "L0 Sparsity %", digits: 2 },
  { metric: "kl_div_score", title: "KL div score", digits: 3 },
  { metric: "l2_ratio", title: "L2 ratio", digits: 3 },
  { metric: "ce_loss_score", title: "CE loss score", digits: 3 },
  { metric: "explained_variance", title: "EV", digits: 3 },
  { metric: "l0", title: "L0", digits: 1 },
  { metric: "l1", title: "L1", digits: 4, sig: true },
  { metric: "cossim", title: "cossim", digits: 3 },
  { metric: "frac_alive", title: "frac_alive", digits: 3 },
  { metric: "train_seconds", title: "train time (s)", digits: 1 },
  { metric: "train_tokens_per_s", title: "tokens/s", digits: 0 },
];

export const ARCH_TITLES: Record<SaeArch, string> = {
  base: "Base Model",
  layernorm: "+ Layer Norm",
  adaptive: "+ Adaptive Norm",
  attention: "+ Attention",
  multiscale: "+ Multi-scale",
  relu: "ReLU (SAELens standard)",
  topk: "TopK",
  batchtopk: "BatchTopK",
  jumprelu: "JumpReLU",
  gated: "Gated",
  matryoshka: "Matryoshka",
};

/** The paper's Table 1 (Gemma-2-2B, layers 5/12/19), as printed: MSE, L0 Sparsity %, KL div, L2 ratio, CE loss. */
export const PAPER_TABLE1: readonly { arch: SaeArch; values: [number, number, number, number, number] }[] = [
  { arch: "base", values: [53.0, 77.038, -0.503, 0.324, -0.559] },
  { arch: "layernorm", values: [47.5, 56.639, -0.36, 0.048, -0.401] },
  { arch: "adaptive", values: [47.5, 60.024, -0.286, 0.035, -0.329] },
  { arch: "attention", values: [47.5, 64.132, -0.342, 0.038, -0.388] },
  { arch: "multiscale", values: [47.75, 87.03, -0.49, 0.092, -0.546] },
];

export function formatNumber(v: number, col: Pick<Column, "digits" | "sig">): string {
  if (!Number.isFinite(v)) return "n/a";
  if (col.sig) {
    if (v === 0) return "0";
    const s = v.toPrecision(col.digits);
    return s.includes("e") ? s : String(Number(s));
  }
  return v.toFixed(col.digits);
}

function cell(row: SummaryRow | undefined, col: Column): string {
  if (!row || row.n === 0) return "n/a";
  const m = formatNumber(row.mean, col);
  return row.n > 1 ? `${m} ± ${formatNumber(row.std, col)}` : m;
}

/** Summary rows averaged over hooks: the mean over hooks of each hook's seed-mean (std over all runs' values is not mixed in). */
export function acrossHooks(rows: readonly SummaryRow[], hooks: readonly string[]): SummaryRow[] {
  const out: SummaryRow[] = [];
  const keys = new Set(rows.map((r) => `${r.arch}\u0000${r.metric}`));
  for (const key of keys) {
    const [arch, metric] = key.split("\u0000") as [SaeArch, string];
    const per = hooks.map((h) => findSummary(rows, arch, h, metric)).filter((r): r is SummaryRow => !!r && r.n > 0);
    const s = summarize(per.map((r) => r.mean));
    out.push({ arch, hook: "all", metric, ...s });
  }
  return out;
}

function markdownTable(rows: readonly SummaryRow[], archs: readonly SaeArch[], hook: string): string {
  const head = `| Model variant | ${TABLE_COLUMNS.map((c) => c.title).join(" | ")} |`;
  const sep = `|---|${TABLE_COLUMNS.map(() => "---:").join("|")}|`;
  const body = archs.map(
    (a) =>
      `| ${ARCH_TITLES[a]} | ${TABLE_COLUMNS.map((c) => cell(findSummary(rows, a, hook, c.metric), c)).join(" | ")} |`,
  );
  return [head, sep, ...body].join("\n");
}

export function paperTableMarkdown(): string {
  const cols = TABLE_COLUMNS.slice(0, 5);
  return [
    `| Model variant | ${cols.map((c) => c.title).join(" | ")} |`,
    `|---|${cols.map(() => "---:").join("|")}|`,
    ...PAPER_TABLE1.map(
      (r) => `| ${ARCH_TITLES[r.arch]} | ${r.values.map((v, i) => (i === 1 ? `${v}%` : String(v))).join(" | ")} |`,
    ),
  ].join("\n");
}

export interface TableInput {
  summary: readonly SummaryRow[];
  archs: readonly SaeArch[];
  hooks: readonly string[];
  seeds: number;
  title: string;
}

export function tableMarkdown(t: TableInput): string {
  const parts = [`# ${t.title}`, ""];
  parts.push(
    `Cells are mean ± std over ${t.seeds} seed${t.seeds === 1 ? "" : "s"} (95% intervals in results.json). ` +
      "MSE is per element in the model's units; L0 Sparsity % = 100 (1 - L0/m); KL div and CE loss scores: 1 is perfect, 0 is as bad as zero-ablation, negative is worse.",
    "",
  );
  for (const hook of t.hooks) parts.push(`## ${hook}`, "", markdownTable(t.summary, t.archs, hook), "");
  if (t.hooks.length > 1) {
    parts.push(
      "## Mean over the layers",
      "",
      "Each cell: the mean over layers of the per-layer seed means (± their std over layers).",
      "",
    );
    parts.push(markdownTable(acrossHooks(t.summary, t.hooks), t.archs, "all"), "");
  }
  parts.push("## The paper's Table 1 (Gemma-2-2B, for comparison; not re-run here)", "", paperTableMarkdown(), "");
  return parts.join("\n");
}

/** table.csv: one line per (hook, architecture); columns mean and std of every table metric. */
export function tableCsv(t: TableInput): string {
  const head = ["hook", "arch", "variant", "seeds", ...TABLE_COLUMNS.flatMap((c) => [c.metric, `${c.metric}_std`])];
  const lines = [head.join(",")];
  for (const hook of t.hooks)
    for (const a of t.archs) {
      const vals = TABLE_COLUMNS.flatMap((c) => {
        const r = findSummary(t.summary, a, hook, c.metric);
        return r && r.n > 0 ? [String(r.mean), String(r.std)] : ["", ""];
      });
      const n = findSummary(t.summary, a, hook, "mse")?.n ?? 0;
      lines.push([hook, a, `"${ARCH_TITLES[a]}"`, String(n), ...vals].join(","));
    }
  return `${lines.join("\n")}\n`;
}
