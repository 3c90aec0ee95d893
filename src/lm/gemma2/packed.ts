/**
 * Packed projections of a Gemma-2 block: q|k|v as one matrix Wqkv = [Wq; Wk; Wv]
 * [(H + 2 KV) hd, d] and gate|up as one Wgu = [Wg; Wu] [2 dMlp, d], so each runs as ONE GEMM:
 *
 *   qkv [rows, (H + 2 KV) hd] = a Wqkv^T   (row r = q_r | k_r | v_r)
 *   gu  [rows, 2 dMlp]        = b Wgu^T    (row r = gate_r | up_r)
 *   backward: d_a = dqkv Wqkv, dWqkv += dqkv^T a (and the same for gu): one GEMM each.
 *
 * Stacking rows of [out, in] matrices is exact: each output column is the same dot product as in
 * the separate GEMMs. When the separate tensors lie back to back in one buffer (training: the
 * flat parameter buffer of train/params.ts, which also holds the gradients back to back), the
 * stacked matrix is a view and nothing is copied; otherwise (a model loaded from safetensors)
 * the forward runs the separate GEMMs into the same packed activations (ldc = the packed width).
 */
import type { FloatArray } from "../../core/backend.ts";

/** One view over `parts` when they lie back to back in one buffer (same array type); else null. */
export function joinedView<A extends FloatArray>(parts: readonly A[]): A | null {
  const first = parts[0];
  if (!first || first.length === 0) return null;
  let end = first.byteOffset + first.byteLength;
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i];
    if (p.buffer !== first.buffer || p.constructor !== first.constructor || p.byteOffset !== end) return null;
    end += p.byteLength;
  }
  const Ctor = first.constructor as new (b: ArrayBufferLike, o: number, n: number) => A;
  return new Ctor(first.buffer, first.byteOffset, (end - first.byteOffset) / first.BYTES_PER_ELEMENT);
}

/** A new array holding `parts` one after the other (the stacked matrix of separate tensors). */
export function concatArrays(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The stacked views of one layer's weights (or gradients), null where not back to back. */
export interface PackedLayer<A extends FloatArray = Float32Array> {
  wqkv: A | null; // [(H + 2 KV) hd, d]
  wgu: A | null; // [2 dMlp, d]
}

export function packedLayer<A extends FloatArray>(w: { wq: A; wk: A; wv: A; wGate: A; wUp: A }): PackedLayer<A> {
  return { wqkv: joinedView([w.wq, w.wk, w.wv]), wgu: joinedView([w.wGate, w.wUp]) };
}
