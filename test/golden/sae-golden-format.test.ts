/**
 * The SAE golden files (test/golden/sae/, written by tools/golden/sae_reference.py) hold what
 * notes/sae-pins.md promises: every case, every tensor under its DESIGN.md name and shape, all F64,
 * the SaeHyper fields in the metadata. Their values are checked here against relations computed
 * in this file (float64): total = the sum of the parts, recon = mean_b ||x - out.recon||^2, L0 from
 * out.codes, the TopK family's active counts, the EMA threshold only moving where a feature fired.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { SAE_ARCHS, type SaeArch, type SaeHyper } from "../../src/sae/types.ts";

const DIR = join(import.meta.dirname, "sae");
const d = 16;
const m = 64;
const B = 24;

const HYPER_KEYS: Record<keyof SaeHyper, true> = {
  arch: true,
  d: true,
  m: true,
  l1: true,
  l2: true,
  k: true,
  auxKCoef: true,
  auxK: true,
  reconstruct: true,
  eps: true,
  coactBeta: true,
  coactTau: true,
  runBeta: true,
  jumpBandwidth: true,
  jumpInitThreshold: true,
  thresholdBeta: true,
  matryoshkaFractions: true,
};

function paramShapes(arch: SaeArch): Record<string, number[]> {
  if (arch === "gated") {
    return { W_enc: [d, m], b_gate: [m], r_mag: [m], b_mag: [m], W_dec: [m, d], b_dec: [d] };
  }
  const s: Record<string, number[]> = { W_enc: [d, m], b_enc: [m], W_dec: [m, d], b_dec: [d] };
  if (arch === "layernorm" || arch === "adaptive" || arch === "attention")
    Object.assign(s, { ln_gamma: [d], ln_beta: [d] });
  if (arch === "adaptive" || arch === "attention" || arch === "multiscale") s.adapt_rho = [];
  if (arch === "attention" || arch === "multiscale")
    Object.assign(s, { attn_WQ: [d, d / 4], attn_K: [m, d / 4], attn_alpha: [] });
  if (arch === "multiscale") Object.assign(s, { ms_gamma: [4, d], ms_beta: [4, d], ms_w: [4] });
  if (arch === "jumprelu") s.threshold = [m];
  return s;
}

function stateShapes(arch: SaeArch): Record<string, number[]> {
  if (arch === "adaptive" || arch === "attention" || arch === "multiscale") {
    return { coact_ema: [m, m], run_mean: [d], run_var: [d] };
  }
  if (arch === "batchtopk" || arch === "matryoshka") return { threshold: [m] };
  return {};
}

const TOPK = new Set<SaeArch>(["topk", "batchtopk", "matryoshka"]);
const NORMALIZED: SaeArch[] = ["layernorm", "adaptive", "attention", "multiscale"];
const CASES: [string, SaeArch, number][] = [
  ...SAE_ARCHS.map((a): [string, SaeArch, number] => [a, a, 1]),
  ...NORMALIZED.map((a): [string, SaeArch, number] => [`${a}-paper`, a, 1]),
  ["adaptive-3step", "adaptive", 3],
];

describe("SAE golden files", () => {
  for (const [name, arch, steps] of CASES) {
    test(name, () => {
      const f = SafetensorsFile.open(join(DIR, `${name}.safetensors`));
      try {
        assert.equal(f.metadata.case, name);
        assert.equal(f.metadata.arch, arch);
        assert.equal(f.metadata.steps, String(steps));
        const hyper = JSON.parse(f.metadata.hyper) as SaeHyper;
        assert.deepEqual(Object.keys(hyper).sort(), Object.keys(HYPER_KEYS).sort());
        assert.equal(hyper.arch, arch);
        assert.equal(hyper.reconstruct, name.endsWith("-paper") ? "paper" : "denormalized");
        assert.deepEqual([hyper.d, hyper.m, hyper.k, hyper.auxK, hyper.l1, hyper.l2], [d, m, 4, 8, 0.05, 0.1]);

        const want: Record<string, number[]> = { "out.codes": [B, m], "out.recon": [B, d] };
        if (steps === 1) want.x = [B, d];
        else for (let t = 0; t < steps; t++) want[`x${t}`] = [B, d];
        for (const [p, s] of Object.entries(paramShapes(arch))) {
          want[`param.${p}`] = s;
          want[`grad.${p}`] = s;
        }
        for (const [p, s] of Object.entries(stateShapes(arch))) {
          want[`state.${p}`] = s;
          want[`state_after.${p}`] = s;
        }
        if (TOPK.has(arch)) want["state.dead"] = [m];
        for (const part of ["recon", "sparsity", "ortho", "aux", "total", "l0"]) want[`loss.${part}`] = [1];
        assert.deepEqual(f.names().sort(), Object.keys(want).sort());
        for (const [t, s] of Object.entries(want)) {
          const info = f.info(t);
          assert.equal(info.dtype, "F64", t);
          assert.deepEqual(info.shape, s, t);
        }

        const v = (t: string) => f.read(t) as Float64Array;
        const loss = (p: string) => v(`loss.${p}`)[0];
        const parts = loss("recon") + loss("sparsity") + loss("ortho") + loss("aux");
        assert.ok(Math.abs(parts - loss("total")) <= 1e-12 * Math.abs(loss("total")));
        const codes = v("out.codes");
        const perToken: number[] = [];
        for (let b = 0; b < B; b++) {
          let c = 0;
          for (let i = 0; i < m; i++) if (codes[b * m + i] !== 0) c++;
          perToken.push(c);
        }
        const l0 = perToken.reduce((a, c) => a + c, 0) / B;
        assert.ok(Math.abs(l0 - loss("l0")) < 1e-12);
        if (arch !== "matryoshka") {
          const x = v(steps === 1 ? "x" : `x${steps - 1}`);
          const recon = v("out.recon");
          let s = 0;
          for (let k = 0; k < B * d; k++) s += (x[k] - recon[k]) ** 2;
          assert.ok(Math.abs(s / B - loss("recon")) <= 1e-12 * loss("recon"));
        }
        if (arch === "topk") assert.ok(perToken.every((c) => c === 4));
        if (arch === "batchtopk" || arch === "matryoshka") {
          assert.equal(l0 * B, 4 * B);
          // the threshold moves exactly for the features that fired in the batch
          const before = v("state.threshold");
          const after = v("state_after.threshold");
          for (let i = 0; i < m; i++) {
            let fired = false;
            for (let b = 0; b < B; b++) if (codes[b * m + i] > 0) fired = true;
            assert.equal(after[i] !== before[i], fired, `threshold[${i}]`);
          }
        }
        if (TOPK.has(arch)) {
          const dead = v("state.dead");
          const nDead = dead.reduce((a, c) => a + c, 0);
          assert.equal(nDead, m / 4);
          assert.ok(loss("aux") > 0);
        }
        if (arch === "base" || arch === "layernorm") assert.ok(loss("ortho") > 0);
      } finally {
        f.close();
      }
    });
  }
});
