/**
 * src/io/finite.ts: checkFinite's one-line message (tensor, kind, flat and per-dim index), the
 * TypeScript scan for backends that cannot take the array, and firstNonFiniteHalf on raw F16 /
 * BF16 bits against widening every value to float32 (src/io/dtype.ts) and testing it there.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refBackend } from "../../src/core/backends/index.ts";
import { Rng } from "../../src/core/tensor.ts";
import { tsHalf } from "../../src/io/dtype.ts";
import { checkFinite, findNonFinite, firstNonFiniteHalf, NonFiniteError, unravel } from "../../src/io/finite.ts";

test("checkFinite names the tensor, the kind, the flat and per-dim index; finite data passes", () => {
  const x = new Float32Array(12);
  checkFinite("f.safetensors", "w", x);
  x[7] = Number.NEGATIVE_INFINITY;
  x[9] = Number.NaN;
  assert.throws(
    () => checkFinite("f.safetensors", "w", x, { shape: [3, 4], backend: refBackend }),
    (e: unknown) =>
      e instanceof NonFiniteError &&
      e.index === 7 &&
      e.message ===
        'f.safetensors: tensor "w" has -Inf at index 7 ([1, 3]) of 12 values; expected finite values (--allow-nonfinite (allowNonFinite: true in the API) loads it anyway, for forensics)',
  );
  assert.deepEqual(unravel(23, [2, 3, 4]), [1, 2, 3]);
  assert.equal(findNonFinite(Float64Array.of(0, 1e308 * 10)), 1, "no backend: the TypeScript loop");
});

test("firstNonFiniteHalf equals the first index whose widened value is not finite", () => {
  const rng = new Rng(5);
  for (const dtype of ["F16", "BF16"] as const) {
    for (let trial = 0; trial < 50; trial++) {
      const bits = Uint16Array.from(
        { length: 200 },
        () => Math.floor(rng.next() * 65536) & (trial % 2 ? 0xffff : 0xbfff),
      );
      const wide = new Float32Array(bits.length);
      if (dtype === "F16") tsHalf.f16ToF32(bits, wide);
      else tsHalf.bf16ToF32(bits, wide);
      const want = wide.findIndex((v) => !Number.isFinite(v));
      assert.equal(firstNonFiniteHalf(bits, dtype), want, `${dtype} trial ${trial}`);
    }
  }
});
