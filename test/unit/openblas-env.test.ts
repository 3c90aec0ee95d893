// OPENBLAS_THREAD_TIMEOUT: msae sets 16 when unset, before the addon (and OpenBLAS) loads, so idle
// OpenBLAS workers stop spinning soon after a GEMM; a benchmark peer runs OpenBLAS as installed
// (msae's default is not passed on), while a value the user set is passed on.
import assert from "node:assert/strict";
import { test } from "node:test";
import { peerEnv } from "../../bench/openblas-core.ts";
import { loadAddon, OPENBLAS_THREAD_TIMEOUT_DEFAULT, openblasTimeoutSetByMsae } from "../../src/core/backends/addon.ts";

test("OPENBLAS_THREAD_TIMEOUT: msae's default for itself, the installed default for a peer", (t) => {
  const userSet = process.env.OPENBLAS_THREAD_TIMEOUT;
  if (!loadAddon()) {
    t.skip("native addon not built");
    return;
  }
  if (userSet === undefined) {
    assert.equal(process.env.OPENBLAS_THREAD_TIMEOUT, OPENBLAS_THREAD_TIMEOUT_DEFAULT);
    assert.equal(openblasTimeoutSetByMsae(), true);
    assert.equal(peerEnv(null, 2).OPENBLAS_THREAD_TIMEOUT, undefined);
  } else {
    assert.equal(openblasTimeoutSetByMsae(), false);
    assert.equal(peerEnv(null, 2).OPENBLAS_THREAD_TIMEOUT, userSet);
  }
  assert.equal(peerEnv("Haswell", 2).OPENBLAS_CORETYPE, "Haswell");
});
