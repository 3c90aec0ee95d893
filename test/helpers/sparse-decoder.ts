/**
 * Runs f with the SAE step's decoder on sparse codes (src/sae/sparse-codes.ts) forced on or off,
 * whatever the decoder size and the codes' density; the setting is restored afterwards.
 */
import { SPARSE_DECODER } from "../../src/sae/sparse-codes.ts";

export function withDecoder<T>(sparse: boolean, f: () => T): T {
  const keep = { ...SPARSE_DECODER };
  SPARSE_DECODER.maxDensity = sparse ? 1 : -1;
  SPARSE_DECODER.minDecoderSize = 0;
  try {
    return f();
  } finally {
    Object.assign(SPARSE_DECODER, keep);
  }
}

/** withDecoder for an async f (the setting holds until f's promise settles). */
export async function withDecoderAsync<T>(sparse: boolean, f: () => Promise<T>): Promise<T> {
  const keep = { ...SPARSE_DECODER };
  SPARSE_DECODER.maxDensity = sparse ? 1 : -1;
  SPARSE_DECODER.minDecoderSize = 0;
  try {
    return await f();
  } finally {
    Object.assign(SPARSE_DECODER, keep);
  }
}
