// Half-precision conversions on raw bits (bit-exact, vectorizable integer code):
//   binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormal (e = 0): m 2^-24;
//             e = 31: inf (m = 0) or NaN (payload kept).
//   bfloat16: the top 16 bits of a float32.
//   f32 -> f16: round to nearest, ties to even; |x| >= 65520 -> inf; below 2^-25 -> signed zero
//              (float32 subnormals included); NaN -> quiet NaN keeping the top payload bits.
//   f32 -> bf16: round to nearest even by adding 0x7fff + lsb; NaN -> its top bits with the quiet
//              bit set (never rounded into inf).
#include "kutil.h"

namespace msae {
namespace {

inline uint32_t half_to_f32_bits(uint32_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu;
  const uint32_t m = h & 0x3ffu;
  // Subnormal: m * 2^-24 is exact in float (m < 2^10, times a power of two).
  const uint32_t sub = float_to_bits(static_cast<float>(m) * 5.9604644775390625e-8f);
  const uint32_t normal = ((e + 112u) << 23) | (m << 13);
  const uint32_t special = 0x7f800000u | (m << 13);
  return sign | (e == 31u ? special : (e == 0u ? sub : normal));
}

// q / 2^s rounded to nearest, ties to even (1 <= s <= 31).
inline uint32_t round_shift(uint32_t q, uint32_t s) {
  const uint32_t kept = q >> s;
  const uint32_t rem = q & ((1u << s) - 1u);
  const uint32_t half = 1u << (s - 1u);
  return kept + ((rem > half || (rem == half && (kept & 1u))) ? 1u : 0u);
}

inline uint32_t f32_bits_to_half(uint32_t b) {
  const uint32_t sign = (b >> 16) & 0x8000u;
  const uint32_t e = (b >> 23) & 0xffu;
  const uint32_t m = b & 0x7fffffu;
  const int32_t E = static_cast<int32_t>(e) - 127;
  const uint32_t M = m | 0x800000u;
  // Normal half (E in [-14, 15]): keep 11 significant bits; a carry bumps the exponent
  // (E = 15 rounding up gives exactly 0x7c00 = inf).
  const uint32_t normal = (static_cast<uint32_t>(E + 15) << 10) + round_shift(M, 13) - 0x400u;
  // Subnormal half (E in [-25, -15]): units of 2^-24, i.e. M >> -(E + 1) (shift 14..24).
  const int32_t s = -(E + 1);
  const uint32_t sub = round_shift(M, static_cast<uint32_t>(s < 14 ? 14 : (s > 24 ? 24 : s)));
  uint32_t r;
  if (e == 255u) {
    r = m == 0 ? 0x7c00u : (0x7e00u | (m >> 13));
  } else if (E > 15) {
    r = 0x7c00u;
  } else if (E >= -14) {
    r = normal;
  } else if (s <= 24 && e != 0u) {
    r = sub;
  } else {
    r = 0u;
  }
  return sign | r;
}

inline uint32_t f32_bits_to_bf16(uint32_t b) {
  const bool nan = (b & 0x7fffffffu) > 0x7f800000u;
  const uint32_t rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
  return (nan ? ((b >> 16) | 0x40u) : rounded) & 0xffffu;
}

void check_same(const Napi::Env& env, const char* K, size_t n_src, size_t n_out) {
  need_len(env, K, "out", n_out, static_cast<int64_t>(n_src), "src.length");
}

Napi::Value F16ToF32(const Napi::CallbackInfo& info) {
  const char* K = "f16ToF32";
  auto src = u16_arg(info, 0, K, "src");
  auto out = f32_arg(info, 1, K, "out");
  check_same(info.Env(), K, src.n, out.n);
  const uint16_t* ps = src.p;
  float* po = out.p;
  const int64_t n = static_cast<int64_t>(src.n);
#pragma omp parallel for simd schedule(static) if (n > 4 * kParElems)
  for (int64_t i = 0; i < n; i++) po[i] = bits_to_float(half_to_f32_bits(ps[i]));
  return info.Env().Undefined();
}

Napi::Value F32ToF16(const Napi::CallbackInfo& info) {
  const char* K = "f32ToF16";
  auto src = f32_arg(info, 0, K, "src");
  auto out = u16_arg(info, 1, K, "out");
  check_same(info.Env(), K, src.n, out.n);
  const float* ps = src.p;
  uint16_t* po = out.p;
  const int64_t n = static_cast<int64_t>(src.n);
#pragma omp parallel for simd schedule(static) if (n > 4 * kParElems)
  for (int64_t i = 0; i < n; i++) po[i] = static_cast<uint16_t>(f32_bits_to_half(float_to_bits(ps[i])));
  return info.Env().Undefined();
}

Napi::Value Bf16ToF32(const Napi::CallbackInfo& info) {
  const char* K = "bf16ToF32";
  auto src = u16_arg(info, 0, K, "src");
  auto out = f32_arg(info, 1, K, "out");
  check_same(info.Env(), K, src.n, out.n);
  const uint16_t* ps = src.p;
  float* po = out.p;
  const int64_t n = static_cast<int64_t>(src.n);
#pragma omp parallel for simd schedule(static) if (n > 4 * kParElems)
  for (int64_t i = 0; i < n; i++) po[i] = bits_to_float(static_cast<uint32_t>(ps[i]) << 16);
  return info.Env().Undefined();
}

Napi::Value F32ToBf16(const Napi::CallbackInfo& info) {
  const char* K = "f32ToBf16";
  auto src = f32_arg(info, 0, K, "src");
  auto out = u16_arg(info, 1, K, "out");
  check_same(info.Env(), K, src.n, out.n);
  const float* ps = src.p;
  uint16_t* po = out.p;
  const int64_t n = static_cast<int64_t>(src.n);
#pragma omp parallel for simd schedule(static) if (n > 4 * kParElems)
  for (int64_t i = 0; i < n; i++) po[i] = static_cast<uint16_t>(f32_bits_to_bf16(float_to_bits(ps[i])));
  return info.Env().Undefined();
}

}  // namespace

void RegisterConvert(Napi::Env env, Napi::Object exports) {
  exports.Set("f16ToF32", Napi::Function::New(env, F16ToF32));
  exports.Set("f32ToF16", Napi::Function::New(env, F32ToF16));
  exports.Set("bf16ToF32", Napi::Function::New(env, Bf16ToF32));
  exports.Set("f32ToBf16", Napi::Function::New(env, F32ToBf16));
}

}  // namespace msae
