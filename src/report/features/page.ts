/**
 * One static HTML page per feature (<id>.html), in the layout of a Neuronpedia feature page:
 * header with density and activation figures, then on the left the activation histogram, the
 * quantiles, the tokens the decoder direction promotes / suppresses and the nearest features by
 * decoder cosine; on the right the top activating contexts and samples from each quantile band,
 * every token shaded by the feature's activation (hover: the value). Self-contained (inline CSS,
 * inline SVG, no script, nothing fetched), so it opens from disk. All text is escaped.
 */
import { escapeHtml } from "../html.ts";
import { FEATURE_CSS } from "./style.ts";
import type { ContextExample, FeatureRecord, TokenEffect } from "./types.ts";

export interface SiteInfo {
  /** e.g. "multiscale SAE on blocks.3.hook_resid_post of tiny-gemma2". */
  title: string;
  /** d_sae. */
  m: number;
  tokens: number;
  logitNote: string;
}

/** A token string made visible: newline, tab, carriage return as symbols; empty as a middle dot. */
export function visibleToken(t: string): string {
  if (t === "") return "\u00b7";
  return t.replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5").replace(/\r/g, "\u240d");
}

export function formatValue(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1000 || a < 0.001) return v.toExponential(2);
  return v.toPrecision(3);
}

export function formatDensity(density: number, log10: number | null): string {
  if (log10 === null) return "0 (dead)";
  return `${(100 * density).toPrecision(3)}% (log10 ${log10.toFixed(2)})`;
}

function contextLine(e: ContextExample, max: number): string {
  const spans = e.tokens.map((t, i) => {
    const a = e.acts[i];
    const alpha = max > 0 ? Math.min(1, Math.max(0, a / max)) : 0;
    const cls = i === e.at ? ` class="at"` : "";
    const text = escapeHtml(visibleToken(t));
    if (!(alpha > 0)) return cls ? `<span${cls}>${text}</span>` : `<span>${text}</span>`;
    return `<span${cls} style="background:rgba(255,120,0,${alpha.toFixed(2)})" title="${formatValue(a)}">${text}</span>`;
  });
  return `<div class="ctx"><span class="val">${formatValue(e.value)}</span><span class="toks">${spans.join("")}</span><span class="where">ctx ${e.context} pos ${e.position}</span></div>`;
}

function histogramSvg(r: FeatureRecord): string {
  const counts = r.histogram.counts;
  const W = 360;
  const H = 120;
  const peak = Math.max(1, ...counts);
  const bw = W / counts.length;
  const bars = counts
    .map((c, i) => {
      const h = (c / peak) * (H - 4);
      const lo = (i / counts.length) * r.histogram.hi;
      const hi = ((i + 1) / counts.length) * r.histogram.hi;
      return c > 0
        ? `<rect x="${(i * bw).toFixed(1)}" y="${(H - h).toFixed(1)}" width="${Math.max(1, bw - 1).toFixed(1)}" height="${h.toFixed(1)}"><title>${formatValue(lo)} to ${formatValue(hi)}: ${c}</title></rect>`
        : "";
    })
    .join("");
  return `<svg class="hist" viewBox="0 0 ${W} ${H + 16}" width="${W}" height="${H + 16}" role="img" aria-label="activation histogram">
<g fill="#f08a24">${bars}</g><line x1="0" y1="${H}" x2="${W}" y2="${H}" stroke="#999"/>
<text x="0" y="${H + 13}" font-size="11">0</text><text x="${W}" y="${H + 13}" font-size="11" text-anchor="end">${formatValue(r.histogram.hi)}</text></svg>`;
}

function effects(list: readonly TokenEffect[], cls: string): string {
  if (list.length === 0) return '<p class="muted">none</p>';
  return `<table class="logits ${cls}">${list
    .map(
      (e) =>
        `<tr><td class="tok">${escapeHtml(visibleToken(e.token))}</td><td class="num">${formatValue(e.value)}</td></tr>`,
    )
    .join("")}</table>`;
}

export function featurePageHtml(
  r: FeatureRecord,
  site: SiteInfo,
  topTokensOf: (id: number) => readonly string[] = () => [],
): string {
  const prev = r.id > 0 ? `<a href="${r.id - 1}.html">&larr; ${r.id - 1}</a>` : "";
  const next = r.id + 1 < site.m ? `<a href="${r.id + 1}.html">${r.id + 1} &rarr;</a>` : "";
  const quant = r.quantiles.values.length
    ? `<table class="quant"><tr>${r.quantiles.levels.map((l) => `<th>${l === 1 ? "max" : `q${Number((100 * l).toFixed(2))}`}</th>`).join("")}</tr><tr>${r.quantiles.values.map((v) => `<td>${formatValue(v)}</td>`).join("")}</tr></table>`
    : "";
  const neighbours = r.neighbours.length
    ? `<table class="nb">${r.neighbours
        .map(
          (n) =>
            `<tr><td><a href="${n.id}.html">${n.id}</a></td><td class="num">${n.cosine.toFixed(3)}</td><td class="toks">${topTokensOf(
              n.id,
            )
              .slice(0, 3)
              .map((t) => `<span>${escapeHtml(visibleToken(t))}</span>`)
              .join("")}</td></tr>`,
        )
        .join("")}</table>`
    : '<p class="muted">none</p>';
  const top = r.top.length
    ? r.top.map((e) => contextLine(e, r.max)).join("\n")
    : `<p class="muted">This feature never fired on the ${site.tokens.toLocaleString("en-US")} tokens seen.</p>`;
  const bands = [...r.bands]
    .reverse()
    .filter((b) => b.count > 0)
    .map(
      (b) =>
        `<section class="band"><h3>Band ${escapeHtml(b.label)} <span class="muted">activations in [${formatValue(b.lo)}, ${b.hi === null ? `${formatValue(r.max)}]` : `${formatValue(b.hi)})`}: ${b.count.toLocaleString("en-US")} tokens, ${b.samples.length} random samples</span></h3>\n${b.samples.map((e) => contextLine(e, r.max)).join("\n")}</section>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Feature ${r.id} · ${escapeHtml(site.title)}</title>
<style>${FEATURE_CSS}</style></head>
<body>
<nav><a href="index.html">all features</a> ${prev} ${next}</nav>
<h1>Feature ${r.id}</h1>
<p class="sub">${escapeHtml(site.title)}</p>
<div class="stats">
<div><b>density</b> <span id="density">${formatDensity(r.density, r.log10_density)}</span></div>
<div><b>fires on</b> ${r.count.toLocaleString("en-US")} of ${site.tokens.toLocaleString("en-US")} tokens</div>
<div><b>max activation</b> <span id="max">${formatValue(r.max)}</span></div>
<div><b>mean when active</b> ${formatValue(r.mean_nonzero)}</div>
</div>
<div class="cols">
<div class="left">
<h2>Activation histogram</h2>
${r.count > 0 ? `<p class="muted">nonzero activations, ${r.histogram.counts.length} bins on (0, max]</p>\n${histogramSvg(r)}\n${quant}` : '<p class="muted">no activations</p>'}
<h2>Promoted tokens</h2>
${effects(r.logits.promoted, "pos")}
<h2>Suppressed tokens</h2>
${effects(r.logits.suppressed, "neg")}
<p class="muted small">${escapeHtml(site.logitNote)}</p>
<h2>Nearest features</h2>
<p class="muted">by decoder cosine</p>
${neighbours}
</div>
<div class="right">
<h2>Top activations</h2>
<div id="top">${top}</div>
${bands}
</div>
</div>
</body></html>
`;
}
