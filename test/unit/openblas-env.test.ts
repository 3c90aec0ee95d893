// OPENBLAS_THREAD_TIMEOUT: msae sets 16 when unset, before the addon (and OpenBLAS) loads, so idle
// OpenBLAS workers stop spinning soon after a GEMM; a benchmark peer gets the same value (msae's
// default or the user's): the peer is faster with it too.
import assert from "node:assert/strict";
import { test } from "node:test";
import { peerEnv } from "../../bench/openblas-core.ts";
import { loadAddon, OPENBLAS_THREAD_TIMEOUT_DEFAULT } from "../../src/core/backends/addon.ts";

test("OPENBLAS_THREAD_TIMEOUT: msae's default unless set, and the same value for a peer", (t) => {
  const userSet = process.env.OPENBLAS_THREAD_TIMEOUT;
  if (!loadAddon()) {
    t.skip("native addon not built");
    return;
  }
  const want = userSet ?? OPENBLAS_THREAD_TIMEOUT_DEFAULT;
  assert.equal(process.env.OPENBLAS_THREAD_TIMEOUT, want);
  assert.equal(peerEnv(null, 2).OPENBLAS_THREAD_TIMEOUT, want);
  assert.equal(peerEnv("Haswell", 2).OPENBLAS_THREAD_TIMEOUT, want);
  assert.equal(peerEnv("Haswell", 2).OPENBLAS_CORETYPE, "Haswell");
});
