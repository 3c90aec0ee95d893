// Fused AdamW step on one tensor (decoupled weight decay, bias-corrected), per element:
//   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p -= lr * (m / c1 / (sqrt(v / c2) + eps) + wd p),   c1 = 1 - b1^step, c2 = 1 - b2^step
// c1, c2 are computed in double once; the loop runs in float32, vectorized and split across
// OpenMP threads for large tensors.
#include "kutil.h"

namespace msae {
namespace {

Napi::Value Adamw(const Napi::CallbackInfo& info) {
  const char* K = "adamw";
  Napi::Env env = info.Env();
  auto param = f32_arg(info, 0, K, "param");
  auto grad = f32_arg(info, 1, K, "grad");
  auto m = f32_arg(info, 2, K, "m");
  auto v = f32_arg(info, 3, K, "v");
  const double lr = finite_arg(info, 4, K, "lr");
  const double beta1 = finite_arg(info, 5, K, "beta1");
  const double beta2 = finite_arg(info, 6, K, "beta2");
  const double eps = finite_arg(info, 7, K, "eps");
  const double wd = finite_arg(info, 8, K, "weightDecay");
  const int64_t step = dim_arg(info, 9, K, "step");
  need(env, step >= 1, K, "step must be >= 1");
  need(env, beta1 >= 0 && beta1 < 1, K, "beta1 must be in [0, 1)");
  need(env, beta2 >= 0 && beta2 < 1, K, "beta2 must be in [0, 1)");
  need_len(env, K, "grad", grad.n, static_cast<int64_t>(param.n), "param.length");
  need_len(env, K, "m", m.n, static_cast<int64_t>(param.n), "param.length");
  need_len(env, K, "v", v.n, static_cast<int64_t>(param.n), "param.length");
  const double c1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double c2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
  const float omb1 = static_cast<float>(1.0 - beta1), omb2 = static_cast<float>(1.0 - beta2);
  const float inv_c1 = static_cast<float>(1.0 / c1), inv_c2 = static_cast<float>(1.0 / c2);
  const float lrf = static_cast<float>(lr), epsf = static_cast<float>(eps), wdf = static_cast<float>(wd);
  const int64_t n = static_cast<int64_t>(param.n);
  float *pp = param.p, *pm = m.p, *pv = v.p;
  const float* pg = grad.p;
#pragma omp parallel for simd schedule(static) if (n > kParElems)
  for (int64_t i = 0; i < n; i++) {
    const float g = pg[i];
    const float mi = b1 * pm[i] + omb1 * g;
    const float vi = b2 * pv[i] + omb2 * g * g;
    pm[i] = mi;
    pv[i] = vi;
    const float p = pp[i];
    pp[i] = p - lrf * (mi * inv_c1 / (std::sqrt(vi * inv_c2) + epsf) + wdf * p);
  }
  return env.Undefined();
}

}  // namespace

void RegisterAdam(Napi::Env env, Napi::Object exports) { exports.Set("adamw", Napi::Function::New(env, Adamw)); }

}  // namespace msae
