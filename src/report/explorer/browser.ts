/// <reference lib="dom" />
/**
 * The live explorer page's script (bundled for the browser by bundle.ts; no node: imports).
 *
 * It reads /explorer/saes.json (the SAEs of the run folder and the model each runs with), fetches
 * the chosen SAE's cfg.json + sae_weights.safetensors and the model's config.json, tokenizer.json,
 * tokenizer_config.json and model.safetensors from the server, builds the engine (engine.ts) on
 * the ref backend (with the reordered gemm of backend.ts), and for the typed text shows:
 *   - the tokens, shaded by the selected feature's activation;
 *   - per token (click it) its top features, each linking to /features/<id>;
 *   - per feature (click one, or search by id) its activation over the text, token by token;
 *   - search by top tokens through /features/index.json when the run has one (msae features),
 *     and always among the features active on matching tokens of this text.
 * window.msaeExplorer exposes ready / run / select for tests and `msae bench explorer`.
 */
import { ExplorerBackend } from "./backend.ts";
import { type Exploration, ExplorerEngine, type ExplorerParts } from "./engine.ts";

interface SaeListing {
  id: string;
  arch: string;
  hook: string;
  d_in: number | null;
  d_sae: number | null;
  model: string | null;
  problem: string | null;
}
interface Listing {
  run: string;
  saes: SaeListing[];
  models: Record<string, { name: string; tokenizer_config: boolean }>;
  features_index: boolean;
}
interface FeatureIndexEntry {
  id: number;
  top_tokens?: string[];
}

const TOP_PER_TOKEN = 8;

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`explorer page has no #${id}`);
  return el;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function status(text: string, bad = false): void {
  const s = $("status");
  s.textContent = text;
  s.className = bad ? "bad" : "";
}

async function fetchOk(url: string): Promise<Response> {
  const r = await fetch(url, { cache: "no-cache" });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r;
}
const fetchJson = async (url: string): Promise<unknown> => (await fetchOk(url)).json();
const fetchBytes = async (url: string): Promise<ArrayBuffer> => (await fetchOk(url)).arrayBuffer();

/** Shows a token's text with its whitespace visible. */
function showToken(t: string): string {
  return t.replace(/\n/g, "\u21b5").replace(/\t/g, "\u2192") || "\u2205";
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
}

class ExplorerUi {
  private engine: ExplorerEngine | null = null;
  private result: Exploration | null = null;
  private selected: number | null = null;
  private selectedToken: number | null = null;
  private featureIndex: FeatureIndexEntry[] | null = null;
  readonly timings: Record<string, number> = {};

  async load(): Promise<{ sae: string; features: number; hook: string; loadMs: number }> {
    const t0 = performance.now();
    const listing = (await fetchJson("/explorer/saes.json")) as Listing;
    const wanted = new URLSearchParams(location.search).get("sae");
    const usable = listing.saes.filter((s) => s.problem === null && s.model !== null);
    const select = $("sae") as HTMLSelectElement;
    for (const s of listing.saes) {
      const o = el("option", `${s.id}${s.problem ? ` (${s.problem})` : ` (d_sae ${s.d_sae})`}`);
      o.value = s.id;
      o.disabled = s.problem !== null;
      select.append(o);
    }
    const sae = usable.find((s) => s.id === wanted) ?? usable[0];
    if (!sae) throw new Error(`no usable SAE in run ${listing.run} (expected sae/<arch>/<hook>/cfg.json)`);
    select.value = sae.id;
    select.onchange = () => {
      location.search = `?sae=${encodeURIComponent(select.value)}`;
    };
    const modelId = sae.model as string;
    const model = listing.models[modelId];
    status(`loading ${model.name} and ${sae.id} ...`);
    const saeUrl = `/sae/${sae.id.split("/").map(encodeURIComponent).join("/")}`;
    const modelUrl = `/model/${encodeURIComponent(modelId)}`;
    const [modelConfig, tokenizerJson, tokenizerConfig, modelWeights, saeCfg, saeWeights] = await Promise.all([
      fetchJson(`${modelUrl}/config.json`),
      fetchJson(`${modelUrl}/tokenizer.json`),
      model.tokenizer_config ? fetchJson(`${modelUrl}/tokenizer_config.json`) : Promise.resolve({}),
      fetchBytes(`${modelUrl}/model.safetensors`),
      fetchJson(`${saeUrl}/cfg.json`),
      fetchBytes(`${saeUrl}/sae_weights.safetensors`),
    ]);
    const t1 = performance.now();
    const parts: ExplorerParts = {
      modelConfig: modelConfig as ExplorerParts["modelConfig"],
      modelWeights,
      tokenizerJson: tokenizerJson as ExplorerParts["tokenizerJson"],
      tokenizerConfig: tokenizerConfig as Record<string, unknown>,
      saeCfg,
      saeWeights,
      names: { model: model.name, sae: saeUrl },
    };
    this.engine = new ExplorerEngine(parts, new ExplorerBackend());
    const t2 = performance.now();
    this.timings.fetch_ms = t1 - t0;
    this.timings.build_ms = t2 - t1;
    $("title").textContent = `${listing.run}: ${sae.id}`;
    $("about").textContent =
      `${model.name} (${this.engine.model.info.architecture}, ${this.engine.model.dims.nLayers} layers, ` +
      `d_model ${this.engine.model.dims.dModel}) up to ${this.engine.hook}; SAE ${this.engine.sae.sae.arch} with ` +
      `${this.engine.features} features; running in this browser on msae's TypeScript engine.`;
    if (listing.features_index) {
      try {
        const list = ((await fetchJson("/features/index.json")) as { features?: FeatureIndexEntry[] }).features;
        if (Array.isArray(list)) this.featureIndex = list;
      } catch {
        this.featureIndex = null; // search by id still works
      }
    }
    return { sae: sae.id, features: this.engine.features, hook: this.engine.hook, loadMs: t2 - t0 };
  }

  /** Runs the text and redraws; returns the exploration and its time. */
  run(text: string): Exploration & { ms: number } {
    if (!this.engine) throw new Error("the explorer is still loading");
    const t0 = performance.now();
    const r = this.engine.explore(text);
    const ms = performance.now() - t0;
    this.timings.run_ms = ms;
    this.result = r;
    this.selectedToken = null;
    status(
      `${r.ids.length} tokens in ${ms.toFixed(0)} ms${r.truncated ? " (cut to the model's context)" : ""}` +
        (this.engine.prependBos ? "; BOS prepended as in training" : ""),
    );
    if (this.selected === null || this.selected >= r.m) this.selected = this.topFeatures(-1, 1)[0]?.id ?? null;
    this.draw();
    return { ...r, ms };
  }

  /** The top `n` features of token t (t = -1: by max over the text), active ones only. */
  private topFeatures(t: number, n: number): { id: number; v: number }[] {
    const r = this.result;
    if (!r || r.ids.length === 0) return [];
    const { m, codes } = r;
    const score = new Float32Array(m);
    if (t >= 0) score.set(codes.subarray(t * m, (t + 1) * m));
    else {
      const first = this.engine?.prependBos && r.ids.length > 1 ? 1 : 0; // BOS features dominate: skip it
      for (let s = first; s < r.ids.length; s++)
        for (let i = 0; i < m; i++) if (codes[s * m + i] > score[i]) score[i] = codes[s * m + i];
    }
    const out: { id: number; v: number }[] = [];
    for (let i = 0; i < m; i++) if (score[i] > 0) out.push({ id: i, v: score[i] });
    out.sort((a, b) => b.v - a.v || a.id - b.id);
    return out.slice(0, n);
  }

  select(feature: number): void {
    if (!this.engine || !Number.isInteger(feature) || feature < 0 || feature >= this.engine.features) {
      status(`no feature ${feature}: ids run 0..${(this.engine?.features ?? 1) - 1}`, true);
      return;
    }
    this.selected = feature;
    this.draw();
  }

  private featureLink(id: number, v?: number): HTMLElement {
    const row = el("div", undefined, "feat");
    const b = el("button", `#${id}`);
    b.onclick = () => this.select(id);
    row.append(b);
    if (v !== undefined) row.append(el("span", fmt(v), "val"));
    const a = el("a", "page");
    a.href = `/features/${id}`;
    row.append(a);
    return row;
  }

  private draw(): void {
    const r = this.result;
    const tokensBox = $("tokens");
    tokensBox.replaceChildren();
    if (!r) return;
    const m = r.m;
    const f = this.selected;
    let max = 0;
    if (f !== null) for (let t = 0; t < r.ids.length; t++) max = Math.max(max, r.codes[t * m + f]);
    r.tokens.forEach((tok, t) => {
      const span = el("span", showToken(tok), "tok");
      const v = f === null ? 0 : r.codes[t * m + f];
      if (v > 0 && max > 0) span.style.background = `rgba(255, 120, 0, ${(0.15 + 0.85 * (v / max)).toFixed(3)})`;
      if (t === this.selectedToken) span.classList.add("sel");
      span.title = `token ${t} (id ${r.ids[t]})${f === null ? "" : `: #${f} = ${fmt(v)}`}`;
      span.onclick = () => {
        this.selectedToken = t;
        this.draw();
      };
      tokensBox.append(span);
    });

    const tokPanel = $("token-panel");
    tokPanel.replaceChildren();
    if (this.selectedToken !== null) {
      const t = this.selectedToken;
      tokPanel.append(el("h3", `token ${t} "${showToken(r.tokens[t])}": top features`));
      const top = this.topFeatures(t, TOP_PER_TOKEN);
      if (top.length === 0) tokPanel.append(el("p", "no active feature"));
      for (const { id, v } of top) tokPanel.append(this.featureLink(id, v));
    } else {
      tokPanel.append(el("h3", "top features over the text"));
      for (const { id, v } of this.topFeatures(-1, TOP_PER_TOKEN)) tokPanel.append(this.featureLink(id, v));
      tokPanel.append(el("p", "click a token for its own top features", "hint"));
    }

    const featPanel = $("feature-panel");
    featPanel.replaceChildren();
    if (f === null) return;
    const head = el("h3");
    const link = el("a", `feature #${f}`);
    link.href = `/features/${f}`;
    head.append(link, document.createTextNode(` max ${fmt(max)} over this text`));
    featPanel.append(head);
    const bars = el("div", undefined, "bars");
    r.tokens.forEach((tok, t) => {
      const v = r.codes[t * m + f];
      const row = el("div", undefined, "bar-row");
      row.append(el("span", showToken(tok), "bar-tok"));
      const bar = el("span", undefined, "bar");
      bar.style.width = `${max > 0 ? Math.round((160 * v) / max) : 0}px`;
      row.append(bar, el("span", v > 0 ? fmt(v) : "", "val"));
      bars.append(row);
    });
    featPanel.append(bars);
  }

  search(query: string): void {
    const out = $("search-results");
    out.replaceChildren();
    const q = query.trim();
    if (q === "") return;
    if (/^#?\d+$/.test(q)) {
      this.select(Number(q.replace("#", "")));
      return;
    }
    const r = this.result;
    const needle = q.toLowerCase();
    if (this.featureIndex) {
      const hits = this.featureIndex.filter((e) => e.top_tokens?.some((t) => t.toLowerCase().includes(needle)));
      out.append(el("p", `${hits.length} feature${hits.length === 1 ? "" : "s"} with "${q}" among their top tokens`));
      for (const h of hits.slice(0, 20)) out.append(this.featureLink(h.id));
    } else out.append(el("p", "no features index in this run (msae features writes features/index.json)", "hint"));
    if (r) {
      const score = new Map<number, number>();
      r.tokens.forEach((tok, t) => {
        if (!tok.toLowerCase().includes(needle)) return;
        for (const { id, v } of this.topFeatures(t, TOP_PER_TOKEN)) score.set(id, Math.max(score.get(id) ?? 0, v));
      });
      const ranked = [...score.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
      out.append(el("p", `features active on tokens matching "${q}" in this text: ${ranked.length}`));
      for (const [id, v] of ranked) out.append(this.featureLink(id, v));
    }
  }
}

const ui = new ExplorerUi();
const ready = ui.load();

declare global {
  interface Window {
    msaeExplorer: {
      ready: typeof ready;
      run(text: string): { ids: number[]; tokens: string[]; codes: number[]; m: number; ms: number };
      select(feature: number): void;
      timings: Record<string, number>;
    };
  }
}

window.msaeExplorer = {
  ready,
  run(text: string) {
    ($("text") as HTMLTextAreaElement).value = text;
    const r = ui.run(text);
    return { ids: Array.from(r.ids), tokens: r.tokens, codes: Array.from(r.codes), m: r.m, ms: r.ms };
  },
  select: (f) => ui.select(f),
  timings: ui.timings,
};

ready
  .then(() => {
    const area = $("text") as HTMLTextAreaElement;
    const go = () => {
      try {
        ui.run(area.value);
      } catch (e) {
        status((e as Error).message, true);
      }
    };
    $("run").onclick = go;
    area.onkeydown = (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) go();
    };
    const search = $("search") as HTMLInputElement;
    search.onkeydown = (ev) => {
      if (ev.key === "Enter") ui.search(search.value);
    };
    $("search-go").onclick = () => ui.search(search.value);
    go();
  })
  .catch((e: Error) => status(`could not start the explorer: ${e.message}`, true));
