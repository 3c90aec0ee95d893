/**
 * writeReport(dir, results): the report folder of an ablation, every file written atomically:
 *   results.json   set-up, every run's metrics, summaries over seeds with 95% intervals
 *   table.md, table.csv   Table 1 in the paper's layout (tables.ts), the paper's own beside ours
 *   *.svg          the charts (charts.ts), rendered in Node
 *   index.html     everything on one self-contained page (html.ts)
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { atomicWriteFile, atomicWriteJson } from "../io/atomic.ts";
import { buildCharts, renderSvg } from "./charts.ts";
import { reportHtml } from "./html.ts";
import { type AblationResults, type AblationRun, type AblationSetup, summarizeRuns } from "./results.ts";
import { tableCsv, tableMarkdown } from "./tables.ts";

export interface ReportFiles {
  dir: string;
  files: string[];
  results: AblationResults;
}

export async function writeReport(
  dir: string,
  setup: AblationSetup,
  runs: readonly AblationRun[],
): Promise<ReportFiles> {
  mkdirSync(dir, { recursive: true });
  const summary = summarizeRuns(runs, setup.hooks);
  const results: AblationResults = { setup, runs: [...runs], summary };
  const files: string[] = [];
  const put = (name: string, data: string) => {
    atomicWriteFile(join(dir, name), data);
    files.push(name);
  };
  atomicWriteJson(join(dir, "results.json"), results);
  files.push("results.json");
  const t = {
    summary,
    archs: setup.archs,
    hooks: setup.hooks,
    seeds: setup.seeds.length,
    title: `Ablation (Table 1 layout): ${setup.model}, ${setup.recipe} recipe`,
  };
  put("table.md", tableMarkdown(t));
  put("table.csv", tableCsv(t));
  const charts = [];
  for (const c of buildCharts(summary, runs, setup.archs, setup.hooks)) {
    const svg = await renderSvg(c.spec);
    put(c.file, svg);
    charts.push({ ...c, svg });
  }
  put("index.html", reportHtml({ setup, summary, charts }));
  return { dir, files, results };
}
