// Machine facts for benchmarks: the measured fp32 FMA peak and the CPU model.
//
// fmaPeak(seconds?) runs, on every OpenMP thread, ACC independent dependency chains
//   acc_i <- acc_i * x + y          (one fused multiply-add per vector lane per chain and step)
// in the widest vector ISA of the build (AVX-512: 16 zmm chains, AVX2 + FMA: 12 ymm, NEON: 16 q),
// enough independent chains to cover FMA latency x throughput (4 cycles x 2 pipes on current x86).
// GFLOP/s = 2 * lanes * ACC * steps * threads / wall seconds, best of 3 timed trials after a
// calibration. The chains are summed into a volatile sink so the loop cannot be removed.
// cpuInfo() -> { model, isa, threads }: model from /proc/cpuinfo on Linux, "unknown" elsewhere.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <string>

#include "common.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
// GCC 12 warns about the "undefined" pass-through operand inside the AVX-512 set1 intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace msae {
namespace {

volatile float g_sink = 0.0f;  // consumed results: keeps the loops alive

#if defined(__AVX512F__)
constexpr const char* kIsa = "avx512";
constexpr int kLanes = 16, kChains = 16;
float fma_chains(int64_t steps, float seed) {
  const __m512 x = _mm512_set1_ps(0.9999999f), y = _mm512_set1_ps(seed * 1e-7f);
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(seed + static_cast<float>(i));
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}
#elif defined(__AVX2__) && defined(__FMA__)
constexpr const char* kIsa = "avx2";
constexpr int kLanes = 8, kChains = 12;  // 12 of the 16 ymm registers; x and y take two more
float fma_chains(int64_t steps, float seed) {
  const __m256 x = _mm256_set1_ps(0.9999999f), y = _mm256_set1_ps(seed * 1e-7f);
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(seed + static_cast<float>(i));
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  }
  __m256 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm256_add_ps(sum, acc[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = 0.0f;
  for (float v : lanes) total += v;
  return total;
}
#elif defined(__ARM_NEON)
constexpr const char* kIsa = "neon";
constexpr int kLanes = 4, kChains = 16;
float fma_chains(int64_t steps, float seed) {
  const float32x4_t x = vdupq_n_f32(0.9999999f), y = vdupq_n_f32(seed * 1e-7f);
  float32x4_t acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = vdupq_n_f32(seed + static_cast<float>(i));
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = vfmaq_f32(y, acc[i], x);
  }
  float32x4_t sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = vaddq_f32(sum, acc[i]);
  return vaddvq_f32(sum);
}
#else
constexpr const char* kIsa = "scalar";
constexpr int kLanes = 1, kChains = 8;
float fma_chains(int64_t steps, float seed) {
  float acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = seed + static_cast<float>(i);
  for (int64_t s = 0; s < steps; ++s) {
    for (int i = 0; i < kChains; ++i) acc[i] = std::fma(acc[i], 0.9999999f, seed * 1e-7f);
  }
  float total = 0.0f;
  for (float v : acc) total += v;
  return total;
}
#endif

struct Trial {
  double seconds;
  int threads;
};

// Runs `steps` steps on every thread of one parallel region; wall time of the region.
Trial timed_run(int64_t steps) {
  int threads = 1;
  float total = 0.0f;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel reduction(+ : total)
  {
#pragma omp single nowait
    threads = omp_get_num_threads();
    total += fma_chains(steps, 1.0f + 0.001f * static_cast<float>(omp_get_thread_num()));
  }
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  g_sink = g_sink + total;
  return Trial{dt, threads};
}

// fmaPeak(seconds = 0.5) -> { gflops, isa, threads }
Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double budget = 0.5;
  if (info.Length() >= 1 && !info[0].IsUndefined()) {
    budget = num_arg(info, 0, "fmaPeak", "seconds");
    need(env, budget > 0 && budget <= 60, "fmaPeak", "seconds must be in (0, 60], got " + std::to_string(budget));
  }
  // Calibrate: double the step count until one run takes >= 10 ms (or a tenth of the budget).
  int64_t steps = 1 << 14;
  Trial t = timed_run(steps);
  const double calib = std::min(0.01, budget / 10);
  while (t.seconds < calib && steps < (int64_t{1} << 40)) {
    steps *= 2;
    t = timed_run(steps);
  }
  const int64_t trial_steps = std::max<int64_t>(1, static_cast<int64_t>(steps * (budget / 3) / std::max(t.seconds, 1e-9)));
  double best = 0.0;
  int threads = t.threads;
  for (int i = 0; i < 3; ++i) {
    const Trial r = timed_run(trial_steps);
    const double gflops = 2.0 * kLanes * kChains * static_cast<double>(trial_steps) * r.threads / r.seconds / 1e9;
    if (gflops > best) {
      best = gflops;
      threads = r.threads;
    }
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("gflops", best);
  o.Set("isa", kIsa);
  o.Set("threads", threads);
  return o;
}

std::string cpu_model() {
#if defined(__linux__)
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) break;
      size_t start = line.find_first_not_of(" \t", colon + 1);
      return start == std::string::npos ? std::string("unknown") : line.substr(start);
    }
  }
#endif
  return "unknown";
}

// cpuInfo() -> { model, isa, threads }
Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("model", cpu_model());
  o.Set("isa", kIsa);
  o.Set("threads", omp_get_max_threads());
  return o;
}

}  // namespace

void RegisterPeak(Napi::Env env, Napi::Object exports) {
  exports.Set("fmaPeak", Napi::Function::New(env, FmaPeak));
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo));
}

}  // namespace msae
