/**
 * index.html of the feature site: a searchable, sortable table of every feature (id, density,
 * log10 density, max activation, the tokens at its top activations, the tokens it promotes), each
 * row linking to <id>.html. The summaries are embedded in the page as JSON (a file:// page cannot
 * fetch index.json) and the table is drawn by a small inline script: the search box matches a
 * number against ids (prefix) and any other text against the top and promoted tokens
 * (case-insensitive substring); a header click sorts by that column. At most 2000 rows are drawn
 * at once (the count says how many match).
 */
import { escapeHtml } from "../html.ts";
import { FEATURE_CSS } from "./style.ts";
import type { FeatureSummary } from "./types.ts";

/** JSON safe inside a <script> element (no "</script>", no "<!--"). */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

const SCRIPT = `
const DATA = JSON.parse(document.getElementById("data").textContent);
const LIMIT = 2000;
const body = document.querySelector("#features tbody");
const count = document.getElementById("count");
const search = document.getElementById("search");
let sortKey = "density", asc = false;
const vis = (t) => t === "" ? "\\u00b7" : t.replace(/\\n/g, "\\u21b5").replace(/\\t/g, "\\u21e5").replace(/\\r/g, "\\u240d");
function cell(tag, text, cls) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
function fmt(v) { if (v === 0) return "0"; const a = Math.abs(v); return a >= 1000 || a < 0.001 ? v.toExponential(2) : v.toPrecision(3); }
function matches(f, q) {
  if (q === "") return true;
  if (/^\\d+$/.test(q)) return String(f.id).startsWith(q);
  const l = q.toLowerCase();
  return f.top_tokens.some((t) => t.toLowerCase().includes(l)) || f.promoted.some((t) => t.toLowerCase().includes(l));
}
function key(f) { const v = f[sortKey]; return v === null ? -Infinity : v; }
function draw() {
  const q = search.value.trim();
  const rows = DATA.features.filter((f) => matches(f, q));
  rows.sort((a, b) => (asc ? 1 : -1) * (key(a) - key(b)) || a.id - b.id);
  body.textContent = "";
  const frag = document.createDocumentFragment();
  const maxDensity = Math.max(1e-12, ...DATA.features.map((f) => f.density));
  for (const f of rows.slice(0, LIMIT)) {
    const tr = document.createElement("tr");
    tr.dataset.id = f.id;
    const id = cell("td"); const a = document.createElement("a"); a.href = f.id + ".html"; a.textContent = f.id; id.appendChild(a); tr.appendChild(id);
    const d = cell("td"); const bar = cell("span", undefined, "bar"); bar.style.width = (60 * f.density / maxDensity).toFixed(1) + "px"; d.appendChild(bar); d.appendChild(document.createTextNode((100 * f.density).toPrecision(3) + "%")); tr.appendChild(d);
    tr.appendChild(cell("td", f.log10_density === null ? "dead" : f.log10_density.toFixed(2), "num"));
    tr.appendChild(cell("td", fmt(f.max), "num"));
    for (const [list, cls] of [[f.top_tokens, "toks"], [f.promoted, "toks pos"]]) {
      const td = cell("td", undefined, cls);
      for (const t of list) td.appendChild(cell("span", vis(t)));
      tr.appendChild(td);
    }
    frag.appendChild(tr);
  }
  body.appendChild(frag);
  count.textContent = rows.length + " of " + DATA.features.length + " features" + (rows.length > LIMIT ? " (first " + LIMIT + " shown)" : "");
  for (const th of document.querySelectorAll("#features th")) {
    th.classList.toggle("sorted", th.dataset.key === sortKey);
    th.classList.toggle("asc", th.dataset.key === sortKey && asc);
  }
}
for (const th of document.querySelectorAll("#features th[data-key]"))
  th.addEventListener("click", () => { const k = th.dataset.key; asc = sortKey === k ? !asc : k === "id"; sortKey = k; draw(); });
search.addEventListener("input", draw);
draw();
`;

export interface IndexInfo {
  title: string;
  tokens: number;
  lines: string[];
}

export function indexPageHtml(features: readonly FeatureSummary[], info: IndexInfo): string {
  const alive = features.filter((f) => f.density > 0).length;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Features · ${escapeHtml(info.title)}</title>
<style>${FEATURE_CSS}</style></head>
<body>
<h1>Features</h1>
<p class="sub">${escapeHtml(info.title)}</p>
<div class="stats"><div><b>features</b> ${features.length.toLocaleString("en-US")}</div><div><b>alive</b> ${alive.toLocaleString("en-US")}</div><div><b>tokens</b> ${info.tokens.toLocaleString("en-US")}</div></div>
${info.lines.map((l) => `<p class="muted small">${escapeHtml(l)}</p>`).join("\n")}
<p><input id="search" type="search" placeholder="search: a feature id, or token text" autofocus> <span id="count" class="muted"></span></p>
<table id="features" class="features"><thead><tr>
<th data-key="id">id</th><th data-key="density">density</th><th data-key="log10_density">log10</th><th data-key="max">max act</th><th>top tokens</th><th>promoted tokens</th>
</tr></thead><tbody></tbody></table>
<script type="application/json" id="data">${scriptJson({ features })}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
