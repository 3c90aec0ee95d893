// Randomized SVD (src/sae/rsvd.ts) against an exact SVD computed independently here in float64
// (one-sided Jacobi / Hestenes on A itself, a different algorithm from the module's sketch + QR +
// eigen of B B^T), and against a closed form (A built from known singular pairs).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../src/core/tensor.ts";
import { randomizedSvd } from "../../src/sae/rsvd.ts";

/** Exact SVD by one-sided Jacobi: returns singular values (descending) and right vectors [k, d]. */
function jacobiSvd(a: Float64Array, n: number, d: number): { s: number[]; v: number[][] } {
  const u = Array.from({ length: d }, (_, j) => Array.from({ length: n }, (_, r) => a[r * d + j])); // columns of A
  const v: number[][] = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < d; p++)
      for (let q = p + 1; q < d; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let r = 0; r < n; r++) {
          alpha += u[p][r] ** 2;
          beta += u[q][r] ** 2;
          gamma += u[p][r] * u[q][r];
        }
        if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let r = 0; r < n; r++) {
          const x = u[p][r];
          const y = u[q][r];
          u[p][r] = c * x - s * y;
          u[q][r] = s * x + c * y;
        }
        for (let r = 0; r < d; r++) {
          const x = v[p][r];
          const y = v[q][r];
          v[p][r] = c * x - s * y;
          v[q][r] = s * x + c * y;
        }
      }
    if (!rotated) break;
  }
  const s = u.map((col) => Math.sqrt(col.reduce((acc, x) => acc + x * x, 0)));
  const order = s.map((_, i) => i).sort((x, y) => s[y] - s[x]);
  return { s: order.map((i) => s[i]), v: order.map((i) => v[i]) };
}

function absCos(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return Math.abs(dot) / Math.sqrt(na * nb);
}

const OPTS = { rank: 32, oversample: 8, powerIterations: 2 };

test("rSVD of a dense random 30x24 matrix (l = d: exact) matches the Jacobi SVD to 1e-9", () => {
  const n = 30;
  const d = 24;
  const rng = new Rng(3);
  const a = new Float64Array(n * d);
  for (let i = 0; i < a.length; i++) a[i] = rng.normal();
  const exact = jacobiSvd(a, n, d);
  const r = randomizedSvd(a, n, d, new Rng(9), OPTS);
  assert.equal(r.rank, 24);
  for (let i = 0; i < r.rank; i++) {
    assert.ok(Math.abs(r.values[i] - exact.s[i]) < 1e-9 * exact.s[0], `s_${i}: ${r.values[i]} vs ${exact.s[i]}`);
    const c = absCos(r.vectors.subarray(i * d, (i + 1) * d), exact.v[i]);
    assert.ok(c > 1 - 1e-9, `v_${i}: |cos| ${c}`);
  }
});

test("rSVD of a 120x64 float32 matrix with a decaying spectrum (l = 40 < d) matches the leading pairs", () => {
  const n = 120;
  const d = 64;
  const rng = new Rng(5);
  const a64 = new Float64Array(n * d);
  // A = G diag(0.75^j) with G Gaussian: a full-rank matrix whose spectrum decays.
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) a64[r * d + j] = rng.normal() * 0.75 ** j;
  const a = Float32Array.from(a64);
  const exact = jacobiSvd(Float64Array.from(a), n, d);
  const r = randomizedSvd(a, n, d, new Rng(1), OPTS);
  assert.equal(r.rank, 32);
  for (let i = 0; i < 8; i++) {
    const rel = Math.abs(r.values[i] - exact.s[i]) / exact.s[i];
    assert.ok(rel < 1e-6, `s_${i}: ${r.values[i]} vs ${exact.s[i]} (rel ${rel})`);
    const c = absCos(r.vectors.subarray(i * d, (i + 1) * d), exact.v[i]);
    assert.ok(c > 1 - 1e-6, `v_${i}: |cos| ${c}`);
  }
  // sign convention: largest-magnitude entry positive
  for (let i = 0; i < r.rank; i++) {
    const v = Array.from(r.vectors.subarray(i * d, (i + 1) * d));
    const big = v.reduce((b, x) => (Math.abs(x) > Math.abs(b) ? x : b), 0);
    assert.ok(big > 0);
  }
});

test("rSVD of a rank-3 matrix built from known singular pairs returns exactly those 3", () => {
  const n = 50;
  const d = 20;
  const rng = new Rng(11);
  // orthonormal u (n) and v (d) triples by Gram-Schmidt, s = 5, 2, 0.5
  const ortho = (len: number) => {
    const vs: number[][] = [];
    while (vs.length < 3) {
      const x = Array.from({ length: len }, () => rng.normal());
      for (const p of vs) {
        const dot = x.reduce((s, xi, i) => s + xi * p[i], 0);
        for (let i = 0; i < len; i++) x[i] -= dot * p[i];
      }
      const nrm = Math.sqrt(x.reduce((s, xi) => s + xi * xi, 0));
      vs.push(x.map((xi) => xi / nrm));
    }
    return vs;
  };
  const us = ortho(n);
  const vs = ortho(d);
  const sv = [5, 2, 0.5];
  const a = new Float64Array(n * d);
  for (let k = 0; k < 3; k++)
    for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) a[r * d + j] += sv[k] * us[k][r] * vs[k][j];
  const r = randomizedSvd(a, n, d, new Rng(2), OPTS);
  assert.equal(r.rank, 3);
  for (let k = 0; k < 3; k++) {
    assert.ok(Math.abs(r.values[k] - sv[k]) < 1e-10, `s_${k} ${r.values[k]}`);
    assert.ok(absCos(r.vectors.subarray(k * d, (k + 1) * d), vs[k]) > 1 - 1e-12);
  }
});
