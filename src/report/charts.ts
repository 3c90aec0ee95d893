/**
 * The report's charts as Vega-Lite specs, rendered to static SVG in Node (vega's headless View, no
 * canvas needed):
 *   metric-<name>.svg  each Table-1 metric (and EV) per architecture and layer, bars = seed mean,
 *                      error bars = +- one std over seeds;
 *   frontier-ev.svg, frontier-ce.svg  sparsity (L0) vs fidelity (explained variance, CE loss score),
 *                      one point per architecture and layer, paper architectures and baselines marked apart;
 *   curves.svg         training loss against tokens, per architecture, one panel per layer (first seed);
 *   density.svg        histogram of log10 feature density on the eval set, one panel per architecture.
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { BASELINE_ARCHS, type SaeArch } from "../sae/types.ts";
import type { AblationRun, SummaryRow } from "./results.ts";
import { ARCH_TITLES } from "./tables.ts";

export interface Chart {
  file: string;
  title: string;
  spec: TopLevelSpec;
}

const METRICS: readonly [string, string][] = [
  ["mse", "MSE (model units, per element)"],
  ["sparsity_pct", "L0 Sparsity %"],
  ["kl_div_score", "KL div score"],
  ["l2_ratio", "L2 ratio"],
  ["ce_loss_score", "CE loss score"],
  ["explained_variance", "Explained variance"],
];

const family = (a: SaeArch) => ((BASELINE_ARCHS as readonly string[]).includes(a) ? "baseline" : "paper");

export function buildCharts(
  summary: readonly SummaryRow[],
  runs: readonly AblationRun[],
  archs: readonly SaeArch[],
  hooks: readonly string[],
): Chart[] {
  const archTitles = archs.map((a) => ARCH_TITLES[a]);
  const charts: Chart[] = [];
  for (const [metric, title] of METRICS) {
    const values = summary
      .filter((r) => r.metric === metric && r.n > 0 && Number.isFinite(r.mean))
      .map((r) => ({
        arch: ARCH_TITLES[r.arch],
        hook: r.hook,
        mean: r.mean,
        lo: r.mean - r.std,
        hi: r.mean + r.std,
        n: r.n,
      }));
    charts.push({
      file: `metric-${metric}.svg`,
      title,
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title,
        width: 520,
        height: 220,
        data: { values },
        encoding: {
          x: { field: "arch", type: "nominal", sort: archTitles, title: null, axis: { labelAngle: -35 } },
          xOffset: { field: "hook", type: "nominal", sort: [...hooks] },
          color: { field: "hook", type: "nominal", sort: [...hooks], title: "layer" },
        },
        layer: [
          { mark: "bar", encoding: { y: { field: "mean", type: "quantitative", title } } },
          {
            mark: { type: "rule", color: "black" },
            encoding: { y: { field: "lo", type: "quantitative" }, y2: { field: "hi" } },
          },
        ],
      } as TopLevelSpec,
    });
  }
  const frontier = (file: string, y: string, yTitle: string): Chart => {
    const values = archs.flatMap((a) =>
      hooks.flatMap((h) => {
        const get = (m: string) => summary.find((r) => r.arch === a && r.hook === h && r.metric === m);
        const l0 = get("l0");
        const v = get(y);
        if (!l0 || !v || !Number.isFinite(l0.mean) || !Number.isFinite(v.mean)) return [];
        return [{ arch: ARCH_TITLES[a], hook: h, family: family(a), l0: l0.mean, value: v.mean }];
      }),
    );
    return {
      file,
      title: `Sparsity vs fidelity: L0 against ${yTitle}`,
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: `L0 vs ${yTitle} (one point per architecture and layer)`,
        data: { values },
        facet: { column: { field: "hook", type: "nominal", sort: [...hooks], title: null } },
        spec: {
          width: 240,
          height: 220,
          mark: { type: "point", filled: true, size: 90 },
          encoding: {
            x: { field: "l0", type: "quantitative", title: "L0 (active features per token)", scale: { zero: false } },
            y: { field: "value", type: "quantitative", title: yTitle, scale: { zero: false } },
            color: { field: "arch", type: "nominal", sort: archTitles, title: "architecture" },
            shape: { field: "family", type: "nominal", title: "family" },
            tooltip: [{ field: "arch" }, { field: "l0" }, { field: "value" }],
          },
        },
      } as TopLevelSpec,
    };
  };
  charts.push(frontier("frontier-ev.svg", "explained_variance", "explained variance"));
  charts.push(frontier("frontier-ce.svg", "ce_loss_score", "CE loss score"));

  const firstSeed = Math.min(...runs.map((r) => r.seed));
  const curve = runs
    .filter((r) => r.seed === firstSeed)
    .flatMap((r) => r.curve.map((p) => ({ arch: ARCH_TITLES[r.arch], hook: r.hook, tokens: p.tokens, loss: p.loss })));
  charts.push({
    file: "curves.svg",
    title: "Training curves",
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: `Training loss (seed ${firstSeed})`,
      data: { values: curve },
      facet: { column: { field: "hook", type: "nominal", sort: [...hooks], title: null } },
      spec: {
        width: 260,
        height: 200,
        mark: { type: "line", strokeWidth: 1.5 },
        encoding: {
          x: { field: "tokens", type: "quantitative", title: "training tokens" },
          y: { field: "loss", type: "quantitative", title: "loss (total)", scale: { type: "log" } },
          color: { field: "arch", type: "nominal", sort: archTitles, title: "architecture" },
        },
      },
    } as TopLevelSpec,
  });

  const density = runs
    .filter((r) => r.seed === firstSeed)
    .flatMap((r) =>
      r.log10Density
        .filter((v): v is number => v !== null)
        .map((v) => ({ arch: ARCH_TITLES[r.arch], hook: r.hook, v })),
    );
  charts.push({
    file: "density.svg",
    title: "Feature density",
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: `log10 feature density on the eval set (seed ${firstSeed}; dead features not shown)`,
      data: { values: density },
      facet: { field: "arch", type: "nominal", sort: archTitles, columns: 5, title: null },
      spec: {
        width: 150,
        height: 110,
        mark: { type: "bar", opacity: 0.7 },
        encoding: {
          x: { field: "v", type: "quantitative", bin: { maxbins: 30 }, title: "log10 density" },
          y: { aggregate: "count", type: "quantitative", title: "features", stack: null },
          color: { field: "hook", type: "nominal", sort: [...hooks], title: "layer" },
        },
      },
    } as TopLevelSpec,
  });
  return charts;
}

/** Vega-Lite -> Vega -> static SVG (headless). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Hook names are long: let legends show them whole.
  const withConfig = {
    ...spec,
    config: { legend: { labelLimit: 320 }, ...(spec as { config?: object }).config },
  } as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(withConfig).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
