/**
 * report/index.html: one self-contained page (opens from disk, nothing fetched): the set-up, our
 * Table 1 per layer and over layers, the paper's Table 1 beside it, every chart's SVG inline, and
 * the facts a reader needs to judge the numbers (the reconstruct mode; eq. 2-3 being one affine
 * LayerNorm except through eps under per-token statistics).
 */
import type { SaeArch } from "../sae/types.ts";
import type { Chart } from "./charts.ts";
import { type AblationSetup, findSummary, type SummaryRow } from "./results.ts";
import { ARCH_TITLES, acrossHooks, formatNumber, PAPER_TABLE1, TABLE_COLUMNS } from "./tables.ts";

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function table(rows: readonly SummaryRow[], archs: readonly SaeArch[], hook: string, id: string): string {
  const head = `<tr><th>Model variant</th>${TABLE_COLUMNS.map((c) => `<th>${escapeHtml(c.title)}</th>`).join("")}</tr>`;
  const body = archs
    .map((a) => {
      const cells = TABLE_COLUMNS.map((c) => {
        const r = findSummary(rows, a, hook, c.metric);
        if (!r || r.n === 0) return "<td>n/a</td>";
        const ci = r.ci95 ? ` title="95% CI ${formatNumber(r.ci95[0], c)} .. ${formatNumber(r.ci95[1], c)}"` : "";
        const std = r.n > 1 ? `<span class="std"> ± ${formatNumber(r.std, c)}</span>` : "";
        return `<td${ci}>${formatNumber(r.mean, c)}${std}</td>`;
      });
      return `<tr><th>${escapeHtml(ARCH_TITLES[a])}</th>${cells.join("")}</tr>`;
    })
    .join("\n");
  return `<table id="${id}" class="results">\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

function paperTable(): string {
  const cols = TABLE_COLUMNS.slice(0, 5);
  const rows = PAPER_TABLE1.map(
    (r) =>
      `<tr><th>${escapeHtml(ARCH_TITLES[r.arch])}</th>${r.values.map((v, i) => `<td>${i === 1 ? `${v}%` : v}</td>`).join("")}</tr>`,
  ).join("\n");
  return `<table id="paper-table" class="results"><thead><tr><th>Model variant</th>${cols.map((c) => `<th>${c.title}</th>`).join("")}</tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

export interface HtmlInput {
  setup: AblationSetup;
  summary: readonly SummaryRow[];
  charts: readonly (Chart & { svg: string })[];
}

export function reportHtml({ setup, summary, charts }: HtmlInput): string {
  const s = setup;
  const setupRows: [string, string][] = [
    ["model", `${s.model} (${s.model_architecture}, ${s.n_layers} blocks, d = ${s.d})`],
    [
      "hooks",
      `${s.hooks.join(", ")} (layers ${s.layers.join(", ")}: the paper's 5, 12, 19 of 26 at the same relative depths)`,
    ],
    ["SAE width", `m = ${s.m}`],
    [
      "training data",
      `${s.data.join(", ")}: ${s.harvest_tokens.toLocaleString("en-US")} tokens harvested, ${s.train_tokens.toLocaleString("en-US")} training tokens per SAE, context ${s.context}`,
    ],
    [
      "evaluation",
      `${s.eval_data.join(", ")}: ${s.eval_tokens.toLocaleString("en-US")} tokens, BOS/EOS/PAD positions excluded`,
    ],
    ["recipe", `${s.recipe} (reconstruct: "${s.reconstruct}")`],
    [
      "model forward",
      `${s.precision ?? "f32"}${s.precision === "bf16" ? " (bf16 weights and GEMMs, fp32 accumulation)" : ""}`,
    ],
    ["seeds", s.seeds.join(", ")],
    [
      "run",
      `msae ${s.msae_version} on ${s.machine}; ${s.started} to ${s.finished} (${(s.seconds / 60).toFixed(1)} min)`,
    ],
  ];
  const archs = s.archs;
  const tables = s.hooks
    .map((h, i) => `<h3>${escapeHtml(h)}</h3>\n${table(summary, archs, h, `table-${i}`)}`)
    .join("\n");
  const mean =
    s.hooks.length > 1
      ? `<h3>Mean over the layers</h3>\n${table(acrossHooks(summary, s.hooks), archs, "all", "table-mean")}`
      : "";
  const figures = charts
    .map(
      (c) =>
        `<figure id="chart-${c.file.replace(/\.svg$/, "")}" class="chart">\n${c.svg}\n<figcaption>${escapeHtml(c.title)} (<a href="${c.file}">${c.file}</a>)</figcaption>\n</figure>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>msae ablation: ${escapeHtml(s.model)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table.results { border-collapse: collapse; margin: 0.5em 0 1.5em; font-variant-numeric: tabular-nums; }
table.results th, table.results td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; }
table.results th:first-child { text-align: left; }
.std { color: #777; font-size: 90%; }
table.setup td, table.setup th { text-align: left; padding: 2px 10px 2px 0; vertical-align: top; }
.note { background: #f6f6f0; border-left: 4px solid #cc9; padding: 0.6em 1em; }
figure.chart { margin: 1em 0 2em; }
</style></head>
<body>
<h1>msae ablation: the paper's Table 1 on ${escapeHtml(s.model)}</h1>
<h2>Set-up</h2>
<table class="setup">${setupRows.map(([k, v]) => `<tr><th>${k}</th><td>${escapeHtml(v)}</td></tr>`).join("")}</table>
<div class="note"><p><b>Reconstruction mode.</b> This run used <code>reconstruct: "${escapeHtml(s.reconstruct)}"</code>:
${s.reconstruct === "paper" ? "the decoder output h W_dec + b_dec is compared with the raw input (eq. 6 literally)." : 'the normalized architectures de-normalize their output (sqrt(var + eps) (h W_dec + b_dec) + mu) before it is compared with x; eq. 6 literally ("paper") compares the normalized-space output with raw x.'}</p>
<p><b>About eq. 2-3.</b> With per-token statistics, the multi-scale normalization sum_s softmax(w)_s (g_s (x - mu)/sqrt(s var + eps) + b_s) is mathematically one affine LayerNorm (gain sum_s softmax(w)_s g_s / sqrt(s), bias sum_s softmax(w)_s b_s) except through eps; the ablation measures whether this reparameterization matters in training.</p>
<p>Metrics follow SAEBench's core definitions (token-weighted, special positions excluded), in the model's original units. KL div and CE loss scores are 1 when the SAE is perfect, 0 when as bad as zero-ablating the hook, negative when worse. The paper reports negative scores too; our numbers are printed as measured, not tuned to match.</p></div>
<h2>Results</h2>
<p>Cells: mean ± std over ${s.seeds.length} seed${s.seeds.length === 1 ? "" : "s"}; hover a cell for its 95% interval.</p>
${tables}
${mean}
<h2>The paper's Table 1 (Gemma-2-2B)</h2>
${paperTable()}
<h2>Charts</h2>
${figures}
</body></html>
`;
}
