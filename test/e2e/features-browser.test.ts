/**
 * msae features end to end: the CLI on a store harvested here (fixture model, seeded SAE under
 * runs/<name>/sae/<arch>/<hook>) writes the JSON shards and the static site to the default
 * runs/<name>/features/<arch>/<hook>; then in headless Chromium from disk (file://, no server):
 * the index lists every feature (DOM and screenshot), the search box filters by id and by token
 * text, a header click sorts; a feature page shows its contexts, histogram, logit tables and
 * neighbour links (DOM and screenshot). Hostile token text is shown as text, never as markup.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { indexPageHtml } from "../../src/report/features/index-page.ts";
import { featurePageHtml } from "../../src/report/features/page.ts";
import type { FeatureRecord } from "../../src/report/features/types.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { HOOK, harvestFixture, saveFixtureSae } from "../helpers/features-fixture.ts";
import { decodePng, inkFraction } from "../helpers/png.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "msae-features-site-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const M = 300; // two JSON shards
const run = join(dir, "run");
const out = join(run, "features", "relu", HOOK);

function msae(...args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, OMP_WAIT_POLICY: "passive" },
  });
}

before(async () => {
  const store = await harvestFixture(run);
  saveFixtureSae(join(run, "sae", "relu", HOOK), "relu", M, store.scale, 21);
});

test("msae features writes the shards, index.json and one page per feature to the default folder", () => {
  const r = msae("features", "--sae", join(run, "sae", "relu", HOOK), "--acts", join(run, "acts", HOOK), "--top", "8");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`${M} features \\(\\d+ alive\\) over \\d+ tokens`));
  const index = JSON.parse(readFileSync(join(out, "index.json"), "utf8"));
  assert.equal(index.d_sae, M);
  assert.equal(index.hook, HOOK);
  assert.deepEqual(index.shards, ["features-0000.json", "features-0001.json"]);
  assert.equal(index.features.length, M);
  const shard1 = JSON.parse(readFileSync(join(out, "features-0001.json"), "utf8"));
  assert.equal(shard1.first, 256);
  assert.equal(shard1.features.length, M - 256);
  assert.equal(shard1.features[0].id, 256);
  assert.ok(shard1.features[0].top.length <= 8);
  for (const f of [0, 255, 256, M - 1]) assert.ok(existsSync(join(out, `${f}.html`)));
  // A bad option: one line, exit 2.
  const bad = msae(
    "features",
    "--sae",
    join(run, "sae", "relu", HOOK),
    "--acts",
    join(run, "acts", HOOK),
    "--bands",
    "0,0.9,0.5",
  );
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^msae: msae features: --bands is "0,0.9,0.5": expected increasing quantile levels/);
  assert.equal(bad.stderr.trim().split("\n").length, 1);
  const both = msae("features", "--sae", join(run, "sae", "relu", HOOK), "--acts", "x", "--data", "brown:validation");
  assert.equal(both.status, 2);
  assert.match(both.stderr, /either as --acts <store folder> or as --model <dir> --data <spec>/);
});

const HOSTILE = `</script><img src=x onerror="window.pwned=1">&amp;`;

function hostileRecord(): FeatureRecord {
  const ex = { value: 2, context: 0, position: 1, start: 0, at: 1, ids: [5, 6], tokens: ["a", HOSTILE], acts: [0, 2] };
  return {
    id: 0,
    count: 1,
    density: 0.5,
    log10_density: Math.log10(0.5),
    max: 2,
    mean_nonzero: 2,
    quantiles: { levels: [0, 1], values: [2, 2] },
    histogram: { lo: 0, hi: 2, counts: [0, 1] },
    top: [ex],
    bands: [],
    logits: { promoted: [{ id: 6, token: HOSTILE, value: 1 }], suppressed: [] },
    neighbours: [],
  };
}

test("the index and a feature page render from disk; the search filters by id and token; headers sort", async (t) => {
  const browser = await launchBrowser();
  if (typeof browser === "string") {
    t.skip(browser);
    return;
  }
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(pathToFileURL(join(out, "index.html")).href);
    const ids = async (): Promise<number[]> =>
      page.evaluate(`[...document.querySelectorAll("#features tbody tr")].map((tr) => Number(tr.dataset.id))`);
    assert.equal((await ids()).length, M);
    const box = (sel: string): Promise<{ x: number; y: number; w: number; h: number }> =>
      page.evaluate(
        `(() => { const r = document.querySelector(${JSON.stringify(sel)}).getBoundingClientRect(); return { x: r.x + scrollX, y: r.y + scrollY, w: r.width, h: r.height }; })()`,
      );
    let png = decodePng(await page.screenshot());
    const table = await box("#features");
    assert.ok(table.w > 600 && table.h > 300, `table box ${table.w}x${table.h}`);
    assert.ok(inkFraction(png, table.x, table.y, table.w, 600) > 0.03, "the table has ink");
    // Search by id prefix.
    await page.fill("#search", "25");
    assert.deepEqual(
      (await ids()).sort((a, b) => a - b),
      [25, 250, 251, 252, 253, 254, 255, 256, 257, 258, 259],
    );
    // Search by token text: a top token of feature 7.
    const summaries = JSON.parse(readFileSync(join(out, "index.json"), "utf8")).features;
    const word = (summaries[7].top_tokens as string[]).find((s) => s.trim().length >= 2) ?? summaries[7].top_tokens[0];
    await page.fill("#search", word);
    const hits = await ids();
    assert.ok(hits.includes(7), `search ${JSON.stringify(word)} finds feature 7`);
    const lower = word.toLowerCase();
    for (const id of hits) {
      const s = summaries[id];
      assert.ok(
        [...s.top_tokens, ...s.promoted].some((x: string) => x.toLowerCase().includes(lower)),
        `feature ${id}`,
      );
    }
    assert.ok(hits.length < M, "the search filters");
    assert.match((await page.textContent("#count")) ?? "", new RegExp(`^${hits.length} of ${M} features`));
    // Sort by max activation (descending on first click).
    await page.fill("#search", "");
    await page.click('th[data-key="max"]');
    const order = await ids();
    for (let i = 1; i < order.length; i++) assert.ok(summaries[order[i - 1]].max >= summaries[order[i]].max);
    // A feature page (alive feature with the most tokens) via its link.
    const busiest = summaries.reduce((a: { density: number }, b: { density: number }) =>
      b.density > a.density ? b : a,
    );
    await page.click(`#features tbody tr[data-id="${busiest.id}"] a`);
    await page.waitForURL(`**/${busiest.id}.html`);
    const dom: { ctx: number; marked: number; bars: number; promoted: number; nb: number; title: string } =
      await page.evaluate(`({
        ctx: document.querySelectorAll("#top .ctx").length,
        marked: document.querySelectorAll("#top .ctx span.at").length,
        bars: document.querySelectorAll("svg.hist rect").length,
        promoted: document.querySelectorAll("table.logits.pos tr").length,
        nb: document.querySelectorAll("table.nb a").length,
        title: document.querySelector("h1").textContent,
      })`);
    assert.equal(dom.title, `Feature ${busiest.id}`);
    assert.equal(dom.ctx, 8);
    assert.equal(dom.marked, 8);
    assert.ok(dom.bars >= 5, `histogram bars ${dom.bars}`);
    assert.equal(dom.promoted, 10);
    assert.equal(dom.nb, 10);
    png = decodePng(await page.screenshot({ fullPage: true }));
    for (const sel of ["#top", "svg.hist", "table.logits.pos"]) {
      const b = await box(sel);
      assert.ok(inkFraction(png, b.x, b.y, b.w, b.h) > 0.02, `${sel} has ink`);
    }
    // Hostile token text stays text on both pages.
    writeFileSync(
      join(dir, "0.html"),
      featurePageHtml(hostileRecord(), { title: HOSTILE, m: 1, tokens: 2, logitNote: HOSTILE }),
    );
    writeFileSync(
      join(dir, "index.html"),
      indexPageHtml(
        [{ id: 0, density: 0.5, log10_density: -0.3, max: 2, top_tokens: [HOSTILE], promoted: [HOSTILE] }],
        {
          title: HOSTILE,
          tokens: 2,
          lines: [HOSTILE],
        },
      ),
    );
    for (const [f, sel] of [
      ["0.html", "#top span.at"],
      ["index.html", "#features td.toks span"],
    ]) {
      await page.goto(pathToFileURL(join(dir, f)).href);
      const r: { imgs: number; pwned: boolean; text: string } = await page.evaluate(
        `({ imgs: document.querySelectorAll("img").length, pwned: window.pwned === 1, text: document.querySelector(${JSON.stringify(sel)}).textContent })`,
      );
      assert.deepEqual(r, { imgs: 0, pwned: false, text: HOSTILE }, f);
    }
  } finally {
    await browser.close();
  }
});
