// Register-blocked SGEMM microkernels and blocking constants of the own GEMM (gemm_own.cc),
// chosen at compile time for the build's widest vector ISA:
//
//   c[MR, NR] (row stride ldc) = alpha * sum_p a[p, :]^T b[p, :] + beta * c   (beta = 0: c not read)
//   a: packed A micro-panel [kc, MR] (MR rows interleaved); b: packed B micro-panel [kc, NR].
//
// Per k step: NR/W vector loads of b, MR broadcasts of a, MR * NR/W FMAs into accumulators.
//   AVX-512: 8 x 48, 24 zmm accumulators (+3 b vectors +1 broadcast of the 32 registers);
//            narrow edge panels use 16- or 32-wide variants with masked stores.
//   AVX2 + FMA: 6 x 16, 12 ymm accumulators; edge tiles go through a local tile.
//   Otherwise a portable scalar 4 x 8 loop (the compiler vectorizes what it can).
// Blocking: KC (k per block; an A micro-panel MR x KC stays in L1), NCB (columns of the packed B
// block, KC x NCB in L2), MC (rows of the packed A block).
// Only gemm_own.cc includes this file (everything is in an anonymous namespace).
#pragma once
#include <cstdint>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
// GCC 12 warns about the "undefined" pass-through operand inside some AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace msae {
namespace {

#if defined(__AVX512F__)
constexpr int MR = 8, NV = 3, NR = 16 * NV;  // 24 zmm accumulators + 3 B vectors + 1 broadcast
constexpr int64_t KC = 384, MC = 1024, NCB = 480;
constexpr const char* kKernelName = "avx512 8x48";
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int MR = 6, NR = 16;
constexpr int64_t KC = 256, MC = 1020, NCB = 768;
constexpr const char* kKernelName = "avx2 6x16";
#else
constexpr int MR = 4, NR = 8;
constexpr int64_t KC = 256, MC = 512, NCB = 512;
constexpr const char* kKernelName = "scalar 4x8";
#endif

// c [MR, NR] (row stride ldc) = alpha * sum_p a[p, :]^T b[p, :] + beta * c; beta == 0 never reads c.
// a: packed A micro-panel [kc, MR]; b: packed B micro-panel [kc, NR] (64-byte aligned).

#if defined(__AVX512F__)
// NVE of the NV 16-float column vectors (NVE < NV for a narrow edge panel; b keeps its NR stride);
// only rows r < mr are stored and the last vector is stored through `last` (a lane mask).
template <int NVE>
void kernel_nv(int64_t kc, const float* __restrict a, const float* __restrict b, float* __restrict c, int64_t ldc,
               float alpha, float beta, int mr, __mmask16 last) {
  __m512 acc[MR][NVE];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NVE; ++v) acc[r][v] = _mm512_setzero_ps();
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 16 * NVE - 1), _MM_HINT_T0);
  }
  for (int64_t p = 0; p < kc; ++p) {
    __m512 bv[NVE];
#pragma GCC unroll 4
    for (int v = 0; v < NVE; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NVE; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += MR;
    b += NR;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= mr) break;
#pragma GCC unroll 4
    for (int v = 0; v < NVE; ++v) {
      float* cv = c + r * ldc + 16 * v;
      const __mmask16 mask = v == NVE - 1 ? last : __mmask16(0xFFFF);
      __m512 out = _mm512_mul_ps(va, acc[r][v]);
      if (beta != 0.0f) out = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, cv), out);
      _mm512_mask_storeu_ps(cv, mask, out);
    }
  }
}

void microkernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta) {
  kernel_nv<NV>(kc, a, b, c, ldc, alpha, beta, MR, 0xFFFF);
}

// An edge tile (mr <= MR rows, nr <= NR columns): the narrowest kernel covering nr, masked stores.
void edge_kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int mr, int nr, float alpha,
                 float beta) {
  const int tail = nr % 16;
  const __mmask16 last = tail ? static_cast<__mmask16>((1u << tail) - 1) : static_cast<__mmask16>(0xFFFF);
  static_assert(NV == 3, "edge dispatch below assumes NV = 3");
  if (nr <= 16) {
    kernel_nv<1>(kc, a, b, c, ldc, alpha, beta, mr, last);
  } else if (nr <= 32) {
    kernel_nv<2>(kc, a, b, c, ldc, alpha, beta, mr, last);
  } else {
    kernel_nv<3>(kc, a, b, c, ldc, alpha, beta, mr, last);
  }
}
#elif defined(__AVX2__) && defined(__FMA__)
void microkernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* __restrict c, int64_t ldc,
                 float alpha, float beta) {
  __m256 c0[MR], c1[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    c0[r] = _mm256_setzero_ps();
    c1[r] = _mm256_setzero_ps();
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 15), _MM_HINT_T0);
  }
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r);
      c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
    }
    a += MR;
    b += NR;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      _mm256_storeu_ps(c + r * ldc, _mm256_mul_ps(va, c0[r]));
      _mm256_storeu_ps(c + r * ldc + 8, _mm256_mul_ps(va, c1[r]));
    }
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      float* cr = c + r * ldc;
      _mm256_storeu_ps(cr, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), _mm256_mul_ps(va, c0[r])));
      _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), _mm256_mul_ps(va, c1[r])));
    }
  }
}
#else
void microkernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* __restrict c, int64_t ldc,
                 float alpha, float beta) {
  float acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    for (int r = 0; r < MR; ++r) {
      const float av = a[r];
      for (int j = 0; j < NR; ++j) acc[r][j] += av * b[j];
    }
    a += MR;
    b += NR;
  }
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    for (int j = 0; j < NR; ++j) cr[j] = beta == 0.0f ? alpha * acc[r][j] : alpha * acc[r][j] + beta * cr[j];
  }
}
#endif

#if !defined(__AVX512F__)
// An edge tile (mr <= MR rows, nr <= NR columns): full tile into a local buffer, then merge.
void edge_kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int mr, int nr, float alpha,
                 float beta) {
  alignas(64) float tile[MR * NR];
  microkernel(kc, a, b, tile, NR, alpha, 0.0f);
  for (int r = 0; r < mr; ++r) {
    float* cr = c + r * ldc;
    const float* tr = tile + r * NR;
    if (beta == 0.0f) {
      for (int j = 0; j < nr; ++j) cr[j] = tr[j];
    } else {
      for (int j = 0; j < nr; ++j) cr[j] = tr[j] + beta * cr[j];
    }
  }
}
#endif

#if defined(__AVX512F__)
// In-register transpose: on return r[c] holds column c of the 16 x 16 block whose row i was r[i].
inline void transpose16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {  // per 128-bit lane: pairs of rows interleaved
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // per lane L: r[i + q] holds column 4L + q of rows i..i+3
    const __m512d a0 = _mm512_castps_pd(t[i]), a1 = _mm512_castps_pd(t[i + 1]);
    const __m512d a2 = _mm512_castps_pd(t[i + 2]), a3 = _mm512_castps_pd(t[i + 3]);
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
  }
  __m512 out[16];
  for (int q = 0; q < 4; ++q) {  // gather lane L of r[q], r[4+q], r[8+q], r[12+q] into column 4L + q
    const __m512 x = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88), y = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xDD);
    const __m512 z = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88), w = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xDD);
    out[q] = _mm512_shuffle_f32x4(x, z, 0x88);
    out[8 + q] = _mm512_shuffle_f32x4(x, z, 0xDD);
    out[4 + q] = _mm512_shuffle_f32x4(y, w, 0x88);
    out[12 + q] = _mm512_shuffle_f32x4(y, w, 0xDD);
  }
  for (int c = 0; c < 16; ++c) r[c] = out[c];
}
#endif

}  // namespace
}  // namespace msae
