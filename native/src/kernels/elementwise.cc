// Fused elementwise kernels (float32, vectorized, OpenMP above kParElems elements):
//   add: out = a + b            mul: out = a * b            scale: out = alpha x     axpy: y += alpha x
//   addBias: out[r,c] = x[r,c] + bias[c]   scaleRows: out[r,c] = x[r,c] s[r]   scaleCols: out[r,c] = x[r,c] s[c]
//   relu: out = max(x, 0) (NaN stays NaN)       reluBackward: dx = dy [x > 0]
//   gelu (tanh form) and geluBackward: gelu1 / gelu_grad1 of gelu.h
//   softcap: out = cap tanh(x / cap)       softcapBackward: dx = dy (1 - (y / cap)^2)
// Outputs may alias their first input (and dx may alias dy) exactly: every loop reads index i
// before writing index i.
#include "gelu.h"
#include "kutil.h"

namespace msae {
namespace {

Napi::Value Add(const Napi::CallbackInfo& info) {
  const char* K = "add";
  auto a = f32_arg(info, 0, K, "a");
  auto b = f32_arg(info, 1, K, "b");
  auto out = f32_arg(info, 2, K, "out");
  need_len(info.Env(), K, "b", b.n, a.n, "a.length");
  need_len(info.Env(), K, "out", out.n, a.n, "a.length");
  const float* pa = a.p;
  const float* pb = b.p;
  float* po = out.p;
  parallel_map(a.n, [=](int64_t i) { po[i] = pa[i] + pb[i]; });
  return info.Env().Undefined();
}

Napi::Value Mul(const Napi::CallbackInfo& info) {
  const char* K = "mul";
  auto a = f32_arg(info, 0, K, "a");
  auto b = f32_arg(info, 1, K, "b");
  auto out = f32_arg(info, 2, K, "out");
  need_len(info.Env(), K, "b", b.n, a.n, "a.length");
  need_len(info.Env(), K, "out", out.n, a.n, "a.length");
  const float* pa = a.p;
  const float* pb = b.p;
  float* po = out.p;
  parallel_map(a.n, [=](int64_t i) { po[i] = pa[i] * pb[i]; });
  return info.Env().Undefined();
}

Napi::Value Scale(const Napi::CallbackInfo& info) {
  const char* K = "scale";
  auto x = f32_arg(info, 0, K, "x");
  const float alpha = static_cast<float>(num_arg(info, 1, K, "alpha"));
  auto out = f32_arg(info, 2, K, "out");
  need_len(info.Env(), K, "out", out.n, x.n, "x.length");
  const float* px = x.p;
  float* po = out.p;
  parallel_map(x.n, [=](int64_t i) { po[i] = alpha * px[i]; });
  return info.Env().Undefined();
}

Napi::Value Axpy(const Napi::CallbackInfo& info) {
  const char* K = "axpy";
  const float alpha = static_cast<float>(num_arg(info, 0, K, "alpha"));
  auto x = f32_arg(info, 1, K, "x");
  auto y = f32_arg(info, 2, K, "y");
  need_len(info.Env(), K, "y", y.n, x.n, "x.length");
  const float* px = x.p;
  float* py = y.p;
  parallel_map(x.n, [=](int64_t i) { py[i] += alpha * px[i]; });
  return info.Env().Undefined();
}

// Shared shape checks of the [rows, cols] x vector kernels; returns rows * cols.
int64_t check_rows_cols(const Napi::CallbackInfo& info, const char* K, View<float> x, View<float> v, int64_t rows,
                        int64_t cols, View<float> out, bool v_per_row, const char* vname) {
  Napi::Env env = info.Env();
  int64_t n = mul_dims(env, K, rows, cols);
  need_len(env, K, "x", x.n, n, "rows*cols");
  need_len(env, K, vname, v.n, v_per_row ? rows : cols, v_per_row ? "rows" : "cols");
  need_len(env, K, "out", out.n, n, "rows*cols");
  return n;
}

Napi::Value AddBias(const Napi::CallbackInfo& info) {
  const char* K = "addBias";
  auto x = f32_arg(info, 0, K, "x");
  auto bias = f32_arg(info, 1, K, "bias");
  int64_t rows = dim_arg(info, 2, K, "rows"), cols = dim_arg(info, 3, K, "cols");
  auto out = f32_arg(info, 4, K, "out");
  check_rows_cols(info, K, x, bias, rows, cols, out, false, "bias");
  const float* px = x.p;
  const float* pb = bias.p;
  float* po = out.p;
  parallel_rows(rows, cols, [=](int64_t r) {
    const float* xr = px + r * cols;
    float* orow = po + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; c++) orow[c] = xr[c] + pb[c];
  });
  return info.Env().Undefined();
}

Napi::Value ScaleRows(const Napi::CallbackInfo& info) {
  const char* K = "scaleRows";
  auto x = f32_arg(info, 0, K, "x");
  auto s = f32_arg(info, 1, K, "s");
  int64_t rows = dim_arg(info, 2, K, "rows"), cols = dim_arg(info, 3, K, "cols");
  auto out = f32_arg(info, 4, K, "out");
  check_rows_cols(info, K, x, s, rows, cols, out, true, "s");
  const float* px = x.p;
  const float* ps = s.p;
  float* po = out.p;
  parallel_rows(rows, cols, [=](int64_t r) {
    const float* xr = px + r * cols;
    float* orow = po + r * cols;
    const float sr = ps[r];
#pragma omp simd
    for (int64_t c = 0; c < cols; c++) orow[c] = xr[c] * sr;
  });
  return info.Env().Undefined();
}

Napi::Value ScaleCols(const Napi::CallbackInfo& info) {
  const char* K = "scaleCols";
  auto x = f32_arg(info, 0, K, "x");
  auto s = f32_arg(info, 1, K, "s");
  int64_t rows = dim_arg(info, 2, K, "rows"), cols = dim_arg(info, 3, K, "cols");
  auto out = f32_arg(info, 4, K, "out");
  check_rows_cols(info, K, x, s, rows, cols, out, false, "s");
  const float* px = x.p;
  const float* ps = s.p;
  float* po = out.p;
  parallel_rows(rows, cols, [=](int64_t r) {
    const float* xr = px + r * cols;
    float* orow = po + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; c++) orow[c] = xr[c] * ps[c];
  });
  return info.Env().Undefined();
}

Napi::Value Relu(const Napi::CallbackInfo& info) {
  const char* K = "relu";
  auto x = f32_arg(info, 0, K, "x");
  auto out = f32_arg(info, 1, K, "out");
  need_len(info.Env(), K, "out", out.n, x.n, "x.length");
  const float* px = x.p;
  float* po = out.p;
  parallel_map(x.n, [=](int64_t i) { po[i] = px[i] <= 0.0f ? 0.0f : px[i]; });  // NaN stays NaN
  return info.Env().Undefined();
}

Napi::Value ReluBackward(const Napi::CallbackInfo& info) {
  const char* K = "reluBackward";
  auto x = f32_arg(info, 0, K, "x");
  auto dy = f32_arg(info, 1, K, "dy");
  auto dx = f32_arg(info, 2, K, "dx");
  need_len(info.Env(), K, "dy", dy.n, x.n, "x.length");
  need_len(info.Env(), K, "dx", dx.n, x.n, "x.length");
  const float* px = x.p;
  const float* pdy = dy.p;
  float* pdx = dx.p;
  parallel_map(x.n, [=](int64_t i) { pdx[i] = px[i] > 0.0f ? pdy[i] : 0.0f; });
  return info.Env().Undefined();
}

Napi::Value Gelu(const Napi::CallbackInfo& info) {
  const char* K = "gelu";
  auto x = f32_arg(info, 0, K, "x");
  auto out = f32_arg(info, 1, K, "out");
  need_len(info.Env(), K, "out", out.n, x.n, "x.length");
  const float* px = x.p;
  float* po = out.p;
  parallel_map(x.n, [=](int64_t i) { po[i] = gelu1(px[i]); });
  return info.Env().Undefined();
}

Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  const char* K = "geluBackward";
  auto x = f32_arg(info, 0, K, "x");
  auto dy = f32_arg(info, 1, K, "dy");
  auto dx = f32_arg(info, 2, K, "dx");
  need_len(info.Env(), K, "dy", dy.n, x.n, "x.length");
  need_len(info.Env(), K, "dx", dx.n, x.n, "x.length");
  const float* px = x.p;
  const float* pdy = dy.p;
  float* pdx = dx.p;
  parallel_map(x.n, [=](int64_t i) { pdx[i] = pdy[i] * gelu_grad1(px[i]); });
  return info.Env().Undefined();
}

float cap_arg(const Napi::CallbackInfo& info, size_t i, const char* K) {
  double cap = finite_arg(info, i, K, "cap");
  need(info.Env(), cap > 0, K, "cap must be > 0");
  return static_cast<float>(cap);
}

Napi::Value Softcap(const Napi::CallbackInfo& info) {
  const char* K = "softcap";
  auto x = f32_arg(info, 0, K, "x");
  const float cap = cap_arg(info, 1, K);
  auto out = f32_arg(info, 2, K, "out");
  need_len(info.Env(), K, "out", out.n, x.n, "x.length");
  const float* px = x.p;
  float* po = out.p;
  const float inv = 1.0f / cap;
  parallel_map(x.n, [=](int64_t i) { po[i] = cap * vtanh(px[i] * inv); });
  return info.Env().Undefined();
}

Napi::Value SoftcapBackward(const Napi::CallbackInfo& info) {
  const char* K = "softcapBackward";
  auto y = f32_arg(info, 0, K, "y");
  auto dy = f32_arg(info, 1, K, "dy");
  const float cap = cap_arg(info, 2, K);
  auto dx = f32_arg(info, 3, K, "dx");
  need_len(info.Env(), K, "dy", dy.n, y.n, "y.length");
  need_len(info.Env(), K, "dx", dx.n, y.n, "y.length");
  const float* py = y.p;
  const float* pdy = dy.p;
  float* pdx = dx.p;
  // 1 - (y/cap)^2 = (cap - y)(cap + y) / cap^2: cap - y is exact near saturation (|y| close to
  // cap, Sterbenz), where 1 - t^2 would cancel away most of t's bits.
  const float inv2 = static_cast<float>(1.0 / (static_cast<double>(cap) * cap));
  parallel_map(y.n, [=](int64_t i) { pdx[i] = pdy[i] * ((cap - py[i]) * (cap + py[i]) * inv2); });
  return info.Env().Undefined();
}

}  // namespace

void RegisterElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("add", Napi::Function::New(env, Add));
  exports.Set("mul", Napi::Function::New(env, Mul));
  exports.Set("scale", Napi::Function::New(env, Scale));
  exports.Set("axpy", Napi::Function::New(env, Axpy));
  exports.Set("addBias", Napi::Function::New(env, AddBias));
  exports.Set("scaleRows", Napi::Function::New(env, ScaleRows));
  exports.Set("scaleCols", Napi::Function::New(env, ScaleCols));
  exports.Set("relu", Napi::Function::New(env, Relu));
  exports.Set("reluBackward", Napi::Function::New(env, ReluBackward));
  exports.Set("gelu", Napi::Function::New(env, Gelu));
  exports.Set("geluBackward", Napi::Function::New(env, GeluBackward));
  exports.Set("softcap", Napi::Function::New(env, Softcap));
  exports.Set("softcapBackward", Napi::Function::New(env, SoftcapBackward));
}

}  // namespace msae
