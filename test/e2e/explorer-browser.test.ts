/**
 * The live explorer in headless Chromium (Debian's chromium via playwright-core), served by
 * `msae serve`'s server from a run folder with two SAEs on the tiny Gemma-2 fixture:
 *  - the codes the page computes (bundled TypeScript engine, ref backend, weights fetched as
 *    safetensors and parsed from an ArrayBuffer) equal those computed in Node by the file loaders
 *    (loadModel, loadSae) on the process's default backend (native when built): max |diff| <= 1e-4;
 *  - every request the page makes goes to the server (nothing from a CDN), no page errors;
 *  - the page renders: one token span per token, feature links to /features/<id>, search by top
 *    tokens (features/index.json) and by id, and a screenshot with ink in the tokens box and in the
 *    feature panel (decoded by png.ts).
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { getBackend } from "../../src/core/backends/index.ts";
import { loadModel } from "../../src/lm/loader.ts";
import { startServer } from "../../src/report/serve/server.ts";
import { BASELINE_FACTORIES } from "../../src/sae/baselines/index.ts";
import { loadSae } from "../../src/sae/load.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { FIXTURE_MODEL, makeRunFolder } from "../helpers/explorer-fixture.ts";
import { decodePng, inkFraction } from "../helpers/png.ts";

const dir = mkdtempSync(join(tmpdir(), "msae-explorer-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const TEXT = "The jury said the city hall was paid for, and voters were told so.";

/** Node's codes [T, m] for the text: BOS + tokens, the model up to the hook, the SAE. */
function nodeCodes(saeFolder: string, hook: string): { ids: number[]; codes: Float32Array; m: number } {
  const backend = getBackend();
  const model = loadModel(FIXTURE_MODEL, { backend });
  const { sae } = loadSae<Float32Array>(saeFolder, BASELINE_FACTORIES, backend, { arrayType: "f32" });
  const tok = model.tokenizer as NonNullable<typeof model.tokenizer>;
  const ids = [model.info.bosId as number, ...Array.from(tok.encode(TEXT))];
  const act = model.run([ids], { capture: [hook] }).cache[hook].data;
  const T = ids.length;
  const m = sae.hyper.m;
  const codes = new Float32Array(T * m);
  sae.forward(Float32Array.from(act), T, codes, new Float32Array(act.length));
  return { ids, codes, m };
}

test("explorer: browser codes equal Node's (<= 1e-4), all requests local, tokens and features rendered", async (t) => {
  const browser = await launchBrowser();
  if (typeof browser === "string") {
    t.skip(browser);
    return;
  }
  const root = join(dir, "run");
  const saes = [
    { arch: "relu" as const, hook: "blocks.1.hook_resid_post", d: 48, m: 96, model: FIXTURE_MODEL },
    { arch: "topk" as const, hook: "blocks.3.hook_mlp_out", d: 48, m: 192, model: FIXTURE_MODEL, hyper: { k: 6 } },
  ];
  const folders = makeRunFolder(root, saes);
  // The search index msae features writes (features/index.json: id and top tokens per feature).
  mkdirSync(join(root, "features"));
  writeFileSync(
    join(root, "features", "index.json"),
    JSON.stringify({
      features: [
        { id: 7, top_tokens: [" jury", " court"] },
        { id: 9, top_tokens: [" city"] },
      ],
    }),
  );
  const srv = await startServer({ root, port: 0, host: "127.0.0.1", model: null });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    const foreign: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("request", (r) => {
      if (!r.url().startsWith(srv.url)) foreign.push(r.url());
    });
    for (let s = 0; s < saes.length; s++) {
      const { arch, hook } = saes[s];
      await page.goto(`${srv.url}explorer/?sae=${encodeURIComponent(`${arch}/${hook}`)}`);
      const info = (await page.evaluate("window.msaeExplorer.ready")) as { sae: string; features: number };
      assert.equal(info.sae, `${arch}/${hook}`);
      assert.equal(info.features, saes[s].m);
      const got = (await page.evaluate(`window.msaeExplorer.run(${JSON.stringify(TEXT)})`)) as {
        ids: number[];
        codes: number[];
        m: number;
      };
      const want = nodeCodes(folders[s], hook);
      assert.deepEqual(got.ids, want.ids, "token ids");
      assert.equal(got.codes.length, want.codes.length);
      let maxDiff = 0;
      let active = 0;
      for (let i = 0; i < want.codes.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(got.codes[i] - want.codes[i]));
        if (want.codes[i] > 0) active++;
      }
      assert.ok(active > want.ids.length, `${arch}: the SAE has active features (${active})`);
      assert.ok(maxDiff <= 1e-4, `${arch}/${hook}: max |browser - node| = ${maxDiff}`);
    }

    // Rendering: the last page (topk) after clicking token 3.
    await page.click("#tokens .tok >> nth=3");
    const dom = (await page.evaluate(`(() => {
      const box = (sel) => { const r = document.querySelector(sel).getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; };
      return {
        tokens: document.querySelectorAll("#tokens .tok").length,
        shaded: [...document.querySelectorAll("#tokens .tok")].filter((e) => e.style.background !== "").length,
        links: [...document.querySelectorAll("#token-panel a")].map((a) => a.getAttribute("href")),
        bars: document.querySelectorAll("#feature-panel .bar-row").length,
        status: document.getElementById("status").textContent,
        tokensBox: box("#tokens"), featureBox: box("#feature-panel"),
      };
    })()`)) as {
      tokens: number;
      shaded: number;
      links: string[];
      bars: number;
      status: string;
      tokensBox: { x: number; y: number; w: number; h: number };
      featureBox: { x: number; y: number; w: number; h: number };
    };
    const T = nodeCodes(folders[1], saes[1].hook).ids.length;
    assert.equal(dom.tokens, T);
    assert.equal(dom.bars, T);
    assert.ok(dom.shaded >= 1, "tokens shaded by the selected feature");
    assert.ok(dom.links.length >= 1 && dom.links.every((h) => /^\/features\/\d+$/.test(h)), dom.links.join(" "));
    assert.match(dom.status, new RegExp(`^${T} tokens in \\d+ ms`));

    // Feature search by top tokens (the features index) and among this text's active features.
    await page.fill("#search", "jury");
    await page.press("#search", "Enter");
    const found = (await page.evaluate(
      `[...document.querySelectorAll("#search-results a")].map((a) => a.getAttribute("href"))`,
    )) as string[];
    assert.equal(found[0], "/features/7", found.join(" "));
    assert.ok(!found.includes("/features/9"));
    assert.match((await page.textContent("#search-results")) ?? "", /1 feature with "jury" among their top tokens/);

    // Feature search by id selects it.
    await page.fill("#search", "5");
    await page.press("#search", "Enter");
    assert.match((await page.textContent("#feature-panel h3")) ?? "", /^feature #5 /);

    const png = decodePng(await page.screenshot({ fullPage: true }));
    for (const [name, b] of [
      ["tokens", dom.tokensBox],
      ["feature panel", dom.featureBox],
    ] as const) {
      const ink = inkFraction(png, Math.round(b.x), Math.round(b.y), Math.round(b.w), Math.round(b.h));
      assert.ok(ink > 0.01, `${name}: ink ${ink.toFixed(4)} in the screenshot`);
    }
    assert.deepEqual(errors, [], "no page errors");
    assert.deepEqual(foreign, [], "every request goes to the msae server");
  } finally {
    await browser.close();
    await srv.close();
  }
});
