/**
 * ExplorerBackend.gemm (the explorer's reordered loop) against RefBackend.gemm (the oracle's
 * plain triple loop): every transpose, leading dims past the width, alpha / beta, float64 and
 * float32 arrays, A with many zeros (the skipped products), and the same argument errors.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import { ExplorerBackend } from "../../src/report/explorer/backend.ts";

const fast = new ExplorerBackend();

test("ExplorerBackend.gemm equals RefBackend.gemm on every transpose, stride, alpha and beta", () => {
  const rng = new Rng(3);
  for (const type of ["f64", "f32"] as const)
    for (const transA of [false, true])
      for (const transB of [false, true])
        for (const [m, n, k, pad, alpha, beta] of [
          [1, 1, 1, 0, 1, 0],
          [5, 7, 3, 2, 0.5, 0],
          [9, 4, 13, 1, 1, 0.75],
          [16, 33, 8, 0, -2, 1],
        ]) {
          const make = (len: number) => (type === "f64" ? new Float64Array(len) : new Float32Array(len));
          const lda = (transA ? m : k) + pad;
          const ldb = (transB ? k : n) + pad;
          const ldc = n + pad;
          const a = make((transA ? k : m) * lda);
          const b = make((transB ? n : k) * ldb);
          rng.fillNormal(a, 1);
          rng.fillNormal(b, 1);
          for (let i = 0; i < a.length; i += 3) a[i] = 0; // sparse like SAE codes
          const c0 = make(m * ldc);
          rng.fillNormal(c0, 1);
          const want = c0.slice();
          const got = c0.slice();
          refBackend.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc);
          fast.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, got, ldc);
          const tol = type === "f64" ? 1e-12 : 1e-6;
          for (let i = 0; i < want.length; i++)
            assert.ok(
              Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i])),
              `${type} ${transA ? "T" : "N"}${transB ? "T" : "N"} ${m}x${n}x${k}: [${i}] ${got[i]} vs ${want[i]}`,
            );
        }
});

test("ExplorerBackend.gemm refuses what RefBackend.gemm refuses", () => {
  const a = new Float32Array(6);
  const c = new Float32Array(4);
  for (const args of [
    [false, false, 2, 2, 3, 1, a, 3, new Float32Array(5), 2, 0, c, 2], // b too short
    [false, false, 2, 2, 3, 1, a, 3, new Float64Array(6), 2, 0, c, 2], // mixed array types
    [false, false, -1, 2, 3, 1, a, 3, new Float32Array(6), 2, 0, c, 2],
  ] as const) {
    const call = (be: typeof fast) => () => (be.gemm as (...x: unknown[]) => void)(...args);
    let refMsg = "";
    assert.throws(call(refBackend as typeof fast), (e: Error) => {
      refMsg = e.message;
      return true;
    });
    assert.throws(call(fast), (e: Error) => e.message === refMsg);
  }
});
