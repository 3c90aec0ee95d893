/**
 * The index page of `msae serve`: what the run folder holds (report, feature pages, SAEs with a
 * link to the explorer for each, activation stores, evaluations), every name HTML-escaped.
 */
import { basename } from "node:path";
import type { RunFolder } from "./run-folder.ts";

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const href = (parts: string[]): string => escapeHtml(`/${parts.map(encodeURIComponent).join("/")}`);

export function indexHtml(run: RunFolder): string {
  const li = (inner: string) => `<li>${inner}</li>`;
  const saes = run.saes.length
    ? run.saes
        .map((s) =>
          li(
            `<code>${escapeHtml(s.id)}</code> ` +
              (s.problem
                ? `<span class="bad">${escapeHtml(s.problem)}</span>`
                : `d_in ${s.dIn}, d_sae ${s.dSae}, on ${escapeHtml(basename(s.modelDir ?? ""))} &middot; <a href="/explorer/?sae=${escapeHtml(encodeURIComponent(s.id))}">explore</a>`) +
              ` &middot; <a href="${href(["sae", s.arch, s.hook, "cfg.json"])}">cfg.json</a>`,
          ),
        )
        .join("\n")
    : li("none (msae sae train writes sae/&lt;arch&gt;/&lt;hook&gt;/)");
  const stores = run.stores.length
    ? run.stores
        .map((s) =>
          li(
            `<code>${escapeHtml(s.hook)}</code> ` +
              (s.problem
                ? `<span class="bad">${escapeHtml(s.problem)}</span>`
                : `${s.tokens} tokens${s.complete ? "" : " (incomplete)"}`) +
              ` &middot; <a href="${href(["acts", s.hook, "manifest.json"])}">manifest.json</a>`,
          ),
        )
        .join("\n")
    : li("none");
  const evals = run.evals.length
    ? run.evals.map((f) => li(`<a href="${href(["eval", f])}">${escapeHtml(f)}</a>`)).join("\n")
    : li("none");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>msae: ${escapeHtml(run.name)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:24px auto;max-width:900px;color:#1d232b}
code{font-size:13px}.bad{color:#b00020}h2{font-size:17px;margin-top:22px}</style></head>
<body>
<h1>run ${escapeHtml(run.name)}</h1>
<h2>report</h2><ul>${run.report ? li('<a href="/report/">report/index.html</a>') : li("none (msae report writes report/)")}</ul>
<h2>features</h2><ul>${run.features ? li('<a href="/features/">feature pages</a>') : li("none (msae features writes features/)")}</ul>
<h2>SAEs</h2><ul>
${saes}
</ul>
<h2>live explorer</h2><ul>${run.saes.some((s) => !s.problem) ? li('<a href="/explorer/">open the explorer</a> (the model and the SAE run in your browser)') : li("needs an SAE")}</ul>
<h2>activation stores</h2><ul>
${stores}
</ul>
<h2>evaluations</h2><ul>
${evals}
</ul>
</body></html>
`;
}
