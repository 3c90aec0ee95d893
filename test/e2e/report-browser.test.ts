/**
 * The ablation report in a real browser (Debian's chromium via playwright-core): index.html opened
 * from disk shows every table and every chart (DOM: visible, sized boxes, an SVG with marks in each
 * figure), and a full-page screenshot has ink inside each of those boxes (decoded here).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { writeReport } from "../../src/report/write.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { checkReportInBrowser } from "../helpers/report-browser.ts";
import { fakeRuns, SETUP } from "../helpers/report-fixture.ts";

const dir = mkdtempSync(join(tmpdir(), "msae-report-browser-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("the report's tables and charts are visible in headless Chromium (DOM and screenshot)", async (t) => {
  const probe = await launchBrowser();
  if (typeof probe === "string") {
    t.skip(probe);
    return;
  }
  await probe.close();
  const out = join(dir, "report");
  await writeReport(out, SETUP, fakeRuns());
  await checkReportInBrowser(out, 4); // two layers, the mean over layers, the paper's
});
