// Node-API entry point of the msae native engine: each kernel file registers its functions.
#include "common.h"

#include <omp.h>

namespace {

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("blas", MSAE_BLAS_NAME);
  o.Set("threads", omp_get_max_threads());
#if defined(__AVX512F__)
  o.Set("isa", "avx512");
#elif defined(__AVX2__) && defined(__FMA__)
  o.Set("isa", "avx2");
#elif defined(__ARM_NEON)
  o.Set("isa", "neon");
#else
  o.Set("isa", "scalar");
#endif
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int64_t n = msae::dim_arg(info, 0, "setThreads", "threads");
  msae::need(info.Env(), n >= 1 && n <= 1024, "setThreads", "threads must be in 1..1024");
  omp_set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  msae::RegisterGemm(env, exports);
  msae::RegisterPeak(env, exports);
  msae::RegisterElementwise(env, exports);
  msae::RegisterReduce(env, exports);
  msae::RegisterNorms(env, exports);
  msae::RegisterSoftmax(env, exports);
  msae::RegisterTopk(env, exports);
  msae::RegisterBatchTopk(env, exports);
  msae::RegisterEmbed(env, exports);
  msae::RegisterAdam(env, exports);
  msae::RegisterConvert(env, exports);
  msae::RegisterFinite(env, exports);
  msae::RegisterLogits(env, exports);
  msae::RegisterSae(env, exports);
  msae::RegisterSparse(env, exports);
  msae::RegisterGemmBf16(env, exports);
  msae::RegisterLmFused(env, exports);
  msae::RegisterAttentionFused(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(msae_native, Init)
