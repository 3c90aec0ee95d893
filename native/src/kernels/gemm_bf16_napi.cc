// Addon functions of the bf16 weight GEMM (kernels and packed layout: gemm_bf16.h, gemm_bf16.cc):
//
//   bf16Pack(w, n, k, transW) -> Uint16Array   w [n, k] (or [k, n] with transW) rounded to bf16
//                                               (nearest even) in the packed layout
//   gemmBf16(x, m, k, packed, n, out)           out [m, n] = bf16(x [m, k]) . W^T, fp32 accumulation
//   bf16Kernels() -> { available, kernel }      the kernels this CPU / OS runs (widest first), the one in use
//   setBf16Kernel(name)                         "amx" | "avx512bf16" | "f32" | "auto" (the widest available)
//
// Every argument is validated here; a bad one throws a one-line TypeError / RangeError.
#include "gemm_bf16.h"
#include "kutil.h"

namespace msae {
namespace {

Bf16Kernel g_kernel = Bf16Kernel::F32;
bool g_chosen = false;

Bf16Kernel current_kernel() {
  if (!g_chosen) {
    g_kernel = bf16_available().front();
    g_chosen = true;
  }
  return g_kernel;
}

std::string available_list() {
  std::string s;
  for (Bf16Kernel k : bf16_available()) s += (s.empty() ? "" : ", ") + std::string(bf16_kernel_name(k));
  return s;
}

Napi::Value Bf16Pack(const Napi::CallbackInfo& info) {
  const char* K = "bf16Pack";
  Napi::Env env = info.Env();
  auto w = f32_arg(info, 0, K, "w");
  const int64_t n = dim_arg(info, 1, K, "n");
  const int64_t k = dim_arg(info, 2, K, "k");
  const bool trans = bool_arg(info, 3, K, "transW");
  need_len(env, K, "w", w.n, mul_dims(env, K, n, k), "n * k");
  const int64_t len = bf16_packed_len(n, k);
  need(env, len < (int64_t(1) << 32), K, "the packed weight would exceed 2^32 entries");
  Napi::Uint16Array out = Napi::Uint16Array::New(env, static_cast<size_t>(len));
  bf16_pack(w.p, n, k, trans, out.Data());
  return out;
}

Napi::Value GemmBf16(const Napi::CallbackInfo& info) {
  const char* K = "gemmBf16";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  const int64_t m = dim_arg(info, 1, K, "m");
  const int64_t k = dim_arg(info, 2, K, "k");
  auto packed = u16_arg(info, 3, K, "packed");
  const int64_t n = dim_arg(info, 4, K, "n");
  auto out = f32_arg(info, 5, K, "out");
  need_len(env, K, "x", x.n, mul_dims(env, K, m, k), "m * k");
  need_len(env, K, "packed", packed.n, bf16_packed_len(n, k), "ceil(n / 32) * 32 * ceil(k / 32) * 32");
  need_len(env, K, "out", out.n, mul_dims(env, K, m, n), "m * n");
  const float* xe = x.p + x.n;
  need(env, !(out.p < xe && x.p < out.p + out.n) || m * n == 0 || m * k == 0, K, "out must not overlap x");
  try {
    bf16_gemm(current_kernel(), x.p, m, k, packed.p, n, out.p);
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "gemmBf16: out of memory allocating the bf16 activation buffer");
  }
  return env.Undefined();
}

Napi::Value Bf16Kernels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  const auto avail = bf16_available();
  Napi::Array a = Napi::Array::New(env, avail.size());
  for (size_t i = 0; i < avail.size(); i++) a.Set(static_cast<uint32_t>(i), bf16_kernel_name(avail[i]));
  o.Set("available", a);
  o.Set("kernel", bf16_kernel_name(current_kernel()));
  return o;
}

Napi::Value SetBf16Kernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    fail_type(env, "setBf16Kernel: argument 'name' must be \"amx\", \"avx512bf16\", \"f32\" or \"auto\"");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name == "auto") {
    g_kernel = bf16_available().front();
    g_chosen = true;
    return env.Undefined();
  }
  Bf16Kernel k;
  if (!bf16_kernel_parse(name, &k))
    fail_range(env, "setBf16Kernel: kernel must be \"amx\", \"avx512bf16\", \"f32\" or \"auto\", got \"" + name + "\"");
  bool ok = false;
  for (Bf16Kernel a : bf16_available()) ok = ok || a == k;
  if (!ok) fail_range(env, "setBf16Kernel: this CPU cannot run \"" + name + "\"; available: " + available_list());
  g_kernel = k;
  g_chosen = true;
  return env.Undefined();
}

}  // namespace

void RegisterGemmBf16(Napi::Env env, Napi::Object exports) {
  exports.Set("bf16Pack", Napi::Function::New(env, Bf16Pack));
  exports.Set("gemmBf16", Napi::Function::New(env, GemmBf16));
  exports.Set("bf16Kernels", Napi::Function::New(env, Bf16Kernels));
  exports.Set("setBf16Kernel", Napi::Function::New(env, SetBf16Kernel));
}

}  // namespace msae
