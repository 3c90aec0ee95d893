// Row softmax family (max-subtracted, sums in double, exp by the vectorized vexp of kutil.h):
//   softmax:         y = exp(x - max x) / sum exp(x - max x)           x, y [rows, cols]
//   softmaxBackward: dx = y (dy - sum(dy y))                             (dx may alias dy)
//   causalSoftmax:   x, y [groups, t, t]; row i normalizes over keys j in [lo, i],
//                    lo = max(0, i - window + 1) (window <= 0: lo = 0); other entries 0
//   crossEntropy:    loss[r] = logsumexp(x_r) - x_r[target_r] = (max - x_t) + log sum exp(x - max);
//                    target -1 = ignored (loss 0); returns the count of non-ignored rows
//   crossEntropyBackward: dx_r = (softmax(x_r) - onehot(target_r)) dloss[r]; ignored rows 0
// Outputs may alias their first input: every row is fully read (max, sums) before it is written,
// and each written element depends only on the same element of the input.
#include <limits>

#include "kutil.h"

namespace msae {
namespace {

inline float row_max(const float* x, int64_t n) {
  float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
  for (int64_t c = 0; c < n; c++) mx = x[c] > mx ? x[c] : mx;
  return mx;
}

// y[c] = exp(x[c] - mx) for c < n, returns their sum (double).
inline double exp_shifted(const float* x, float mx, float* y, int64_t n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t c = 0; c < n; c++) {
    float e = vexp(x[c] - mx);
    y[c] = e;
    s += e;
  }
  return s;
}

inline void softmax_row(const float* x, float* y, int64_t n) {
  if (n == 0) return;
  const float mx = row_max(x, n);
  const float inv = static_cast<float>(1.0 / exp_shifted(x, mx, y, n));
#pragma omp simd
  for (int64_t c = 0; c < n; c++) y[c] *= inv;
}

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  const char* K = "softmax";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  int64_t rows = dim_arg(info, 1, K, "rows"), cols = dim_arg(info, 2, K, "cols");
  auto out = f32_arg(info, 3, K, "out");
  int64_t n = mul_dims(env, K, rows, cols);
  need_len(env, K, "x", x.n, n, "rows*cols");
  need_len(env, K, "out", out.n, n, "rows*cols");
  const float* px = x.p;
  float* po = out.p;
  parallel_rows(rows, cols, [=](int64_t r) { softmax_row(px + r * cols, po + r * cols, cols); });
  return env.Undefined();
}

Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  const char* K = "softmaxBackward";
  Napi::Env env = info.Env();
  auto y = f32_arg(info, 0, K, "y");
  auto dy = f32_arg(info, 1, K, "dy");
  int64_t rows = dim_arg(info, 2, K, "rows"), cols = dim_arg(info, 3, K, "cols");
  auto dx = f32_arg(info, 4, K, "dx");
  int64_t n = mul_dims(env, K, rows, cols);
  need_len(env, K, "y", y.n, n, "rows*cols");
  need_len(env, K, "dy", dy.n, n, "rows*cols");
  need_len(env, K, "dx", dx.n, n, "rows*cols");
  const float *py = y.p, *pdy = dy.p;
  float* pdx = dx.p;
  parallel_rows(rows, cols, [=](int64_t r) {
    const float* yr = py + r * cols;
    const float* dyr = pdy + r * cols;
    float* dxr = pdx + r * cols;
    double dot = 0.0;
#pragma omp simd reduction(+ : dot)
    for (int64_t c = 0; c < cols; c++) dot += static_cast<double>(dyr[c]) * yr[c];
    const float d = static_cast<float>(dot);
#pragma omp simd
    for (int64_t c = 0; c < cols; c++) dxr[c] = yr[c] * (dyr[c] - d);
  });
  return env.Undefined();
}

Napi::Value CausalSoftmax(const Napi::CallbackInfo& info) {
  const char* K = "causalSoftmax";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  int64_t groups = dim_arg(info, 1, K, "groups"), t = dim_arg(info, 2, K, "t");
  int64_t window = int_arg(info, 3, K, "window");
  auto out = f32_arg(info, 4, K, "out");
  int64_t rows = mul_dims(env, K, groups, t);
  int64_t n = mul_dims(env, K, rows, t);
  need_len(env, K, "x", x.n, n, "groups*t*t");
  need_len(env, K, "out", out.n, n, "groups*t*t");
  const float* px = x.p;
  float* po = out.p;
  parallel_rows(rows, t, [=](int64_t r) {
    const int64_t i = r % t;
    const int64_t lo = window > 0 && i - window + 1 > 0 ? i - window + 1 : 0;
    const float* xr = px + r * t;
    float* orow = po + r * t;
    softmax_row(xr + lo, orow + lo, i + 1 - lo);
    for (int64_t c = 0; c < lo; c++) orow[c] = 0.0f;
    for (int64_t c = i + 1; c < t; c++) orow[c] = 0.0f;
  });
  return env.Undefined();
}

// Checks every target is -1 or in [0, vocab) before any work; returns the non-ignored count.
int64_t check_targets(const Napi::Env& env, const char* K, View<int32_t> targets, int64_t vocab) {
  int64_t count = 0;
  for (size_t r = 0; r < targets.n; r++) {
    const int32_t t = targets.p[r];
    if (t == -1) continue;
    if (t < 0 || t >= vocab) {
      fail_range(env, std::string(K) + ": target " + std::to_string(t) + " at row " + std::to_string(r) +
                          " is outside [0, vocab = " + std::to_string(vocab) + ") (use -1 to ignore a row)");
    }
    count++;
  }
  return count;
}

Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  const char* K = "crossEntropy";
  Napi::Env env = info.Env();
  auto logits = f32_arg(info, 0, K, "logits");
  auto targets = i32_arg(info, 1, K, "targets");
  int64_t rows = dim_arg(info, 2, K, "rows"), vocab = dim_arg(info, 3, K, "vocab");
  auto losses = f32_arg(info, 4, K, "losses");
  need_len(env, K, "logits", logits.n, mul_dims(env, K, rows, vocab), "rows*vocab");
  need_len(env, K, "targets", targets.n, rows, "rows");
  need_len(env, K, "losses", losses.n, rows, "rows");
  const int64_t count = check_targets(env, K, targets, vocab);
  const float* px = logits.p;
  const int32_t* pt = targets.p;
  float* pl = losses.p;
#pragma omp parallel for schedule(static) if (rows > 1 && rows * vocab > kParElems)
  for (int64_t r = 0; r < rows; r++) {
    const int32_t t = pt[r];
    if (t < 0) {
      pl[r] = 0.0f;
      continue;
    }
    const float* xr = px + r * vocab;
    const float mx = row_max(xr, vocab);
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < vocab; c++) s += vexp(xr[c] - mx);
    pl[r] = static_cast<float>((static_cast<double>(mx) - xr[t]) + std::log(s));
  }
  return Napi::Number::New(env, static_cast<double>(count));
}

Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  const char* K = "crossEntropyBackward";
  Napi::Env env = info.Env();
  auto logits = f32_arg(info, 0, K, "logits");
  auto targets = i32_arg(info, 1, K, "targets");
  auto dloss = f32_arg(info, 2, K, "dloss");
  int64_t rows = dim_arg(info, 3, K, "rows"), vocab = dim_arg(info, 4, K, "vocab");
  auto dlogits = f32_arg(info, 5, K, "dlogits");
  int64_t n = mul_dims(env, K, rows, vocab);
  need_len(env, K, "logits", logits.n, n, "rows*vocab");
  need_len(env, K, "targets", targets.n, rows, "rows");
  need_len(env, K, "dloss", dloss.n, rows, "rows");
  need_len(env, K, "dlogits", dlogits.n, n, "rows*vocab");
  check_targets(env, K, targets, vocab);
  const float *px = logits.p, *pdl = dloss.p;
  const int32_t* pt = targets.p;
  float* pg = dlogits.p;
  parallel_rows(rows, vocab, [=](int64_t r) {
    const int32_t t = pt[r];
    float* gr = pg + r * vocab;
    if (t < 0) {
      for (int64_t c = 0; c < vocab; c++) gr[c] = 0.0f;
      return;
    }
    const float* xr = px + r * vocab;
    const float mx = row_max(xr, vocab);
    const float xt = xr[t];  // read before gr (which may alias xr) is written
    const double s = exp_shifted(xr, mx, gr, vocab);
    const float dl = pdl[r];
    const float scale = static_cast<float>(dl / s);
#pragma omp simd
    for (int64_t c = 0; c < vocab; c++) gr[c] *= scale;
    gr[t] = static_cast<float>((static_cast<double>(vexp(xt - mx)) / s - 1.0) * dl);
  });
  return env.Undefined();
}

}  // namespace

void RegisterSoftmax(Napi::Env env, Napi::Object exports) {
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBackward));
  exports.Set("causalSoftmax", Napi::Function::New(env, CausalSoftmax));
  exports.Set("crossEntropy", Napi::Function::New(env, CrossEntropy));
  exports.Set("crossEntropyBackward", Napi::Function::New(env, CrossEntropyBackward));
}

}  // namespace msae
