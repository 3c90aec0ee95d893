/**
 * Nearest features by decoder cosine:
 *
 *   cos(i, j) = W_dec[i] . W_dec[j] / (|W_dec[i]| |W_dec[j]|),   neighbours(i) = the k largest over j != i
 *
 * computed as blocks of rows of G = N N^T (N = W_dec with unit rows; a zero row has cosine 0 with
 * everything), `block` rows at a time: memory block * m floats, time m^2 d.
 */
import type { Backend } from "../../core/backend.ts";
import { extremeIndices } from "./unembed.ts";

export function decoderNeighbours(
  wDec: Float32Array, // [m, d]
  m: number,
  d: number,
  k: number,
  backend: Backend,
  block = 256,
): { id: number; cosine: number }[][] {
  const n = new Float32Array(m * d);
  for (let i = 0; i < m; i++) {
    let sq = 0;
    for (let j = 0; j < d; j++) sq += wDec[i * d + j] ** 2;
    const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0;
    for (let j = 0; j < d; j++) n[i * d + j] = wDec[i * d + j] * inv;
  }
  const g = new Float32Array(Math.min(block, m) * m);
  const kk = Math.min(k, m - 1);
  const out: { id: number; cosine: number }[][] = [];
  for (let a = 0; a < m; a += block) {
    const rows = Math.min(block, m - a);
    const gs = g.subarray(0, rows * m);
    backend.gemm(false, true, rows, m, d, 1, n.subarray(a * d, (a + rows) * d), d, n, d, 0, gs, m);
    for (let r = 0; r < rows; r++) {
      const row = gs.subarray(r * m, (r + 1) * m);
      row[a + r] = Number.NEGATIVE_INFINITY; // never its own neighbour
      out.push(extremeIndices(row, kk, 1).map((id) => ({ id, cosine: row[id] })));
    }
  }
  return out;
}
