// The project's own packed SGEMM, GotoBLAS / BLIS structure:
//
//   C[m, n] = alpha * op(A)[m, k] op(B)[k, n] + beta * C[m, n]      (row-major)
//
// - The threads split C into a grid of tm x tn rectangles (whole MR / NR panels each); every
//   thread then runs a private blocked GEMM on its rectangle (no barriers, no shared buffers).
// - Per thread, loops (outermost first): ic over MC rows -> pc over KC of k -> pack the A block
//   [MC, KC] (A micro-panels: MR rows interleaved, k-major) -> jc over NCB columns -> pack the B
//   block [KC, NCB] (B micro-panels: NR columns, k-major, 64-byte aligned) -> ir over MR rows
//   (one A micro-panel stays in L1) -> jr over NR columns (B micro-panels stream from L2).
// - The register-blocked microkernel keeps an MR x NR tile of C in vector registers:
//   per k, NR/W vector loads of B, MR broadcasts of A, MR * NR/W FMAs.
//   AVX-512: 8 x 48 (24 zmm accumulators); AVX2 + FMA: 6 x 16 (12 ymm); otherwise scalar 4 x 8
//   (gemm_microkernels.h).
// - The first k block applies beta (beta = 0 never reads C, so NaN in C is ignored); later k
//   blocks accumulate. Edge tiles (m, n not multiples of MR, NR) store only their mr x nr part;
//   packing pads with zeros. All four transpose layouts are handled by the packers.
// - Packing buffers are thread_local, grown on demand and reused across calls.
#include "gemm_own.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "gemm_microkernels.h"

namespace msae {
namespace {

// ---------------------------------------------------------------------------- packing
constexpr int64_t kPackBlock = 64;  // k rows per step when packing from a strided source

// One A micro-panel: rows i0..i0+mr of op(A), k columns p0..p0+kc -> ap[p * MR + r] (rows >= mr zero).
void pack_a_panel(bool trans_a, const float* a, int64_t lda, int64_t i0, int mr, int64_t p0, int64_t kc,
                  float* __restrict ap) {
  if (trans_a) {  // op(A)[i, p] = a[p * lda + i]: MR contiguous floats per p
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = a + (p0 + p) * lda + i0;
      float* dst = ap + p * MR;
      int r = 0;
      for (; r < mr; ++r) dst[r] = src[r];
      for (; r < MR; ++r) dst[r] = 0.0f;
    }
    return;
  }
  // op(A)[i, p] = a[i * lda + p]: read each row contiguously, scatter with stride MR (in L1).
  for (int64_t pb = 0; pb < kc; pb += kPackBlock) {
    const int64_t pe = std::min(kc, pb + kPackBlock);
    for (int r = 0; r < MR; ++r) {
      if (r < mr) {
        const float* src = a + (i0 + r) * lda + p0;
        for (int64_t p = pb; p < pe; ++p) ap[p * MR + r] = src[p];
      } else {
        for (int64_t p = pb; p < pe; ++p) ap[p * MR + r] = 0.0f;
      }
    }
  }
}

// One B micro-panel: k rows p0..p0+kc of op(B), columns j0..j0+nr -> bp[p * NR + j] (cols >= nr zero).
void pack_b_panel(bool trans_b, const float* b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int nr,
                  float* __restrict bp) {
  if (!trans_b) {  // op(B)[p, j] = b[p * ldb + j]: NR contiguous floats per p
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = b + (p0 + p) * ldb + j0;
      float* dst = bp + p * NR;
      if (nr == NR) {
        std::memcpy(dst, src, sizeof(float) * NR);
      } else {
        int j = 0;
        for (; j < nr; ++j) dst[j] = src[j];
        for (; j < NR; ++j) dst[j] = 0.0f;
      }
    }
    return;
  }
  // op(B)[p, j] = b[j * ldb + p]: read each stored row contiguously, scatter with stride NR.
  int64_t p_done = 0;
#if defined(__AVX512F__)
  if (nr == NR) {  // full panel: 16 x 16 register transposes, 16 k rows at a time
    for (; p_done + 16 <= kc; p_done += 16) {
      for (int jb = 0; jb < NR; jb += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(b + (j0 + jb + i) * ldb + p0 + p_done);
        transpose16x16(r);
        for (int q = 0; q < 16; ++q) _mm512_store_ps(bp + (p_done + q) * NR + jb, r[q]);
      }
    }
  }
#endif
  for (int64_t pb = p_done; pb < kc; pb += kPackBlock) {
    const int64_t pe = std::min(kc, pb + kPackBlock);
    for (int j = 0; j < NR; ++j) {
      if (j < nr) {
        const float* src = b + (j0 + j) * ldb + p0;
        for (int64_t p = pb; p < pe; ++p) bp[p * NR + j] = src[p];
      } else {
        for (int64_t p = pb; p < pe; ++p) bp[p * NR + j] = 0.0f;
      }
    }
  }
}

// ---------------------------------------------------------------------------- buffers
// A per-thread, 64-byte aligned scratch buffer, grown on demand and kept for later calls.
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  ~Scratch() { std::free(p); }
  float* get(size_t need) {
    if (need > n) {
      std::free(p);
      const size_t bytes = (need * sizeof(float) + 63) / 64 * 64;
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!p) {
        n = 0;
        return nullptr;
      }
      n = need;
    }
    return p;
  }
};
thread_local Scratch tl_pack_a, tl_pack_b;

// ---------------------------------------------------------------------------- one thread's rectangle
struct Problem {
  bool ta, tb;
  int64_t k;
  float alpha, beta;
  const float* a;
  int64_t lda;
  const float* b;
  int64_t ldb;
  float* c;
  int64_t ldc;
};

// Rows [m0, m1), columns [n0, n1) of C. Returns false when a packing buffer could not be allocated.
bool gemm_rect(const Problem& pr, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  if (m1 <= m0 || n1 <= n0) return true;
  const int64_t mc_max = std::min(MC, (m1 - m0 + MR - 1) / MR * MR);
  const int64_t nc_max = std::min(NCB, (n1 - n0 + NR - 1) / NR * NR);
  const int64_t kc_max = std::min(KC, pr.k);
  float* ap = tl_pack_a.get(static_cast<size_t>(mc_max * kc_max));
  float* bp = tl_pack_b.get(static_cast<size_t>(nc_max * kc_max));
  if (!ap || !bp) return false;
  for (int64_t ic = m0; ic < m1; ic += MC) {
    const int64_t mc = std::min(MC, m1 - ic);
    for (int64_t pc = 0; pc < pr.k; pc += KC) {
      const int64_t kc = std::min(KC, pr.k - pc);
      const float beta = pc == 0 ? pr.beta : 1.0f;
      for (int64_t ir = 0; ir < mc; ir += MR) {
        pack_a_panel(pr.ta, pr.a, pr.lda, ic + ir, static_cast<int>(std::min<int64_t>(MR, mc - ir)), pc, kc,
                     ap + ir * kc);
      }
      for (int64_t jc = n0; jc < n1; jc += NCB) {
        const int64_t nc = std::min(NCB, n1 - jc);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          pack_b_panel(pr.tb, pr.b, pr.ldb, pc, kc, jc + jr, static_cast<int>(std::min<int64_t>(NR, nc - jr)),
                       bp + jr * kc);
        }
        for (int64_t ir = 0; ir < mc; ir += MR) {
          const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
          const float* apanel = ap + ir * kc;
          float* crow = pr.c + (ic + ir) * pr.ldc + jc;
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
            if (mr == MR && nr == NR) {
              microkernel(kc, apanel, bp + jr * kc, crow + jr, pr.ldc, pr.alpha, beta);
            } else {
              edge_kernel(kc, apanel, bp + jr * kc, crow + jr, pr.ldc, mr, nr, pr.alpha, beta);
            }
          }
        }
      }
    }
  }
  return true;
}

// C = beta * C (k = 0 or alpha = 0); beta = 0 writes zeros without reading C.
void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  if (beta == 1.0f) return;
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.0f) {
      std::fill(ci, ci + n, 0.0f);
    } else {
      for (int64_t j = 0; j < n; ++j) ci[j] *= beta;
    }
  }
}

// Splits `panels` panels among `parts` parts as evenly as possible; returns the first panel of part t.
int64_t split_start(int64_t panels, int64_t parts, int64_t t) {
  const int64_t base = panels / parts, extra = panels % parts;
  return t * base + std::min(t, extra);
}

}  // namespace

const char* own_sgemm_kernel_name() { return kKernelName; }

void own_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.0f) {
    scale_c(m, n, beta, c, ldc);
    return;
  }
  const Problem pr{trans_a, trans_b, k, alpha, beta, a, lda, b, ldb, c, ldc};
  const int64_t mp = (m + MR - 1) / MR, np = (n + NR - 1) / NR;  // panels along m and n
  // Small problems run on one thread (about 1 MFLOP per thread is needed to pay for a fork).
  int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  threads = std::max<int64_t>(1, std::min(threads, 2 * m * n * k / (1 << 20)));
  // Thread grid tm x tn (tm * tn = threads): minimize the largest rectangle plus its packing work.
  int64_t best_tm = 1;
  double best_cost = -1;
  for (int64_t tm = 1; tm <= threads; ++tm) {
    if (threads % tm) continue;
    const int64_t tn = threads / tm;
    if (tm > mp || tn > np) continue;
    const double rows = static_cast<double>((mp + tm - 1) / tm * MR), cols = static_cast<double>((np + tn - 1) / tn * NR);
    const double cost = rows * cols + 4.0 * (rows + cols);
    if (best_cost < 0 || cost < best_cost) {
      best_cost = cost;
      best_tm = tm;
    }
  }
  if (best_cost < 0) threads = 1;  // more threads than panels: stay serial
  const int64_t tm = best_cost < 0 ? 1 : best_tm, tn = threads / tm;
  bool ok = true;
  if (threads == 1) {
    ok = gemm_rect(pr, 0, m, 0, n);
  } else {
    // One grid cell per iteration: correct whatever team size the runtime grants.
#pragma omp parallel for num_threads(static_cast<int>(threads)) schedule(static, 1) reduction(&& : ok)
    for (int64_t t = 0; t < threads; ++t) {
      const int64_t ti = t / tn, tj = t % tn;
      const int64_t m0 = std::min(m, split_start(mp, tm, ti) * MR), m1 = std::min(m, split_start(mp, tm, ti + 1) * MR);
      const int64_t n0 = std::min(n, split_start(np, tn, tj) * NR), n1 = std::min(n, split_start(np, tn, tj + 1) * NR);
      ok = gemm_rect(pr, m0, m1, n0, n1) && ok;
    }
  }
  if (!ok) throw std::bad_alloc();
}

}  // namespace msae
