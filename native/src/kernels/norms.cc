// Normalization layers over the last dim of x [rows, cols] (row statistics in double):
//   layerNorm: mu = mean(x), var = mean((x - mu)^2) (two passes, biased), rstd = 1 / sqrt(var + eps),
//              xhat = (x - mu) rstd, out = xhat * gamma + beta (gamma, beta optional, [cols])
//   layerNormBackward: g = dy * gamma, dx = rstd (g - mean(g) - xhat mean(g xhat)),
//              dgamma += sum_rows dy xhat, dbeta += sum_rows dy
//   rmsNorm:   rstd = 1 / sqrt(mean(x^2) + eps), out = x rstd (offset + w)
//   rmsNormBackward: with s = offset + w, dx = rstd s dy - x rstd^3 mean(dy s x),
//              dw += sum_rows dy x rstd
// out may alias x and dx may alias dy: row statistics are read before a row is written, and the
// parameter gradients are summed (column_sums, deterministic) before dx is written.
#include "kutil.h"

namespace msae {
namespace {

double eps_arg(const Napi::CallbackInfo& info, size_t i, const char* K) {
  double eps = finite_arg(info, i, K, "eps");
  need(info.Env(), eps >= 0, K, "eps must be >= 0");
  return eps;
}

void need_opt(const Napi::Env& env, const char* K, const char* name, View<float> v, int64_t cols) {
  if (v.p != nullptr) need_len(env, K, name, v.n, cols, "cols");
}

Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  const char* K = "layerNorm";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  auto gamma = f32_opt(info, 1, K, "gamma");
  auto beta = f32_opt(info, 2, K, "beta");
  int64_t rows = dim_arg(info, 3, K, "rows"), cols = dim_arg(info, 4, K, "cols");
  double eps = eps_arg(info, 5, K);
  auto out = f32_arg(info, 6, K, "out");
  auto mean = f32_arg(info, 7, K, "mean");
  auto rstd = f32_arg(info, 8, K, "rstd");
  int64_t n = mul_dims(env, K, rows, cols);
  need_len(env, K, "x", x.n, n, "rows*cols");
  need_opt(env, K, "gamma", gamma, cols);
  need_opt(env, K, "beta", beta, cols);
  need_len(env, K, "out", out.n, n, "rows*cols");
  need_len(env, K, "mean", mean.n, rows, "rows");
  need_len(env, K, "rstd", rstd.n, rows, "rows");
  const float *px = x.p, *pg = gamma.p, *pb = beta.p;
  float *po = out.p, *pm = mean.p, *prs = rstd.p;
  parallel_rows(rows, cols, [=](int64_t r) {
    const float* xr = px + r * cols;
    float* orow = po + r * cols;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < cols; c++) s += xr[c];
    const double mu = s / static_cast<double>(cols);
    double ss = 0.0;
#pragma omp simd reduction(+ : ss)
    for (int64_t c = 0; c < cols; c++) {
      double d = xr[c] - mu;
      ss += d * d;
    }
    const double rs = 1.0 / std::sqrt(ss / static_cast<double>(cols) + eps);
    pm[r] = static_cast<float>(mu);
    prs[r] = static_cast<float>(rs);
    const float muf = static_cast<float>(mu), rsf = static_cast<float>(rs);
    if (pg && pb) {
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) orow[c] = (xr[c] - muf) * rsf * pg[c] + pb[c];
    } else if (pg) {
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) orow[c] = (xr[c] - muf) * rsf * pg[c];
    } else if (pb) {
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) orow[c] = (xr[c] - muf) * rsf + pb[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) orow[c] = (xr[c] - muf) * rsf;
    }
  });
  return env.Undefined();
}

Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  const char* K = "layerNormBackward";
  Napi::Env env = info.Env();
  auto dy = f32_arg(info, 0, K, "dy");
  auto x = f32_arg(info, 1, K, "x");
  auto gamma = f32_opt(info, 2, K, "gamma");
  auto mean = f32_arg(info, 3, K, "mean");
  auto rstd = f32_arg(info, 4, K, "rstd");
  int64_t rows = dim_arg(info, 5, K, "rows"), cols = dim_arg(info, 6, K, "cols");
  auto dx = f32_arg(info, 7, K, "dx");
  auto dgamma = f32_opt(info, 8, K, "dgamma");
  auto dbeta = f32_opt(info, 9, K, "dbeta");
  int64_t n = mul_dims(env, K, rows, cols);
  need_len(env, K, "dy", dy.n, n, "rows*cols");
  need_len(env, K, "x", x.n, n, "rows*cols");
  need_opt(env, K, "gamma", gamma, cols);
  need_len(env, K, "mean", mean.n, rows, "rows");
  need_len(env, K, "rstd", rstd.n, rows, "rows");
  need_len(env, K, "dx", dx.n, n, "rows*cols");
  need_opt(env, K, "dgamma", dgamma, cols);
  need_opt(env, K, "dbeta", dbeta, cols);
  const float *pdy = dy.p, *px = x.p, *pg = gamma.p, *pm = mean.p, *prs = rstd.p;
  float* pdx = dx.p;
  if (dgamma.p || dbeta.p) {
    std::vector<double> sums(static_cast<size_t>(2 * cols));
    column_sums<2>(
        rows, cols,
        [=](int64_t r, int64_t c0, int64_t c1, double* acc) {
          const float* dyr = pdy + r * cols;
          const float* xr = px + r * cols;
          const float muf = pm[r], rsf = prs[r];
          double* ag = acc - c0;
          double* ab = acc + kColBlock - c0;
#pragma omp simd
          for (int64_t c = c0; c < c1; c++) {
            ag[c] += dyr[c] * ((xr[c] - muf) * rsf);
            ab[c] += dyr[c];
          }
        },
        sums.data());
    for (int64_t c = 0; c < cols; c++) {
      if (dgamma.p) dgamma.p[c] = static_cast<float>(dgamma.p[c] + sums[c]);
      if (dbeta.p) dbeta.p[c] = static_cast<float>(dbeta.p[c] + sums[cols + c]);
    }
  }
  parallel_rows(rows, cols, [=](int64_t r) {
    const float* dyr = pdy + r * cols;
    const float* xr = px + r * cols;
    float* dxr = pdx + r * cols;
    const float muf = pm[r], rsf = prs[r];
    double sg = 0.0, sgx = 0.0;
#pragma omp simd reduction(+ : sg, sgx)
    for (int64_t c = 0; c < cols; c++) {
      float g = pg ? dyr[c] * pg[c] : dyr[c];
      float xh = (xr[c] - muf) * rsf;
      sg += g;
      sgx += static_cast<double>(g) * xh;
    }
    const float a = static_cast<float>(sg / static_cast<double>(cols));
    const float b = static_cast<float>(sgx / static_cast<double>(cols));
#pragma omp simd
    for (int64_t c = 0; c < cols; c++) {
      float g = pg ? dyr[c] * pg[c] : dyr[c];
      float xh = (xr[c] - muf) * rsf;
      dxr[c] = rsf * (g - a - xh * b);
    }
  });
  return env.Undefined();
}

Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  const char* K = "rmsNorm";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  auto w = f32_arg(info, 1, K, "w");
  const float offset = static_cast<float>(finite_arg(info, 2, K, "offset"));
  int64_t rows = dim_arg(info, 3, K, "rows"), cols = dim_arg(info, 4, K, "cols");
  double eps = eps_arg(info, 5, K);
  auto out = f32_arg(info, 6, K, "out");
  auto rstd = f32_arg(info, 7, K, "rstd");
  // Optional residual add (arguments 8, 9, both or neither): sum = residual + out in the same pass.
  auto residual = f32_opt(info, 8, K, "residual");
  auto sum = f32_opt(info, 9, K, "sum");
  int64_t n = mul_dims(env, K, rows, cols);
  need_len(env, K, "x", x.n, n, "rows*cols");
  need_len(env, K, "w", w.n, cols, "cols");
  need_len(env, K, "out", out.n, n, "rows*cols");
  need_len(env, K, "rstd", rstd.n, rows, "rows");
  need(env, (residual.p == nullptr) == (sum.p == nullptr), K, "residual and sum are given together or not at all");
  need_opt(env, K, "residual", residual, n);
  need_opt(env, K, "sum", sum, n);
  const float *px = x.p, *pw = w.p, *pres = residual.p;
  float *po = out.p, *prs = rstd.p, *psum = sum.p;
  parallel_rows(rows, cols, [=](int64_t r) {
    const float* xr = px + r * cols;
    float* orow = po + r * cols;
    double ss = 0.0;
#pragma omp simd reduction(+ : ss)
    for (int64_t c = 0; c < cols; c++) {
      double v = xr[c];
      ss += v * v;
    }
    const double rs = 1.0 / std::sqrt(ss / static_cast<double>(cols) + eps);
    prs[r] = static_cast<float>(rs);
    const float rsf = static_cast<float>(rs);
#pragma omp simd
    for (int64_t c = 0; c < cols; c++) orow[c] = xr[c] * rsf * (offset + pw[c]);
    if (psum) {
      const float* rr = pres + r * cols;
      float* sr = psum + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) sr[c] = rr[c] + orow[c];
    }
  });
  return env.Undefined();
}

Napi::Value RmsNormBackward(const Napi::CallbackInfo& info) {
  const char* K = "rmsNormBackward";
  Napi::Env env = info.Env();
  auto dy = f32_arg(info, 0, K, "dy");
  auto x = f32_arg(info, 1, K, "x");
  auto w = f32_arg(info, 2, K, "w");
  const float offset = static_cast<float>(finite_arg(info, 3, K, "offset"));
  auto rstd = f32_arg(info, 4, K, "rstd");
  int64_t rows = dim_arg(info, 5, K, "rows"), cols = dim_arg(info, 6, K, "cols");
  auto dx = f32_arg(info, 7, K, "dx");
  auto dw = f32_opt(info, 8, K, "dw");
  // Optional argument 9, accumulate: dx += the gradient (a residual branch's) instead of dx = it.
  const bool acc = info.Length() > 9 && !info[9].IsUndefined() && bool_arg(info, 9, K, "accumulate");
  int64_t n = mul_dims(env, K, rows, cols);
  need_len(env, K, "dy", dy.n, n, "rows*cols");
  need_len(env, K, "x", x.n, n, "rows*cols");
  need_len(env, K, "w", w.n, cols, "cols");
  need_len(env, K, "rstd", rstd.n, rows, "rows");
  need_len(env, K, "dx", dx.n, n, "rows*cols");
  need_opt(env, K, "dw", dw, cols);
  const float *pdy = dy.p, *px = x.p, *pw = w.p, *prs = rstd.p;
  float* pdx = dx.p;
  if (dw.p) {
    std::vector<double> sums(static_cast<size_t>(cols));
    column_sums<1>(
        rows, cols,
        [=](int64_t r, int64_t c0, int64_t c1, double* acc) {
          const float* dyr = pdy + r * cols;
          const float* xr = px + r * cols;
          const float rsf = prs[r];
          double* a = acc - c0;
#pragma omp simd
          for (int64_t c = c0; c < c1; c++) a[c] += dyr[c] * (xr[c] * rsf);
        },
        sums.data());
    for (int64_t c = 0; c < cols; c++) dw.p[c] = static_cast<float>(dw.p[c] + sums[c]);
  }
  parallel_rows(rows, cols, [=](int64_t r) {
    const float* dyr = pdy + r * cols;
    const float* xr = px + r * cols;
    float* dxr = pdx + r * cols;
    const float rsf = prs[r];
    double sdot = 0.0;
#pragma omp simd reduction(+ : sdot)
    for (int64_t c = 0; c < cols; c++) sdot += static_cast<double>(dyr[c] * (offset + pw[c])) * xr[c];
    const float k = static_cast<float>(sdot / static_cast<double>(cols) * rsf * rsf * rsf);
    if (acc) {
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) {
        const float g = rsf * (offset + pw[c]) * dyr[c] - xr[c] * k;
        dxr[c] += g;
      }
    } else {
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) dxr[c] = rsf * (offset + pw[c]) * dyr[c] - xr[c] * k;
    }
  });
  return env.Undefined();
}

}  // namespace

void RegisterNorms(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm));
  exports.Set("layerNormBackward", Napi::Function::New(env, LayerNormBackward));
  exports.Set("rmsNorm", Napi::Function::New(env, RmsNorm));
  exports.Set("rmsNormBackward", Napi::Function::New(env, RmsNormBackward));
}

}  // namespace msae
