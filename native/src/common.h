// Shared argument checking for the addon: every kernel validates what JS hands it and throws a
// one-line JS error (TypeError / RangeError) instead of reading out of bounds.
#pragma once
#include <napi.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace msae {

template <typename T>
struct View {
  T* p;
  size_t n;
};

[[noreturn]] inline void fail_type(const Napi::Env& env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }
[[noreturn]] inline void fail_range(const Napi::Env& env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }

// Throws a RangeError naming the kernel when cond is false.
inline void need(const Napi::Env& env, bool cond, const char* kernel, const std::string& what) {
  if (!cond) fail_range(env, std::string(kernel) + ": " + what);
}

template <typename T, napi_typedarray_type K>
inline View<T> typed_arg(const Napi::CallbackInfo& info, size_t i, const char* kernel, const char* name, const char* tname) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != K) {
    fail_type(env, std::string(kernel) + ": argument '" + name + "' must be a " + tname);
  }
  auto arr = info[i].As<Napi::TypedArrayOf<T>>();
  return View<T>{arr.Data(), arr.ElementLength()};
}

inline View<float> f32_arg(const Napi::CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  return typed_arg<float, napi_float32_array>(info, i, kernel, name, "Float32Array");
}

// A Float32Array or null (optional operands such as LayerNorm's gamma).
inline View<float> f32_opt(const Napi::CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  if (i < info.Length() && (info[i].IsNull() || info[i].IsUndefined())) return View<float>{nullptr, 0};
  return f32_arg(info, i, kernel, name);
}

inline View<int32_t> i32_arg(const Napi::CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  return typed_arg<int32_t, napi_int32_array>(info, i, kernel, name, "Int32Array");
}

inline View<uint16_t> u16_arg(const Napi::CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  return typed_arg<uint16_t, napi_uint16_array>(info, i, kernel, name, "Uint16Array");
}

// A Uint8Array or null (0/1 masks such as the dead-feature mask of AuxK); n = 0 for null.
inline View<uint8_t> u8_opt(const Napi::CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  if (i < info.Length() && (info[i].IsNull() || info[i].IsUndefined())) return View<uint8_t>{nullptr, 0};
  return typed_arg<uint8_t, napi_uint8_array>(info, i, kernel, name, "Uint8Array");
}

// A Float64Array (per-row sums the kernels return in double: logits.cc, sae.cc).
inline View<double> f64_arg(const Napi::CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  return typed_arg<double, napi_float64_array>(info, i, kernel, name, "Float64Array");
}

inline double num_arg(const Napi::CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) fail_type(info.Env(), std::string(kernel) + ": argument '" + name + "' must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

// A non-negative integer dimension (< 2^40, so products of two dims fit in int64).
inline int64_t dim_arg(const Napi::CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  double v = num_arg(info, i, kernel, name);
  if (!(v >= 0) || v != static_cast<double>(static_cast<int64_t>(v)) || v > 1099511627776.0) {
    fail_range(info.Env(), std::string(kernel) + ": argument '" + name + "' must be a non-negative integer, got " + std::to_string(v));
  }
  return static_cast<int64_t>(v);
}

inline bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  if (i >= info.Length() || !info[i].IsBoolean()) fail_type(info.Env(), std::string(kernel) + ": argument '" + name + "' must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

// Registration functions, one per kernel file (native/src/kernels/*.cc).
void RegisterGemm(Napi::Env env, Napi::Object exports);       // gemm.cc: sgemm, setGemmImpl, gemmInfo
void RegisterPeak(Napi::Env env, Napi::Object exports);       // peak.cc: fmaPeak, cpuInfo
void RegisterElementwise(Napi::Env env, Napi::Object exports);  // elementwise.cc
void RegisterReduce(Napi::Env env, Napi::Object exports);     // reduce.cc
void RegisterNorms(Napi::Env env, Napi::Object exports);      // norms.cc
void RegisterSoftmax(Napi::Env env, Napi::Object exports);    // softmax.cc (softmax, causal, cross-entropy)
void RegisterTopk(Napi::Env env, Napi::Object exports);       // topk.cc
void RegisterBatchTopk(Napi::Env env, Napi::Object exports);  // batch_topk.cc
void RegisterEmbed(Napi::Env env, Napi::Object exports);      // embed.cc (gather, scatter-add, rope)
void RegisterAdam(Napi::Env env, Napi::Object exports);       // adam.cc
void RegisterConvert(Napi::Env env, Napi::Object exports);    // convert.cc (f16/bf16)
void RegisterFinite(Napi::Env env, Napi::Object exports);     // finite.cc (NaN / Inf scan)
void RegisterLogits(Napi::Env env, Napi::Object exports);     // logits.cc (evaluation: softmax, KL / CE terms)
void RegisterSae(Napi::Env env, Napi::Object exports);        // sae.cc (SAE training: losses, code stats, normalization)
void RegisterSparse(Napi::Env env, Napi::Object exports);     // sparse.cc (CSR codes: spmm, sddmm, transpose)
void RegisterGemmBf16(Napi::Env env, Napi::Object exports);   // gemm_bf16_napi.cc (bf16 weight GEMM)
void RegisterLmFused(Napi::Env env, Napi::Object exports);    // lm_fused.cc (GeGLU, soft-capped cross-entropy)
void RegisterAttentionFused(Napi::Env env, Napi::Object exports);  // attention_fused.cc

}  // namespace msae
