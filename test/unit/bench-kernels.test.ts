/**
 * `msae bench kernels`: the shape of its JSON and table on a tiny GEMM (not timing), and its usage
 * errors. Percentages and ratios are re-derived here from the raw GFLOP/s figures.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Command } from "commander";
import { formatKernelTable, type KernelBenchResult, runKernelBench } from "../../bench/kernels.ts";
import { register } from "../../src/cli/bench.ts";
import { UsageError } from "../../src/cli/errors.ts";
import { loadAddon } from "../../src/core/backends/addon.ts";

const skip = loadAddon() ? false : "the native addon is not built (npm run build:native)";

function checkShape(r: KernelBenchResult, m: number, n: number, k: number): void {
  assert.deepEqual(Object.keys(r).slice(0, 3), ["peak_gflops", "blas", "gemm"]);
  assert.ok(Number.isFinite(r.peak_gflops) && r.peak_gflops > 0, `peak_gflops ${r.peak_gflops}`);
  assert.ok(["openblas", "accelerate", "none"].includes(r.blas), `blas ${r.blas}`);
  assert.equal(r.peak_gflops, Math.max(...r.peak_samples), "the peak is the higher of its two samples");
  assert.deepEqual(
    r.gemm.map((g) => g.layout),
    ["NN", "NT", "TN"],
  );
  for (const g of r.gemm) {
    assert.deepEqual([g.m, g.n, g.k], [m, n, k]);
    assert.ok(Number.isFinite(g.gflops) && g.gflops > 0, `${g.layout} gflops ${g.gflops}`);
    assert.ok(Number.isFinite(g.own_gflops) && g.own_gflops > 0, `${g.layout} own_gflops ${g.own_gflops}`);
    assert.ok(Math.abs(g.pct_peak - (100 * g.gflops) / r.peak_gflops) < 1e-9 * Math.max(1, g.pct_peak));
    assert.ok(Math.abs(g.own_pct_peak - (100 * g.own_gflops) / r.peak_gflops) < 1e-9 * Math.max(1, g.own_pct_peak));
    if (g.torch_gflops === null) {
      assert.equal(g.ratio_torch, null);
    } else {
      assert.ok(g.torch_gflops > 0);
      assert.ok(Math.abs((g.ratio_torch ?? Number.NaN) - g.gflops / g.torch_gflops) < 1e-12);
    }
  }
}

describe("bench kernels", { skip }, () => {
  test("runKernelBench without torch: JSON shape on a tiny size", async () => {
    const r = await runKernelBench({ reps: 1, size: [8, 9, 10], torch: false, peakSeconds: 0.05 });
    checkShape(r, 8, 9, 10);
    assert.ok(r.gemm.every((g) => g.torch_gflops === null));
    assert.equal(r.torch, null);
    assert.match(r.torch_skipped ?? "", /disabled/);
    const table = formatKernelTable(r);
    assert.match(table, /^machine /m);
    assert.match(table, /^FMA peak +\d+(\.\d)? GFLOP\/s/m);
    assert.match(table, /PyTorch +column skipped: disabled/);
    for (const layout of ["NN", "NT", "TN"]) assert.match(table, new RegExp(`^${layout} +8 +9 +10 `, "m"));
  });

  test("runKernelBench with torch: a torch column or one reason it is skipped", async () => {
    const r = await runKernelBench({ reps: 1, size: [16, 16, 16], torch: true, peakSeconds: 0.05 });
    checkShape(r, 16, 16, 16);
    if (r.torch) {
      assert.equal(r.torch_skipped, null);
      assert.equal(r.torch.threads, r.threads, "torch runs on as many threads as msae");
      assert.ok(r.gemm.every((g) => g.torch_gflops !== null));
    } else {
      assert.ok((r.torch_skipped ?? "").length > 0);
      assert.ok(!(r.torch_skipped ?? "").includes("\n"));
    }
  });

  test("the CLI prints exactly the JSON with --json and writes --out atomically", async () => {
    const dir = mkdtempSync(join(tmpdir(), "msae-bench-"));
    const out = join(dir, "kernels.json");
    const program = new Command().exitOverride();
    register(program);
    const chunks: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((s: string) => chunks.push(String(s)) > 0) as typeof process.stdout.write;
    try {
      await program.parseAsync(
        ["bench", "kernels", "--json", "--no-torch", "--reps", "1", "--size", "4,5,6", "--out", out],
        {
          from: "user",
        },
      );
    } finally {
      process.stdout.write = write;
    }
    const printed = JSON.parse(chunks.join("")) as KernelBenchResult;
    checkShape(printed, 4, 5, 6);
    assert.deepEqual(JSON.parse(readFileSync(out, "utf8")), printed);
    rmSync(dir, { recursive: true });
  });
});

describe("bench kernels usage errors", () => {
  for (const args of [
    ["--reps", "0"],
    ["--reps", "x"],
    ["--reps", "2.5"],
    ["--size", "1,2"],
    ["--size", "1,2,0"],
    ["--size", "a,b,c"],
  ]) {
    test(`${args.join(" ")} is a UsageError`, async () => {
      const program = new Command().exitOverride();
      register(program);
      await assert.rejects(program.parseAsync(["bench", "kernels", ...args], { from: "user" }), (e: Error) => {
        assert.ok(e instanceof UsageError, `got ${e.constructor.name}: ${e.message}`);
        assert.match(e.message, args[0] === "--reps" ? /--reps/ : /--size/);
        return true;
      });
    });
  }
});
