// Finite check (the NaN / Inf scan run on every tensor a loader reads):
//   firstNonFinite(x: Float32Array) -> the smallest i with x[i] NaN or +-Inf, or -1 when all finite.
// Bit test, not isnan / isinf (immune to fast-math flags): a float is non-finite exactly when its
// 8 exponent bits are all ones, (bits & 0x7f800000) == 0x7f800000.
// Fixed chunks of kChunk floats are scanned in parallel; each chunk first ORs a branch-free
// "exponent all ones" flag over its floats (vectorized), and only a flagged chunk is rescanned for
// the exact index; the answer is the lowest flagged chunk's first bad index, so it is deterministic
// whatever the thread count.
#include "kutil.h"

namespace msae {
namespace {

constexpr int64_t kChunk = 65536;

Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
  const char* K = "firstNonFinite";
  auto x = f32_arg(info, 0, K, "x");
  const int64_t n = static_cast<int64_t>(x.n);
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  const uint32_t* bits = reinterpret_cast<const uint32_t*>(x.p);
  int64_t first = n;  // n = none found
#pragma omp parallel for schedule(static) reduction(min : first) if (n > 4 * kChunk)
  for (int64_t ch = 0; ch < nchunks; ch++) {
    const int64_t i0 = ch * kChunk, i1 = i0 + kChunk < n ? i0 + kChunk : n;
    uint32_t any = 0;
#pragma omp simd reduction(| : any)
    for (int64_t i = i0; i < i1; i++) any |= static_cast<uint32_t>((bits[i] & 0x7f800000u) == 0x7f800000u);
    if (!any) continue;
    for (int64_t i = i0; i < i1; i++) {
      if ((bits[i] & 0x7f800000u) == 0x7f800000u) {
        if (i < first) first = i;
        break;
      }
    }
  }
  return Napi::Number::New(info.Env(), first == n ? -1.0 : static_cast<double>(first));
}

}  // namespace

void RegisterFinite(Napi::Env env, Napi::Object exports) {
  exports.Set("firstNonFinite", Napi::Function::New(env, FirstNonFinite));
}

}  // namespace msae
