// sgemm for the addon: row-major C[m, n] = alpha * op(A)[m, k] op(B)[k, n] + beta * C[m, n].
// Two implementations, both compiled in: cblas_sgemm (when binding.gyp found a CBLAS: OpenBLAS,
// or Accelerate on macOS) and the project's own packed GEMM (gemm_own.cc). setGemmImpl picks one;
// gemmInfo says which one runs and which BLAS kernel (OpenBLAS core) is in use.
// Every argument is validated here; a bad one throws a one-line TypeError / RangeError.
#include <omp.h>

#include <algorithm>
#include <climits>
#include <string>

#include "common.h"
#include "gemm_own.h"

#if defined(MSAE_HAVE_CBLAS)
#if defined(MSAE_ACCELERATE)
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
extern "C" char* openblas_get_corename(void);
extern "C" char* openblas_get_config(void);
extern "C" void openblas_set_num_threads(int num_threads);
#endif
#endif

namespace msae {
namespace {

enum class GemmImpl { Blas, Own };

#if defined(MSAE_HAVE_CBLAS)
GemmImpl g_impl = GemmImpl::Blas;
#else
GemmImpl g_impl = GemmImpl::Own;
#endif

const char* impl_name(GemmImpl impl) { return impl == GemmImpl::Blas ? "blas" : "own"; }

// The touched extent of a row-major operand: rows x cols with row stride ld, checked against len.
void check_operand(const Napi::Env& env, const char* what, const char* ld_name, int64_t rows, int64_t cols, int64_t ld,
                   size_t len) {
  if (ld < cols) {
    fail_range(env, std::string("sgemm: ") + ld_name + " = " + std::to_string(ld) + " is smaller than the stored row length " +
                        std::to_string(cols) + " of " + what);
  }
  if (rows == 0 || cols == 0) return;
  const int64_t need = (rows - 1) * ld + cols;
  if (static_cast<uint64_t>(need) > len) {
    fail_range(env, std::string("sgemm: ") + what + " has " + std::to_string(len) + " elements, but [" + std::to_string(rows) +
                        ", " + std::to_string(cols) + "] with " + ld_name + " = " + std::to_string(ld) + " needs " +
                        std::to_string(need));
  }
}

// True when [p, p + n) and [q, q + m) (in floats) overlap; empty ranges never overlap.
bool overlaps(const float* p, int64_t n, const float* q, int64_t m) {
  if (n <= 0 || m <= 0) return false;
  return p < q + m && q < p + n;
}

int64_t extent(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; }

#if defined(MSAE_HAVE_CBLAS)
void blas_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
#if !defined(MSAE_ACCELERATE)
  // OpenBLAS runs its own thread pool: keep it at the OpenMP thread count msae uses (setThreads).
  static int blas_threads = -1;
  const int want = omp_get_max_threads();
  if (want != blas_threads) {
    openblas_set_num_threads(want);
    blas_threads = want;
  }
#endif
  // CBLAS requires ld >= max(1, row length); degenerate shapes never reach here (see Sgemm).
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(std::max<int64_t>(1, lda)), b,
              static_cast<int>(std::max<int64_t>(1, ldb)), beta, c, static_cast<int>(std::max<int64_t>(1, ldc)));
}
#endif

// sgemm(transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 13) {
    fail_type(env, "sgemm: expected 13 arguments (transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), got " +
                       std::to_string(info.Length()));
  }
  const bool ta = bool_arg(info, 0, "sgemm", "transA");
  const bool tb = bool_arg(info, 1, "sgemm", "transB");
  const int64_t m = dim_arg(info, 2, "sgemm", "m");
  const int64_t n = dim_arg(info, 3, "sgemm", "n");
  const int64_t k = dim_arg(info, 4, "sgemm", "k");
  const double alpha = num_arg(info, 5, "sgemm", "alpha");
  const View<float> a = f32_arg(info, 6, "sgemm", "a");
  const int64_t lda = dim_arg(info, 7, "sgemm", "lda");
  const View<float> b = f32_arg(info, 8, "sgemm", "b");
  const int64_t ldb = dim_arg(info, 9, "sgemm", "ldb");
  const double beta = num_arg(info, 10, "sgemm", "beta");
  const View<float> c = f32_arg(info, 11, "sgemm", "c");
  const int64_t ldc = dim_arg(info, 12, "sgemm", "ldc");
  for (int64_t d : {m, n, k, lda, ldb, ldc}) {
    if (d > INT_MAX) fail_range(env, "sgemm: dimensions and leading dimensions must be below 2^31, got " + std::to_string(d));
  }
  // Stored shapes: A [m, k] or [k, m] (transA); B [k, n] or [n, k] (transB); C [m, n].
  const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
  const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
  check_operand(env, ta ? "a (stored [k, m], transA)" : "a (stored [m, k])", "lda", a_rows, a_cols, lda, a.n);
  check_operand(env, tb ? "b (stored [n, k], transB)" : "b (stored [k, n])", "ldb", b_rows, b_cols, ldb, b.n);
  check_operand(env, "c (stored [m, n])", "ldc", m, n, ldc, c.n);
  if (m == 0 || n == 0) return env.Undefined();
  const int64_t c_ext = extent(m, n, ldc);
  const bool reads_ab = k > 0 && alpha != 0.0;
  if (reads_ab && (overlaps(c.p, c_ext, a.p, extent(a_rows, a_cols, lda)) || overlaps(c.p, c_ext, b.p, extent(b_rows, b_cols, ldb)))) {
    fail_range(env, "sgemm: the output c overlaps the input a or b (they must be separate memory)");
  }
  const float fa = static_cast<float>(alpha), fb = static_cast<float>(beta);
  if (!reads_ab) {  // C = beta * C; beta = 0 writes zeros without reading C (NaN included)
    for (int64_t i = 0; i < m; ++i) {
      float* ci = c.p + i * ldc;
      if (fb == 0.0f) {
        std::fill(ci, ci + n, 0.0f);
      } else if (fb != 1.0f) {
        for (int64_t j = 0; j < n; ++j) ci[j] *= fb;
      }
    }
    return env.Undefined();
  }
  try {
#if defined(MSAE_HAVE_CBLAS)
    if (g_impl == GemmImpl::Blas) {
      blas_sgemm(ta, tb, m, n, k, fa, a.p, lda, b.p, ldb, fb, c.p, ldc);
      return env.Undefined();
    }
#endif
    own_sgemm(ta, tb, m, n, k, fa, a.p, lda, b.p, ldb, fb, c.p, ldc);
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "sgemm: out of memory allocating the packing buffers");
  }
  return env.Undefined();
}

// setGemmImpl("blas" | "own")
Napi::Value SetGemmImpl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) fail_type(env, "setGemmImpl: argument 'impl' must be \"blas\" or \"own\"");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name == "own") {
    g_impl = GemmImpl::Own;
  } else if (name == "blas") {
#if defined(MSAE_HAVE_CBLAS)
    g_impl = GemmImpl::Blas;
#else
    throw Napi::Error::New(env, "setGemmImpl: \"blas\" is not available: the addon was built without a CBLAS (install libopenblas-dev and rebuild)");
#endif
  } else {
    fail_range(env, "setGemmImpl: impl must be \"blas\" or \"own\", got \"" + name + "\"");
  }
  return env.Undefined();
}

// gemmInfo() -> { impl, blas, corename, config, ownKernel }
Napi::Value GemmInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("impl", impl_name(g_impl));
  o.Set("blas", MSAE_BLAS_NAME);
#if defined(MSAE_HAVE_CBLAS) && !defined(MSAE_ACCELERATE)
  const char* core = openblas_get_corename();
  const char* config = openblas_get_config();
  o.Set("corename", core ? Napi::Value(Napi::String::New(env, core)) : env.Null());
  o.Set("config", config ? Napi::Value(Napi::String::New(env, config)) : env.Null());
#else
  o.Set("corename", env.Null());
  o.Set("config", env.Null());
#endif
  o.Set("ownKernel", own_sgemm_kernel_name());
  return o;
}

}  // namespace

void RegisterGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("sgemm", Napi::Function::New(env, Sgemm));
  exports.Set("setGemmImpl", Napi::Function::New(env, SetGemmImpl));
  exports.Set("gemmInfo", Napi::Function::New(env, GemmInfo));
}

}  // namespace msae
