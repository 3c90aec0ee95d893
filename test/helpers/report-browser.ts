/**
 * checkReportInBrowser: opens a report's index.html from disk in headless Chromium and checks that
 * every table and chart is visible: in the DOM (visible, sized, an SVG with marks in each figure,
 * rows in each table) and on a full-page screenshot (ink inside each box, decoded by png.ts).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { launchBrowser } from "./browser.ts";
import { decodePng, inkFraction } from "./png.ts";

interface Box {
  id: string;
  kind: string;
  x: number;
  y: number;
  w: number;
  h: number;
  visible: boolean;
  marks: number;
  rows: number;
}

/** Opens index.html and checks every table and chart is visible in the DOM and on a screenshot. */
export async function checkReportInBrowser(reportDir: string, expectTables: number, expectFigures = 10): Promise<void> {
  const browser = await launchBrowser();
  if (typeof browser === "string") throw new Error(browser);
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(pathToFileURL(join(reportDir, "index.html")).href);
    // Runs in the page (a string: this project's TypeScript has no DOM types).
    const boxes: Box[] = await page.evaluate(`
      [...document.querySelectorAll("table.results, figure.chart")].map((el) => {
        const r = el.getBoundingClientRect();
        const svg = el.querySelector("svg");
        return {
          id: el.id,
          kind: el.tagName.toLowerCase(),
          x: r.x + window.scrollX,
          y: r.y + window.scrollY,
          w: r.width,
          h: r.height,
          visible: getComputedStyle(el).visibility !== "hidden" && getComputedStyle(el).display !== "none",
          marks: svg ? svg.querySelectorAll("path, rect, line, text").length : -1,
          rows: el.tagName === "TABLE" ? el.querySelectorAll("tbody tr").length : 0,
        };
      })`);
    const tables = boxes.filter((b) => b.kind === "table");
    const figures = boxes.filter((b) => b.kind === "figure");
    assert.equal(tables.length, expectTables);
    assert.equal(figures.length, expectFigures);
    const png = decodePng(await page.screenshot({ fullPage: true }));
    for (const b of boxes) {
      assert.ok(b.visible && b.w > 100 && b.h > 40, `${b.id} is visible and sized (${b.w}x${b.h})`);
      if (b.kind === "figure") assert.ok(b.marks > 10, `${b.id} has an SVG with marks (${b.marks})`);
      if (b.kind === "table") assert.ok(b.rows >= 5, `${b.id} has rows (${b.rows})`);
      const ink = inkFraction(png, b.x, b.y, b.w, b.h);
      assert.ok(ink > 0.01, `${b.id}: ${(100 * ink).toFixed(2)}% of its screenshot pixels are not white`);
    }
  } finally {
    await browser.close();
  }
}
