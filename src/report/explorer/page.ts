/**
 * The live explorer's HTML: a static shell (no inline script) that loads /explorer/explorer.js
 * (browser.ts bundled by bundle.ts). Everything shown is built by the script with textContent.
 */

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d232b; background: #fafbfc; }
header { padding: 10px 18px; background: #20303f; color: #fff; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
header h1 { font-size: 17px; margin: 0; }
header a { color: #cfe3ff; }
main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(260px, 1fr); gap: 16px; padding: 14px 18px; }
textarea { width: 100%; box-sizing: border-box; height: 90px; font: 14px/1.4 ui-monospace, monospace; }
#status { margin: 6px 0; color: #445; min-height: 1.4em; }
#status.bad { color: #b00020; font-weight: 600; }
#about { color: #556; font-size: 13px; }
#tokens { font: 15px/2 ui-monospace, monospace; background: #fff; border: 1px solid #d5dae0; padding: 10px; min-height: 60px; }
.tok { display: inline-block; line-height: 1.5; padding: 2px 1px; margin: 0 1px 4px; border-radius: 3px; cursor: pointer; white-space: pre; border-bottom: 1px solid #ccd; }
.tok.sel { outline: 2px solid #1565c0; }
section { background: #fff; border: 1px solid #d5dae0; padding: 8px 12px; margin-bottom: 12px; }
h3 { font-size: 14px; margin: 4px 0 8px; }
.feat { display: flex; gap: 8px; align-items: center; margin: 2px 0; }
.feat button { font: 13px ui-monospace, monospace; min-width: 64px; }
.val { font: 12px ui-monospace, monospace; color: #333; }
.hint { color: #778; font-size: 12px; }
.bars { font: 12px ui-monospace, monospace; max-height: 420px; overflow-y: auto; }
.bar-row { display: flex; gap: 6px; align-items: center; }
.bar-tok { width: 110px; overflow: hidden; white-space: pre; text-align: right; }
.bar { display: inline-block; height: 10px; background: #ff7800; }
`;

export function explorerHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>msae explorer</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header><h1 id="title">msae explorer</h1><label>SAE <select id="sae"></select></label><a href="/">run index</a></header>
<main>
<div>
<p id="about">loading...</p>
<textarea id="text" maxlength="4000" spellcheck="false">The jury said it did find that many of the voters had been paid to vote for the new city hall.</textarea>
<div><button id="run">Run</button> <span class="hint">Ctrl+Enter runs; click a token for its features, a feature for its activations</span></div>
<p id="status">loading the model and the SAE...</p>
<div id="tokens"></div>
<section id="feature-panel"></section>
</div>
<div>
<section><h3>feature search</h3>
<input id="search" placeholder="feature id, or a token" size="22"> <button id="search-go">Search</button>
<div id="search-results"></div></section>
<section id="token-panel"></section>
</div>
</main>
<script type="module" src="/explorer/explorer.js"></script>
</body>
</html>
`;
}
