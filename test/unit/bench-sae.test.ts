/**
 * `msae bench sae`'s pieces (no timing): option parsing, the case list, the OpenBLAS core choice
 * (with a fake probe), the same-inputs generator against closed forms and against the module's own
 * encoder, and the bench's msae step against a manual trainBatch + clipping + first AdamW step
 * written out here (m = (1-b1) g, v = (1-b2) g^2, so the bias-corrected step is g / (|g| + eps)).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { allowedCores, choosePeerCores, parseCpuFlags } from "../../bench/openblas-core.ts";
import { caseName, saeBenchCases } from "../../bench/sae.ts";
import { columnQuantile, encoderInput, makeSaeBenchInputs } from "../../bench/sae-inputs.ts";
import { BENCH_LR, BENCH_WEIGHT_DECAY, benchHyper, MsaeBenchStep } from "../../bench/sae-step.ts";
import { type BenchSaeRawOpts, parseBenchSaeOptions } from "../../src/cli/bench-sae.ts";
import { UsageError } from "../../src/cli/errors.ts";
import { getBackend } from "../../src/core/backends/index.ts";
import { SAE_FACTORIES } from "../../src/sae/registry.ts";
import { SAE_ARCHS, type SaeArch } from "../../src/sae/types.ts";

const ref = getBackend("ref");
const raw = (over: Partial<BenchSaeRawOpts> = {}): BenchSaeRawOpts => ({
  arch: "all",
  shape: "all",
  steps: "2",
  warmup: "1",
  reps: "2",
  seed: "1234",
  torch: true,
  python: "python3",
  ...over,
});

describe("bench sae options and cases", () => {
  test("parses the defaults and a subset", () => {
    const p = parseBenchSaeOptions(raw());
    assert.deepEqual(p.archs, [...SAE_ARCHS]);
    assert.deepEqual([p.shape, p.steps, p.warmup, p.reps, p.seed], ["all", 2, 1, 2, 1234]);
    assert.deepEqual(parseBenchSaeOptions(raw({ arch: "topk, base" })).archs, ["topk", "base"]);
  });
  test("bad values are one UsageError naming the option", () => {
    for (const [over, option] of [
      [{ arch: "topk,nope" }, "--arch"],
      [{ shape: "square" }, "--shape"],
      [{ warmup: "0" }, "--warmup"],
      [{ steps: "x" }, "--steps"],
      [{ reps: "0" }, "--reps"],
    ] as [Partial<BenchSaeRawOpts>, string][]) {
      assert.throws(
        () => parseBenchSaeOptions(raw(over)),
        (e: Error) => e instanceof UsageError && e.message.includes(option) && !e.message.includes("\n"),
      );
    }
  });
  test("every arch at the paper shape, the TopK family wide", () => {
    const all = saeBenchCases(SAE_ARCHS, "all");
    assert.equal(all.length, 14);
    assert.equal(all.filter((c) => c.d === 2304 && c.m === 2304 && c.batch === 2048).length, 11);
    assert.deepEqual(all.filter((c) => c.m === 16384).map(caseName), [
      "topk/d512/m16384/b4096",
      "batchtopk/d512/m16384/b4096",
      "matryoshka/d512/m16384/b4096",
    ]);
    assert.deepEqual(saeBenchCases(["base"], "wide"), []);
  });
});

describe("OpenBLAS core choice", () => {
  const cpuinfo =
    "processor : 0\nvendor_id : GenuineIntel\nflags : fpu sse4_2 pni avx avx2 fma avx512f avx512bw avx512vl avx512dq avx512cd avx512_bf16\n\nprocessor : 1\nflags : fpu\n";
  test("flags of the first CPU decide the candidates, widest first", () => {
    const flags = parseCpuFlags(cpuinfo);
    assert.ok(flags.has("avx512_bf16") && flags.has("GenuineIntel") && !flags.has("amx_tile"));
    assert.deepEqual(allowedCores(flags), ["Cooperlake", "SkylakeX", "Haswell", "SandyBridge", "Nehalem", "Prescott"]);
  });
  test("the widest candidate that OpenBLAS runs by name and that computes right", () => {
    const flags = parseCpuFlags(cpuinfo);
    // Cooperlake: this OpenBLAS falls back to SkylakeX; SkylakeX: a wrong GEMM; Haswell passes
    const fake = (_: string, name: string | null) => ({
      requested: name,
      openblas_core: name === null ? "Prescott" : name === "Cooperlake" ? "SkylakeX" : name,
      gemm_ok: name !== "SkylakeX",
    });
    const c = choosePeerCores("python3", flags, fake);
    assert.equal(c.installed, "Prescott");
    assert.equal(c.widest, "Haswell");
    assert.equal(c.rejected.length, 2);
  });
});

describe("same-inputs generator", () => {
  test("column quantile: linear interpolation between order statistics", () => {
    // column 0 holds 0..9 shuffled, column 1 holds 10 * (0..9): q = 0.9 -> position 8.1
    const rows = 10;
    const perm = [3, 7, 0, 9, 1, 8, 2, 6, 4, 5];
    const v = new Float32Array(rows * 2);
    for (let r = 0; r < rows; r++) {
      v[r * 2] = perm[r];
      v[r * 2 + 1] = 10 * perm[r];
    }
    const q = columnQuantile(v, rows, 2, 0.9);
    assert.ok(Math.abs(q[0] - 8.1) < 1e-12 && Math.abs(q[1] - 81) < 1e-9, `${q}`);
  });

  for (const arch of ["base", "layernorm", "adaptive", "attention", "multiscale", "relu", "gated"] as SaeArch[]) {
    test(`${arch}: scaling, tied init, b_dec and ~10% density (exactly 10 of 101 tokens per feature)`, () => {
      const d = 16;
      const m = 24;
      const batch = 101; // 0.9 * (batch - 1) = 90: the quantile is an order statistic
      const inp = makeSaeBenchInputs(arch, d, m, batch, 7, ref);
      let sq = 0;
      for (const v of inp.x) sq += v * v;
      assert.ok(Math.abs(sq / batch - d) < 1e-3 * d, `mean ||x||^2 ${sq / batch}`);
      const { W_enc, W_dec, b_dec } = inp.params;
      for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) assert.equal(W_enc[j * m + i], W_dec[i * d + j]);
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let r = 0; r < batch; r++) s += inp.x[r * d + j];
        assert.ok(Math.abs(b_dec[j] - s / batch) < 1e-5);
      }
      // the module's own encoder with a zero bias: its codes are ReLU(u W_enc) with u from encoderInput
      const hyper = benchHyper(arch, d, m, 4);
      const sae = SAE_FACTORIES[arch]<Float32Array>(hyper, ref, {
        arrayType: "f32",
        seed: 1,
        firstBatch: inp.x,
        rows: batch,
      });
      for (const [n, a] of Object.entries(inp.params)) sae.params.get(n)!.param.data.set(a);
      const biasName = arch === "gated" ? "b_gate" : "b_enc";
      const bias = inp.params[biasName];
      for (const n of arch === "gated" ? ["b_gate", "b_mag"] : ["b_enc"]) sae.params.get(n)!.param.data.fill(0);
      // attention reweighting off (alpha 0: uniform softmax, h' = h) so codes show the encoder alone
      sae.params.get("attn_alpha")?.param.data.fill(0);
      const codes = new Float32Array(batch * m);
      sae.forward(inp.x, batch, codes, new Float32Array(batch * d));
      const u = encoderInput(arch, inp.x, batch, d, b_dec);
      for (let r = 0; r < batch; r++)
        for (let i = 0; i < m; i++) {
          let pre = 0;
          for (let j = 0; j < d; j++) pre += u[r * d + j] * W_enc[j * m + i];
          assert.ok(Math.abs(codes[r * m + i] - Math.max(pre, 0)) < 1e-4, `${arch} code ${r},${i}`);
        }
      // with the bias: exactly 10 tokens per feature above zero
      for (let i = 0; i < m; i++) {
        let fire = 0;
        for (let r = 0; r < batch; r++) {
          let pre = bias[i];
          for (let j = 0; j < d; j++) pre += u[r * d + j] * W_enc[j * m + i];
          if (pre > 1e-6) fire++;
        }
        assert.equal(fire, 10, `${arch} feature ${i} fires on ${fire} tokens`);
      }
      assert.equal(inp.dead, null);
    });
  }

  test("TopK family: zero bias, dead mask i % 4 == 3", () => {
    const inp = makeSaeBenchInputs("topk", 8, 32, 5, 3, ref);
    assert.equal(inp.params.b_enc, undefined);
    assert.deepEqual(
      [...inp.dead!],
      Array.from({ length: 32 }, (_, i) => (i % 4 === 3 ? 1 : 0)),
    );
  });
});

describe("the bench's msae step", () => {
  for (const arch of ["adaptive", "topk", "gated"] as SaeArch[]) {
    test(`${arch}: one step = trainBatch, clip at 1.0 and the first AdamW step written out`, () => {
      const d = 16;
      const m = 32;
      const batch = 24;
      const inp = makeSaeBenchInputs(arch, d, m, batch, 11, ref);
      const hyper = benchHyper(arch, d, m, 4);
      const bench = new MsaeBenchStep(inp, hyper, ref);
      // the manual twin: same inputs, trainBatch, then clipping and AdamW by hand in float64
      const sae = SAE_FACTORIES[arch]<Float32Array>(hyper, ref, {
        arrayType: "f32",
        seed: 1,
        firstBatch: inp.x,
        rows: batch,
      });
      for (const [n, a] of Object.entries(inp.params)) sae.params.get(n)!.param.data.set(a);
      const params = [...sae.params.values()].map((p) => p.param);
      for (const p of params) p.grad.fill(0);
      const want = sae.trainBatch(inp.x, batch, { gradWeight: 1, deadMask: inp.dead, updateState: true });
      let sq = 0;
      for (const p of params) for (const g of p.grad) sq += g * g;
      const norm = Math.sqrt(sq);
      assert.ok(norm > 1, `${arch}: gradient norm ${norm} (the case should exercise clipping)`);
      const clipped = params.map((p) => Float64Array.from(p.grad, (g) => g / norm));
      const w0 = params.map((p) => Float64Array.from(p.data));
      const got = bench.step();
      for (const k of ["recon", "sparsity", "ortho", "aux", "total", "l0"] as const)
        assert.ok(Math.abs(got[k] - want[k]) <= 1e-6 * (1 + Math.abs(want[k])), `${k}: ${got[k]} vs ${want[k]}`);
      params.forEach((p, pi) => {
        const bp = bench.sae.params.get(p.name)!.param;
        // clipping: the gradient left in the bench's parameter is g / ||g||
        for (let i = 0; i < bp.grad.length; i++)
          assert.ok(
            Math.abs(bp.grad[i] - clipped[pi][i]) <= 1e-6 * Math.abs(clipped[pi][i]) + 1e-12,
            `${p.name} grad ${i}`,
          );
        // first AdamW step: w - lr (g / (|g| + eps) + wd w), wd on the weight matrices only
        const wd = p.shape.length >= 2 && !p.name.startsWith("ms_") ? BENCH_WEIGHT_DECAY : 0;
        for (let i = 0; i < bp.data.length; i++) {
          const g = clipped[pi][i];
          const w = w0[pi][i];
          const want = w - BENCH_LR * (g / (Math.abs(g) + 1e-8) + wd * w);
          const tol = 0.1 * BENCH_LR + Math.abs(w) * 2.4e-7; // a tenth of a step + float32 rounding of w
          assert.ok(Math.abs(bp.data[i] - want) <= tol, `${arch} ${p.name}[${i}]: ${bp.data[i]} vs ${want}`);
        }
      });
      for (const [n, buf] of sae.buffers) assert.deepEqual(bench.sae.buffers.get(n)!.data, buf.data, `buffer ${n}`);
    });
  }
});
