// Reductions, accumulated in double and deterministic whatever the thread count:
//   sumRows:    out[c] (+)= sum_r x[r, c]                       (bias gradient)
//   sumCols:    out[r] (+)= sum_c x[r, c]
//   colMeanVar: mean[c] = (1/R) sum_r x[r, c];  variance[c] = (1/R) sum_r (x[r, c] - mean[c])^2
//               (biased, two passes so no cancellation; R = 0 gives NaN, like 0/0)
//   sumSquares: sum_i x_i^2 in double (fixed chunks summed in chunk order)
#include "kutil.h"

namespace msae {
namespace {

Napi::Value SumRows(const Napi::CallbackInfo& info) {
  const char* K = "sumRows";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  int64_t rows = dim_arg(info, 1, K, "rows"), cols = dim_arg(info, 2, K, "cols");
  auto out = f32_arg(info, 3, K, "out");
  bool accumulate = bool_arg(info, 4, K, "accumulate");
  need_len(env, K, "x", x.n, mul_dims(env, K, rows, cols), "rows*cols");
  need_len(env, K, "out", out.n, cols, "cols");
  std::vector<double> sums(static_cast<size_t>(cols));
  const float* px = x.p;
  column_sums<1>(
      rows, cols,
      [=](int64_t r, int64_t c0, int64_t c1, double* acc) {
        const float* xr = px + r * cols;
#pragma omp simd
        for (int64_t c = c0; c < c1; c++) acc[c - c0] += xr[c];
      },
      sums.data());
  for (int64_t c = 0; c < cols; c++) {
    out.p[c] = accumulate ? static_cast<float>(out.p[c] + sums[c]) : static_cast<float>(sums[c]);
  }
  return env.Undefined();
}

Napi::Value SumCols(const Napi::CallbackInfo& info) {
  const char* K = "sumCols";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  int64_t rows = dim_arg(info, 1, K, "rows"), cols = dim_arg(info, 2, K, "cols");
  auto out = f32_arg(info, 3, K, "out");
  bool accumulate = bool_arg(info, 4, K, "accumulate");
  need_len(env, K, "x", x.n, mul_dims(env, K, rows, cols), "rows*cols");
  need_len(env, K, "out", out.n, rows, "rows");
  const float* px = x.p;
  float* po = out.p;
#pragma omp parallel for schedule(static) if (rows > 1 && rows * cols > kParElems)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = px + r * cols;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < cols; c++) s += xr[c];
    po[r] = accumulate ? static_cast<float>(po[r] + s) : static_cast<float>(s);
  }
  return env.Undefined();
}

Napi::Value ColMeanVar(const Napi::CallbackInfo& info) {
  const char* K = "colMeanVar";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  int64_t rows = dim_arg(info, 1, K, "rows"), cols = dim_arg(info, 2, K, "cols");
  auto mean = f32_arg(info, 3, K, "mean");
  auto variance = f32_arg(info, 4, K, "variance");
  need_len(env, K, "x", x.n, mul_dims(env, K, rows, cols), "rows*cols");
  need_len(env, K, "mean", mean.n, cols, "cols");
  need_len(env, K, "variance", variance.n, cols, "cols");
  std::vector<double> mu(static_cast<size_t>(cols)), ss(static_cast<size_t>(cols));
  const float* px = x.p;
  column_sums<1>(
      rows, cols,
      [=](int64_t r, int64_t c0, int64_t c1, double* acc) {
        const float* xr = px + r * cols;
#pragma omp simd
        for (int64_t c = c0; c < c1; c++) acc[c - c0] += xr[c];
      },
      mu.data());
  const double inv = 1.0 / static_cast<double>(rows);
  for (int64_t c = 0; c < cols; c++) mu[c] *= inv;
  const double* pmu = mu.data();
  column_sums<1>(
      rows, cols,
      [=](int64_t r, int64_t c0, int64_t c1, double* acc) {
        const float* xr = px + r * cols;
#pragma omp simd
        for (int64_t c = c0; c < c1; c++) {
          double d = xr[c] - pmu[c];
          acc[c - c0] += d * d;
        }
      },
      ss.data());
  for (int64_t c = 0; c < cols; c++) {
    mean.p[c] = static_cast<float>(mu[c]);
    variance.p[c] = static_cast<float>(ss[c] * inv);
  }
  return env.Undefined();
}

Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  const char* K = "sumSquares";
  auto x = f32_arg(info, 0, K, "x");
  constexpr int64_t kChunk = 65536;
  const int64_t n = static_cast<int64_t>(x.n);
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(nchunks));
  const float* px = x.p;
  double* pp = partial.data();
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (int64_t ch = 0; ch < nchunks; ch++) {
    const int64_t i0 = ch * kChunk, i1 = i0 + kChunk < n ? i0 + kChunk : n;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = i0; i < i1; i++) {
      double v = px[i];
      s += v * v;
    }
    pp[ch] = s;
  }
  double total = 0.0;
  for (int64_t ch = 0; ch < nchunks; ch++) total += partial[ch];
  return Napi::Number::New(info.Env(), total);
}

}  // namespace

void RegisterReduce(Napi::Env env, Napi::Object exports) {
  exports.Set("sumRows", Napi::Function::New(env, SumRows));
  exports.Set("sumCols", Napi::Function::New(env, SumCols));
  exports.Set("colMeanVar", Napi::Function::New(env, ColMeanVar));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquares));
}

}  // namespace msae
