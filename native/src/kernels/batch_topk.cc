// BatchTopK selection of the SAE step into CSR (src/core/backend-sparse.ts; TypeScript twin in
// src/core/backends/ref-sparse.ts):
//   batchTopkSelect(x, bias, rows, cols, K, rowPtr, idx, val): with v = ReLU(x + bias) (bias [cols]
//     or null; NaN stays NaN and ranks as -inf), the K largest v of the whole batch x [rows, cols]
//     (equal values: the lower flat index r * cols + c first) as a CSR: rowPtr [rows + 1], idx / val
//     [K] by row, columns increasing within a row. No dense output.
// Method: (A) the max of every block of 16 columns of each row (one read of x); (B) T = a lower
// bound of the K-th largest v: the smallest value of the histogram bin (top 16 bits of the float)
// where the count of block maxima from the top reaches K (K blocks hold a value >= T); (C) the values
// >= T of the blocks whose max reaches T are the candidates (usually ~K), read again in flat order;
// (D) the K-th largest candidate key thr (nth_element), then every candidate > thr and the first
// candidates == thr in flat order. When T <= 0 (fewer than K blocks hold a positive value) the
// candidates are the positive values; when fewer than K values are positive, all of them plus the
// first zeros (then NaNs) in flat order are taken in a last full pass.
#include <omp.h>

#include <algorithm>
#include <limits>

#include "kutil.h"

namespace msae {
namespace {

constexpr int64_t kB = 16;
constexpr int kBins = 1 << 16;

inline float relu_bias(const float* xr, const float* b, int64_t c) {
  const float y = b ? xr[c] + b[c] : xr[c];
  return y <= 0.0f ? 0.0f : y;  // NaN stays NaN
}

Napi::Value BatchTopkSelect(const Napi::CallbackInfo& info) {
  const char* K_ = "batchTopkSelect";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K_, "x");
  auto bias = f32_opt(info, 1, K_, "bias");
  const int64_t rows = dim_arg(info, 2, K_, "rows"), cols = dim_arg(info, 3, K_, "cols");
  const int64_t K = dim_arg(info, 4, K_, "K");
  auto rp = i32_arg(info, 5, K_, "rowPtr");
  auto ix = i32_arg(info, 6, K_, "idx");
  auto vl = f32_arg(info, 7, K_, "val");
  const int64_t n = mul_dims(env, K_, rows, cols);
  need_len(env, K_, "x", x.n, n, "rows*cols");
  if (bias.p) need_len(env, K_, "bias", bias.n, cols, "cols");
  need_len(env, K_, "rowPtr", rp.n, rows + 1, "rows + 1");
  need(env, K <= n, K_, "K exceeds rows * cols");
  need(env, K < (int64_t(1) << 31), K_, "K must fit an int32");
  need(env, static_cast<int64_t>(ix.n) >= K && static_cast<int64_t>(vl.n) >= K, K_, "idx / val hold fewer than K entries");
  const float *px = x.p, *pb = bias.p;
  int32_t* rowPtr = rp.p;
  int32_t* idx = ix.p;
  float* val = vl.p;
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r <= rows; r++) rowPtr[r] = 0;
  if (K == 0 || rows == 0) return env.Undefined();
  const int64_t nbr = (cols + kB - 1) / kB;  // blocks per row, the last one possibly partial
  const bool par = rows > 1 && n > kParElems;
  const int nthreads = par ? omp_get_max_threads() : 1;
  float* bmax = thread_scratch<float, 4>(static_cast<size_t>(rows * nbr));
  // (A) block maxima of the keys.
  parallel_for(rows, par, [=](int64_t r) {
    const float* xr = px + r * cols;
    for (int64_t b = 0; b < nbr; b++) {
      const int64_t c0 = b * kB, c1 = c0 + kB < cols ? c0 + kB : cols;
      float mx = ninf;
#pragma omp simd reduction(max : mx)
      for (int64_t c = c0; c < c1; c++) {
        const float u = relu_bias(xr, pb, c);
        mx = u > mx ? u : mx;  // NaN never wins
      }
      bmax[r * nbr + b] = mx;
    }
  });
  // (B) histogram of the block maxima (>= 0 or -inf) by the top 16 bits of the float.
  const int64_t nBlocks = rows * nbr;
  uint32_t* hist = thread_scratch<uint32_t, 4>(static_cast<size_t>(nthreads) * kBins);
#pragma omp parallel num_threads(nthreads) if (par)
  {
    uint32_t* h = hist + static_cast<int64_t>(omp_get_thread_num()) * kBins;
    for (int i = 0; i < kBins; i++) h[i] = 0;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < nBlocks; i++)
      if (bmax[i] >= 0.0f) h[float_to_bits(bmax[i]) >> 16]++;
  }
  float T = ninf;
  {
    int64_t above = 0;
    for (int bin = kBins - 1; bin >= 0; bin--) {
      int64_t c = 0;
      for (int t = 0; t < nthreads; t++) c += hist[static_cast<int64_t>(t) * kBins + bin];
      above += c;
      if (above >= K) {
        T = bits_to_float(static_cast<uint32_t>(bin) << 16);
        break;
      }
    }
  }
  // (C) candidates: values >= T (T > 0), else values > 0, of the blocks that can hold them.
  const bool positiveOnly = !(T > 0.0f);
  int32_t* cnt = thread_scratch<int32_t, 4>(static_cast<size_t>(rows + 1));
  auto isCand = [=](float u) { return positiveOnly ? u > 0.0f : u >= T; };
  parallel_for(rows, par, [=](int64_t r) {
    const float* xr = px + r * cols;
    int32_t c = 0;
    for (int64_t b = 0; b < nbr; b++) {
      const float mb = bmax[r * nbr + b];
      if (!(positiveOnly ? mb > 0.0f : mb >= T)) continue;
      const int64_t c0 = b * kB, c1 = c0 + kB < cols ? c0 + kB : cols;
      for (int64_t j = c0; j < c1; j++) c += isCand(relu_bias(xr, pb, j));
    }
    cnt[r + 1] = c;
  });
  cnt[0] = 0;
  for (int64_t r = 0; r < rows; r++) cnt[r + 1] += cnt[r];
  const int64_t C = cnt[rows];
  float* ckey = thread_scratch<float, 5>(static_cast<size_t>(2 * C + 1));
  int32_t* ccol = thread_scratch<int32_t, 5>(static_cast<size_t>(C + 1));
  parallel_for(rows, par, [=](int64_t r) {
    const float* xr = px + r * cols;
    int64_t e = cnt[r];
    for (int64_t b = 0; b < nbr; b++) {
      const float mb = bmax[r * nbr + b];
      if (!(positiveOnly ? mb > 0.0f : mb >= T)) continue;
      const int64_t c0 = b * kB, c1 = c0 + kB < cols ? c0 + kB : cols;
      for (int64_t j = c0; j < c1; j++) {
        const float u = relu_bias(xr, pb, j);
        if (isCand(u)) {
          ckey[e] = u;
          ccol[e++] = static_cast<int32_t>(j);
        }
      }
    }
  });
  if (C >= K) {
    // (D) exact K-th largest candidate, ties in flat order (candidates are in flat order).
    float* tmp = ckey + C;
    std::copy(ckey, ckey + C, tmp);
    std::nth_element(tmp, tmp + (K - 1), tmp + C, [](float p, float q) { return p > q; });
    const float thr = tmp[K - 1];
    int64_t above = 0;
    for (int64_t e = 0; e < C; e++) above += ckey[e] > thr;
    int64_t ties = K - above, o = 0;
    for (int64_t r = 0; r < rows; r++) {
      for (int64_t e = cnt[r]; e < cnt[r + 1]; e++) {
        if (ckey[e] > thr || (ckey[e] == thr && ties-- > 0)) {
          idx[o] = ccol[e];
          val[o++] = ckey[e];
        }
      }
      rowPtr[r + 1] = static_cast<int32_t>(o);
    }
    return env.Undefined();
  }
  // Fewer than K positive values: all of them, then zeros, then NaNs, each in flat order.
  int64_t need0 = K - C, zeros = 0;
  for (int64_t i = 0; i < n; i++) zeros += relu_bias(px + (i / cols) * cols, pb, i % cols) == 0.0f;
  const bool takeAllZeros = zeros <= need0;
  int64_t needNaN = takeAllZeros ? need0 - zeros : 0;
  int64_t o = 0;
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = px + r * cols;
    for (int64_t j = 0; j < cols; j++) {
      const float u = relu_bias(xr, pb, j);
      const bool take = u > 0.0f || (u == 0.0f && (takeAllZeros || need0-- > 0)) || (u != u && needNaN-- > 0);
      if (take) {
        idx[o] = static_cast<int32_t>(j);
        val[o++] = u;
      }
    }
    rowPtr[r + 1] = static_cast<int32_t>(o);
  }
  return env.Undefined();
}

}  // namespace

void RegisterBatchTopk(Napi::Env env, Napi::Object exports) {
  exports.Set("batchTopkSelect", Napi::Function::New(env, BatchTopkSelect));
}

}  // namespace msae
