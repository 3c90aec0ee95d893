/** The arrays every Backend kernel computes on: float32 (native, ref) or float64 (ref, gradient checks). */
export type FloatArray = Float32Array | Float64Array;
