// bf16 weight GEMM for the LM forward (no Node-API in here; gemm_bf16.cc holds the kernels,
// gemm_bf16_napi.cc the addon functions).
//
//   out[m, n] = bf16(x)[m, k] . W^T,   W [n, k] stored once as bf16 (round to nearest even)
//   out[i, j] = sum_k bf16(x[i, k]) * bf16(W[j, k])   accumulated in fp32
//
// Packed weight layout (one layout for AMX tiles and AVX512-BF16 dot products): n is padded to
// np = ceil(n / 32) * 32 columns, k to kp = ceil(k / 32) * 32; panel p (16 output columns) holds,
// for each k pair q (0 <= q < kp / 2), 16 x 2 bf16 values (column c, then k = 2q, 2q + 1):
//
//   packed[p * kp * 16 + q * 32 + c * 2 + e] = bf16(W[16 p + c, 2 q + e])   (0 where out of range)
//
// which is AMX's "VNNI" B-tile layout (16 rows of 64 bytes per 32 k values) and, for the
// AVX512-BF16 path, one zmm of 16 columns x 1 k pair per load. Kernels (chosen at run time from
// cpuid, never from the model): "amx" (tdpbf16ps on 16x16 fp32 tiles), "avx512bf16" (vdpbf16ps),
// "f32" (bf16 operands widened to fp32, fp32 FMA). Each compiles with its own target attribute,
// so the addon builds and runs on a CPU that has none of them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace msae {

enum class Bf16Kernel { Amx, Avx512Bf16, F32 };

inline int64_t bf16_pad32(int64_t v) { return (v + 31) / 32 * 32; }

// Length of the packed array of an [n, k] weight.
inline int64_t bf16_packed_len(int64_t n, int64_t k) { return bf16_pad32(n) * bf16_pad32(k); }

// float32 -> bf16 bits, round to nearest even; NaN stays a quiet NaN.
inline uint16_t f32_to_bf16_bits(uint32_t b) {
  const bool nan = (b & 0x7fffffffu) > 0x7f800000u;
  const uint32_t rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
  return static_cast<uint16_t>((nan ? ((b >> 16) | 0x40u) : rounded) & 0xffffu);
}

// w: [n, k] (trans_w = false: nn.Linear's [out, in]) or [k, n] (trans_w = true: GPT-2's Conv1D).
// packed: bf16_packed_len(n, k) entries, written in full.
void bf16_pack(const float* w, int64_t n, int64_t k, bool trans_w, uint16_t* packed);

// out [m, n] (row stride n) = bf16(x [m, k]) . W^T with W packed by bf16_pack.
void bf16_gemm(Bf16Kernel kernel, const float* x, int64_t m, int64_t k, const uint16_t* packed, int64_t n, float* out);

// The kernels this CPU and OS can run, widest first ("f32" always last).
std::vector<Bf16Kernel> bf16_available();
const char* bf16_kernel_name(Bf16Kernel k);
// Parses "amx" | "avx512bf16" | "f32"; false for anything else.
bool bf16_kernel_parse(const std::string& name, Bf16Kernel* out);

}  // namespace msae
