/**
 * Types shared by the safetensors reader (safetensors.ts) and writer (safetensors-write.ts), so
 * neither imports the other.
 */
import type { Dtype } from "./safetensors-header.ts";

/** The typed array read() returns for each dtype (F16 / BF16 as raw bits, BOOL as 0/1 bytes). */
export interface StoredArrayOf {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I64: BigInt64Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U64: BigUint64Array;
  U32: Uint32Array;
  U16: Uint16Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
  F8_E5M2: Uint8Array;
  F8_E4M3: Uint8Array;
}
export type StoredArray = StoredArrayOf[Dtype];
