// Prints the CBLAS this machine offers to the native build: "openblas", "accelerate" or "none".
// Used by binding.gyp at configure time; MSAE_BLAS=none forces the project's own GEMM.
import { existsSync } from "node:fs";

function detect() {
  const forced = process.env.MSAE_BLAS;
  if (forced === "none" || forced === "openblas" || forced === "accelerate") return forced;
  if (process.platform === "darwin") return "accelerate";
  const headers = ["/usr/include/cblas.h", "/usr/include/x86_64-linux-gnu/cblas.h", "/usr/include/openblas/cblas.h", "/usr/include/aarch64-linux-gnu/cblas.h"];
  const libs = [
    "/usr/lib/x86_64-linux-gnu/libopenblas.so",
    "/usr/lib/aarch64-linux-gnu/libopenblas.so",
    "/usr/lib/libopenblas.so",
    "/usr/lib64/libopenblas.so",
  ];
  if (headers.some((h) => existsSync(h)) && libs.some((l) => existsSync(l))) return "openblas";
  return "none";
}

process.stdout.write(detect());
