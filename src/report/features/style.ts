/** The CSS of the feature pages and the feature index (inline in every page: no file to fetch). */
export const FEATURE_CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.2em auto; max-width: 1280px; padding: 0 1em; color: #222; }
nav { display: flex; gap: 1.2em; font-size: 13px; }
a { color: #1a5fb4; text-decoration: none; } a:hover { text-decoration: underline; }
h1 { margin: 0.3em 0 0; font-size: 24px; } h2 { font-size: 15px; margin: 1.1em 0 0.3em; } h3 { font-size: 13px; margin: 1em 0 0.3em; }
.sub, .muted { color: #777; } .small { font-size: 11px; }
.stats { display: flex; flex-wrap: wrap; gap: 0.5em 2em; margin: 0.8em 0; padding: 0.6em 0.9em; background: #f6f6f3; border-radius: 6px; }
.cols { display: grid; grid-template-columns: 380px 1fr; gap: 2em; }
@media (max-width: 900px) { .cols { grid-template-columns: 1fr; } }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
td, th { padding: 1px 8px 1px 0; text-align: left; } td.num { text-align: right; }
table.logits td.tok { font-family: ui-monospace, monospace; white-space: pre; padding: 1px 6px; border-radius: 3px; }
table.logits.pos td.tok { background: #d7f0d7; } table.logits.neg td.tok { background: #f6d6d6; }
table.logits td { border-bottom: 2px solid #fff; }
table.nb td.toks span { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre; background: #fde6cf; border-radius: 3px; padding: 0 4px; margin-right: 4px; }
table.quant td, table.quant th { padding: 1px 10px 1px 0; font-size: 12px; }
.ctx { display: flex; align-items: baseline; gap: 0.6em; padding: 3px 0; border-bottom: 1px solid #eee; }
.ctx .val { min-width: 4.5em; text-align: right; font-variant-numeric: tabular-nums; color: #a04a00; font-size: 12px; }
.ctx .toks { font-family: ui-monospace, monospace; font-size: 12.5px; white-space: pre-wrap; word-break: break-all; flex: 1; }
.ctx .toks span { border-radius: 2px; }
.ctx .toks span.at { outline: 1.5px solid #a04a00; font-weight: 600; }
.ctx .where { color: #aaa; font-size: 11px; white-space: nowrap; }
table.features { width: 100%; margin-top: 0.6em; }
table.features th { cursor: pointer; user-select: none; border-bottom: 2px solid #ccc; padding: 4px 10px 4px 0; white-space: nowrap; }
table.features th.sorted::after { content: " \\25BE"; } table.features th.sorted.asc::after { content: " \\25B4"; }
table.features td { border-bottom: 1px solid #eee; padding: 3px 10px 3px 0; vertical-align: top; }
table.features td.toks span { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre; background: #fde6cf; border-radius: 3px; padding: 0 4px; margin-right: 4px; display: inline-block; }
table.features td.toks.pos span { background: #d7f0d7; }
#search { font-size: 15px; padding: 5px 8px; width: 28em; max-width: 100%; }
.bar { display: inline-block; height: 9px; background: #f08a24; vertical-align: middle; margin-right: 6px; }
`;
