// bf16 weight GEMM kernels (layout and contract in gemm_bf16.h):
//
//   out[i, j] = sum_k bf16(x[i, k]) * bf16(W[j, k])   fp32 accumulation
//
// The activation operand x is rounded to bf16 (nearest even) once per call into a zero-padded
// [mp, kp] buffer (mp = ceil(m / 32) * 32); the weights were packed once at load. Blocking, for
// every kernel: tasks are (256 rows) x (256 columns) blocks of the output spread over the OpenMP
// threads; inside a task k runs in chunks of <= 512 (the 512 x 256 bf16 weight block, 256 KB, stays
// in L2), rows in 32-row strips (32 x 512 bf16 of x, 32 KB, stays in L1), columns in 32-wide blocks.
// - amx: a 32 x 32 output block is 4 fp32 tiles (tmm0..3), x two 16 x 32 bf16 tiles (tmm4, 5),
//   W two 32 x 16 tiles in VNNI pairs (tmm6, 7); 4 tdpbf16ps per 32 k.
// - avx512bf16: an 8 x 32 output block is 16 zmm accumulators; per k pair one broadcast of x's
//   pair per row and one vdpbf16ps per accumulator.
// - f32: x and W widened back to fp32 (the same bf16 values), 256 columns at a time, through
//   own_sgemm (fp32 FMA): identical operands, only the summation order differs.
// Output rows or columns past a multiple of 32 go through a padded scratch block.
#include "gemm_bf16.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "gemm_own.h"
#include "kutil.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace msae {
namespace {

constexpr int64_t kTaskRows = 256, kTaskCols = 256, kMaxKc = 512;

inline float bf16_to_f32(uint16_t h) { return bits_to_float(static_cast<uint32_t>(h) << 16); }

// x [m, k] (row stride k) -> a [mp, kp] bf16, zero-padded.
void round_rows(const float* x, int64_t m, int64_t k, int64_t mp, int64_t kp, uint16_t* a) {
  parallel_for(mp, mp * kp > kParElems, [=](int64_t i) {
    uint16_t* ai = a + i * kp;
    if (i >= m) {
      std::memset(ai, 0, static_cast<size_t>(kp) * 2);
      return;
    }
    const float* xi = x + i * k;
#pragma omp simd
    for (int64_t j = 0; j < k; j++) ai[j] = f32_to_bf16_bits(float_to_bits(xi[j]));
    for (int64_t j = k; j < kp; j++) ai[j] = 0;
  });
}

// k chunks of at most kMaxKc, multiples of 32, as even as possible.
int64_t chunk_len(int64_t kp) {
  const int64_t chunks = (kp + kMaxKc - 1) / kMaxKc;
  return bf16_pad32((kp + chunks - 1) / chunks);
}

#if defined(__x86_64__)
struct TileConfig {
  uint8_t palette, start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// One task: output rows [r0, r1), columns [c0, c1) (multiples of 32) of c (row stride ldc).
__attribute__((target("amx-tile,amx-bf16,avx512f"))) void amx_task(const uint16_t* a, int64_t kp, const uint16_t* packed,
                                                                    float* c, int64_t ldc, int64_t r0, int64_t r1,
                                                                    int64_t c0, int64_t c1) {
  const int64_t kc = chunk_len(kp);
  const int64_t sa = kp * 2, sc = ldc * 4;
  for (int64_t k0 = 0; k0 < kp; k0 += kc) {
    const int64_t k1 = std::min(kp, k0 + kc);
    for (int64_t i = r0; i < r1; i += 32) {
      const uint16_t* ai = a + i * kp;
      for (int64_t j = c0; j < c1; j += 32) {
        float* cij = c + i * ldc + j;
        if (k0 == 0) {
          _tile_zero(0);
          _tile_zero(1);
          _tile_zero(2);
          _tile_zero(3);
        } else {
          _tile_loadd(0, cij, sc);
          _tile_loadd(1, cij + 16, sc);
          _tile_loadd(2, cij + 16 * ldc, sc);
          _tile_loadd(3, cij + 16 * ldc + 16, sc);
        }
        const uint16_t* b0 = packed + (j / 16) * kp * 16;
        const uint16_t* b1 = b0 + kp * 16;
        for (int64_t kk = k0; kk < k1; kk += 32) {
          _tile_loadd(4, ai + kk, sa);
          _tile_loadd(5, ai + 16 * kp + kk, sa);
          _tile_loadd(6, b0 + kk * 16, 64);
          _tile_loadd(7, b1 + kk * 16, 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 4, 7);
          _tile_dpbf16ps(2, 5, 6);
          _tile_dpbf16ps(3, 5, 7);
        }
        _tile_stored(0, cij, sc);
        _tile_stored(1, cij + 16, sc);
        _tile_stored(2, cij + 16 * ldc, sc);
        _tile_stored(3, cij + 16 * ldc + 16, sc);
      }
    }
  }
}

__attribute__((target("amx-tile,amx-bf16,avx512f"))) void amx_begin() {
  TileConfig cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
}

__attribute__((target("amx-tile"))) void amx_end() { _tile_release(); }

__attribute__((target("avx512f,avx512bf16"))) void avx512bf16_task(const uint16_t* a, int64_t kp,
                                                                   const uint16_t* packed, float* c, int64_t ldc,
                                                                   int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  const int64_t kc = chunk_len(kp);
  const int64_t ka = kp / 2;  // row stride of x in bf16 pairs
  for (int64_t k0 = 0; k0 < kp; k0 += kc) {
    const int64_t q0 = k0 / 2, q1 = std::min(kp, k0 + kc) / 2;
    for (int64_t i = r0; i < r1; i += 8) {
      const int32_t* ai = reinterpret_cast<const int32_t*>(a + i * kp);
      for (int64_t j = c0; j < c1; j += 32) {
        __m512 acc[8][2];
        float* cij = c + i * ldc + j;
        for (int r = 0; r < 8; r++) {
          acc[r][0] = k0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(cij + r * ldc);
          acc[r][1] = k0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(cij + r * ldc + 16);
        }
        const uint16_t* b0 = packed + (j / 16) * kp * 16;
        const uint16_t* b1 = b0 + kp * 16;
        for (int64_t q = q0; q < q1; q++) {
          const __m512bh w0 = (__m512bh)_mm512_loadu_si512(b0 + q * 32);
          const __m512bh w1 = (__m512bh)_mm512_loadu_si512(b1 + q * 32);
          for (int r = 0; r < 8; r++) {
            const __m512bh x = (__m512bh)_mm512_set1_epi32(ai[r * ka + q]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, w0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, w1);
          }
        }
        for (int r = 0; r < 8; r++) {
          _mm512_storeu_ps(cij + r * ldc, acc[r][0]);
          _mm512_storeu_ps(cij + r * ldc + 16, acc[r][1]);
        }
      }
    }
  }
}

void xgetbv0(uint32_t* lo) {
  uint32_t hi;
  __asm__ volatile("xgetbv" : "=a"(*lo), "=d"(hi) : "c"(0));
}

// Linux: AMX tile data must be requested once per process before the first tile instruction.
bool amx_permitted() {
#if defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}
#endif

// Runs every (row block, column block) task of c [mp, np] over the OpenMP threads.
void run_tasks(Bf16Kernel kernel, const uint16_t* a, int64_t mp, int64_t kp, const uint16_t* packed, int64_t np,
               float* c, int64_t ldc) {
  const int64_t tr = (mp + kTaskRows - 1) / kTaskRows, tc = (np + kTaskCols - 1) / kTaskCols;
  const int64_t ntasks = tr * tc;
#pragma omp parallel if (ntasks > 1 && mp * np * kp > (int64_t(1) << 18))
  {
#if defined(__x86_64__)
    if (kernel == Bf16Kernel::Amx) amx_begin();
#endif
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < ntasks; t++) {
      const int64_t r0 = (t / tc) * kTaskRows, c0 = (t % tc) * kTaskCols;
      const int64_t r1 = std::min(mp, r0 + kTaskRows), c1 = std::min(np, c0 + kTaskCols);
#if defined(__x86_64__)
      if (kernel == Bf16Kernel::Amx) amx_task(a, kp, packed, c, ldc, r0, r1, c0, c1);
      if (kernel == Bf16Kernel::Avx512Bf16) avx512bf16_task(a, kp, packed, c, ldc, r0, r1, c0, c1);
#else
      (void)a, (void)packed, (void)c, (void)ldc, (void)r0, (void)r1, (void)c0, (void)c1;
#endif
    }
#if defined(__x86_64__)
    if (kernel == Bf16Kernel::Amx) amx_end();
#endif
  }
}

// fp32 path: widen x's bf16 rows and 256 weight columns at a time, then own_sgemm (x W^T).
void f32_gemm(const uint16_t* a, int64_t m, int64_t k, int64_t kp, const uint16_t* packed, int64_t n, float* out) {
  float* af = thread_scratch<float, 11>(static_cast<size_t>(m * kp));
  float* wf = thread_scratch<float, 12>(static_cast<size_t>(kTaskCols * kp));
  parallel_map(m * kp, [=](int64_t i) { af[i] = bf16_to_f32(a[i]); });
  for (int64_t j0 = 0; j0 < n; j0 += kTaskCols) {
    const int64_t nc = std::min(kTaskCols, n - j0);
    parallel_for(nc, nc * kp > kParElems, [=](int64_t jj) {
      const int64_t j = j0 + jj;
      const uint16_t* panel = packed + (j / 16) * kp * 16 + (j % 16) * 2;
      float* wj = wf + jj * kp;
      for (int64_t q = 0; q < kp / 2; q++) {
        wj[2 * q] = bf16_to_f32(panel[q * 32]);
        wj[2 * q + 1] = bf16_to_f32(panel[q * 32 + 1]);
      }
    });
    own_sgemm(false, true, m, nc, k, 1.0f, af, kp, wf, kp, 0.0f, out + j0, n);
  }
}

}  // namespace

void bf16_pack(const float* w, int64_t n, int64_t k, bool trans_w, uint16_t* packed) {
  const int64_t np = bf16_pad32(n), kp = bf16_pad32(k);
  parallel_for(np / 16, np * kp > kParElems, [=](int64_t p) {
    uint16_t* dst = packed + p * kp * 16;
    for (int64_t q = 0; q < kp / 2; q++) {
      for (int64_t c = 0; c < 16; c++) {
        const int64_t j = p * 16 + c;
        for (int64_t e = 0; e < 2; e++) {
          const int64_t kk = 2 * q + e;
          const bool in = j < n && kk < k;
          const float v = in ? (trans_w ? w[kk * n + j] : w[j * k + kk]) : 0.0f;
          dst[q * 32 + c * 2 + e] = in ? f32_to_bf16_bits(float_to_bits(v)) : 0;
        }
      }
    }
  });
}

void bf16_gemm(Bf16Kernel kernel, const float* x, int64_t m, int64_t k, const uint16_t* packed, int64_t n, float* out) {
  if (m == 0 || n == 0) return;
  const int64_t kp = bf16_pad32(k), mp = bf16_pad32(m), np = bf16_pad32(n);
  uint16_t* a = thread_scratch<uint16_t, 10>(static_cast<size_t>(mp * kp));
  round_rows(x, m, k, mp, kp, a);
  if (kernel == Bf16Kernel::F32) {
    f32_gemm(a, m, k, kp, packed, n, out);
    return;
  }
  if (mp == m && np == n) {
    run_tasks(kernel, a, mp, kp, packed, np, out, n);
    return;
  }
  float* c = thread_scratch<float, 13>(static_cast<size_t>(mp * np));
  run_tasks(kernel, a, mp, kp, packed, np, c, np);
  parallel_rows(m, n, [=](int64_t i) { std::memcpy(out + i * n, c + i * np, static_cast<size_t>(n) * 4); });
}

std::vector<Bf16Kernel> bf16_available() {
  std::vector<Bf16Kernel> out;
#if defined(__x86_64__)
  uint32_t a, b, c, d;
  bool osxsave = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 27));
  uint32_t xcr0 = 0;
  if (osxsave) xgetbv0(&xcr0);
  const bool os_avx512 = (xcr0 & 0xe6u) == 0xe6u;  // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr0 & 0x60000u) == 0x60000u;  // XTILECFG, XTILEDATA
  uint32_t b7 = 0, d7 = 0, a71 = 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    b7 = b;
    d7 = d;
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) a71 = a;
  const bool avx512f = (b7 & (1u << 16)) != 0;
  const bool avx512bf16 = avx512f && (a71 & (1u << 5)) != 0 && os_avx512;
  const bool amx = avx512f && os_avx512 && os_amx && (d7 & (1u << 22)) && (d7 & (1u << 24));
  static const bool permitted = amx && amx_permitted();
  if (amx && permitted) out.push_back(Bf16Kernel::Amx);
  if (avx512bf16) out.push_back(Bf16Kernel::Avx512Bf16);
#endif
  out.push_back(Bf16Kernel::F32);
  return out;
}

const char* bf16_kernel_name(Bf16Kernel k) {
  return k == Bf16Kernel::Amx ? "amx" : (k == Bf16Kernel::Avx512Bf16 ? "avx512bf16" : "f32");
}

bool bf16_kernel_parse(const std::string& name, Bf16Kernel* out) {
  for (Bf16Kernel k : {Bf16Kernel::Amx, Bf16Kernel::Avx512Bf16, Bf16Kernel::F32}) {
    if (name == bf16_kernel_name(k)) {
      *out = k;
      return true;
    }
  }
  return false;
}

}  // namespace msae
