// The project's own packed single-precision GEMM (BLIS / GotoBLAS structure), used when no CBLAS
// was found at build time or when setGemmImpl("own") asks for it.
//
//   C[m, n] = alpha * op(A)[m, k] op(B)[k, n] + beta * C[m, n]   (row-major, beta = 0 ignores C)
//
// No Node-API in here, so the file can be benchmarked and tested from a plain C++ harness.
#pragma once
#include <cstdint>

namespace msae {

// Arguments are assumed valid (the caller checks dims and array extents).
// A is stored [m, k] (lda >= k) when !trans_a, else [k, m] (lda >= m);
// B is stored [k, n] (ldb >= n) when !trans_b, else [n, k] (ldb >= k); C is [m, n] (ldc >= n).
void own_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// "avx512 12x32", "avx2 6x16" or "scalar 4x8": the microkernel compiled into this build.
const char* own_sgemm_kernel_name();

}  // namespace msae
