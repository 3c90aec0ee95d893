/**
 * The ablation report: summaries over seeds against closed forms, table.md and table.csv carrying
 * exactly the numbers of results.json (parsed back here), every chart rendered to a non-empty SVG
 * with its marks, and index.html holding each table and chart.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { AblationRun } from "../../src/report/results.ts";
import { summarize, t975 } from "../../src/report/stats.ts";
import { ARCH_TITLES, formatNumber, TABLE_COLUMNS } from "../../src/report/tables.ts";
import { writeReport } from "../../src/report/write.ts";
import { ARCHS, fakeRuns, HOOKS, SETUP } from "../helpers/report-fixture.ts";

const dir = mkdtempSync(join(tmpdir(), "msae-report-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("summaries: mean, sample std and the Student-t 95% interval (closed forms)", () => {
  const s = summarize([1, 2, 3]);
  assert.equal(s.mean, 2);
  assert.equal(s.std, 1);
  const half = (4.303 * 1) / Math.sqrt(3);
  assert.ok(Math.abs(s.ci95![0] - (2 - half)) < 1e-12 && Math.abs(s.ci95![1] - (2 + half)) < 1e-12);
  assert.deepEqual(summarize([5]), { n: 1, mean: 5, std: 0, ci95: null });
  assert.equal(summarize([Number.NaN, 4, 6]).n, 2);
  assert.equal(t975(2), 4.303);
  assert.equal(t975(100), 1.96);
});

test("table.md and table.csv hold exactly the numbers of results.json; charts and index.html are complete", async () => {
  const runs = fakeRuns();
  const out = join(dir, "report");
  const r = await writeReport(out, SETUP, runs);
  const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
  assert.equal(results.runs.length, ARCHS.length * HOOKS.length * 3);
  const md = readFileSync(join(out, "table.md"), "utf8");
  const csv = readFileSync(join(out, "table.csv"), "utf8").trim().split("\n");
  assert.equal(csv.length, 1 + ARCHS.length * HOOKS.length);
  const header = csv[0].split(",");
  for (const [hi, hook] of HOOKS.entries()) {
    // The hook's section of table.md.
    const section = md.split(`## ${hook}`)[1].split("\n## ")[0];
    for (const arch of ARCHS) {
      const line = section.split("\n").find((l) => l.startsWith(`| ${ARCH_TITLES[arch]} |`));
      assert.ok(line, `${arch} row in ${hook}`);
      const cells = line
        .split("|")
        .slice(2, -1)
        .map((c) => c.trim());
      assert.equal(cells.length, TABLE_COLUMNS.length);
      const csvRow = csv.find((l) => l.startsWith(`${hook},${arch},`))!.split(",");
      TABLE_COLUMNS.forEach((col, k) => {
        // Recompute mean and sample std from results.json's runs, independently of the summary code.
        const vals = results.runs
          .filter((x: AblationRun) => x.arch === arch && x.hook === hook)
          .map((x: AblationRun) =>
            col.metric === "train_seconds"
              ? x.train.seconds
              : col.metric === "train_tokens_per_s"
                ? x.train.tokens_per_s
                : x.metrics[col.metric],
          );
        const mean = vals.reduce((a: number, b: number) => a + b, 0) / vals.length;
        const std = Math.sqrt(vals.reduce((a: number, b: number) => a + (b - mean) ** 2, 0) / (vals.length - 1));
        assert.equal(
          cells[k],
          `${formatNumber(mean, col)} ± ${formatNumber(std, col)}`,
          `${hook} ${arch} ${col.metric}`,
        );
        assert.ok(Math.abs(Number(csvRow[header.indexOf(col.metric)]) - mean) <= 1e-12 * Math.max(1, Math.abs(mean)));
        assert.ok(Math.abs(Number(csvRow[header.indexOf(`${col.metric}_std`)]) - std) <= 1e-9 * Math.max(1, std));
      });
      void hi;
    }
  }
  assert.match(md, /The paper's Table 1/);
  assert.match(md, /\| \+ Multi-scale \| 47\.75 \| 87\.03% \| -0\.49 \| 0\.092 \| -0\.546 \|/);
  const svgs = r.files.filter((f) => f.endsWith(".svg"));
  assert.deepEqual(svgs.sort(), [
    "curves.svg",
    "density.svg",
    "frontier-ce.svg",
    "frontier-ev.svg",
    "metric-ce_loss_score.svg",
    "metric-explained_variance.svg",
    "metric-kl_div_score.svg",
    "metric-l2_ratio.svg",
    "metric-mse.svg",
    "metric-sparsity_pct.svg",
  ]);
  for (const f of svgs) {
    const svg = readFileSync(join(out, f), "utf8");
    assert.match(svg, /^<svg /);
    assert.ok(/<path|<rect|<line/.test(svg) && svg.length > 3000, `${f} has marks`);
  }
  const html = readFileSync(join(out, "index.html"), "utf8");
  for (const id of [
    "table-0",
    "table-1",
    "table-mean",
    "paper-table",
    ...svgs.map((f) => `chart-${f.replace(".svg", "")}`),
  ])
    assert.ok(html.includes(`id="${id}"`), id);
  assert.match(html, /reconstruct: &quot;denormalized&quot;/);
  assert.match(html, /mathematically one affine LayerNorm .* except through eps/);
});
