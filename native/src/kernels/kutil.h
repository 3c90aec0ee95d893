// Helpers shared by the fused kernels (elementwise, reduce, norms, softmax, topk, embed, adam,
// convert): length checks that throw one-line RangeErrors, OpenMP thresholds, and branch-free
// float math (exp, expm1, tanh) that the compiler vectorizes inside `#pragma omp simd` loops.
//
// vexp: exp(x) = 2^n * e^r, n = round(x / ln2), r = x - n ln2 in [-ln2/2, ln2/2] (Cody-Waite split
// of ln2 so n * ln2_hi is exact), e^r by its Taylor series to r^7 (truncation < 1e-8 relative),
// 2^n applied as two exact power-of-two factors so every n in [-150, 128] is representable.
// About 1-2 ulp over the float range; 0 below -104, +inf above 88.73, NaN kept.
// vexpm1: the Taylor series to x^9 for |x| < 0.35 (no cancellation near 0), else vexp(x) - 1.
// vtanh: tanh(u) = sign(u) * em / (em + 2), em = expm1(2|u|); |u| clamped at 10 (tanh = 1 in float).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"

namespace msae {

// Loops over more elements than this are split across OpenMP threads (below it the fork/join
// costs more than it saves).
constexpr int64_t kParElems = 32768;

// a * b for two validated dims, refusing products past 2^53 (no JS array is that long).
inline int64_t mul_dims(const Napi::Env& env, const char* kernel, int64_t a, int64_t b) {
  if (a != 0 && b > (int64_t(1) << 53) / a) fail_range(env, std::string(kernel) + ": dims are too large");
  return a * b;
}

// Throws "kernel: 'name' has N entries, expected what = M" unless len == expected.
inline void need_len(const Napi::Env& env, const char* kernel, const char* name, size_t len, int64_t expected,
                     const char* what) {
  if (static_cast<int64_t>(len) != expected) {
    fail_range(env, std::string(kernel) + ": '" + name + "' has " + std::to_string(len) + " entries, expected " + what +
                        " = " + std::to_string(expected));
  }
}

// A number argument that must be finite.
inline double finite_arg(const Napi::CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  double v = num_arg(info, i, kernel, name);
  if (!std::isfinite(v)) fail_range(info.Env(), std::string(kernel) + ": argument '" + name + "' must be finite");
  return v;
}

// An integer argument of any sign (e.g. an attention window, where <= 0 means unlimited).
inline int64_t int_arg(const Napi::CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  double v = num_arg(info, i, kernel, name);
  if (!(std::fabs(v) <= 1099511627776.0) || v != std::floor(v)) {
    fail_range(info.Env(), std::string(kernel) + ": argument '" + name + "' must be an integer");
  }
  return static_cast<int64_t>(v);
}

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float vexp(float x) {
  // Clamp with comparisons (NaN passes through unchanged and ends as NaN via r).
  float xc = x < -104.0f ? -104.0f : x;
  xc = xc > 89.0f ? 89.0f : xc;
  // Round x / ln2 to nearest with the 1.5 * 2^23 trick (valid for |v| < 2^22).
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  n = n == n ? n : 0.0f;
  float r = xc - n * 0.693359375f;  // ln2_hi = 355/512: n * ln2_hi is exact
  r = r + n * 2.12194440054690583e-4f;  // ln2_lo = ln2 - ln2_hi (negative)
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t ni = static_cast<int32_t>(n);
  int32_t n1 = ni >> 1;
  int32_t n2 = ni - n1;
  float s1 = bits_to_float(static_cast<uint32_t>(n1 + 127) << 23);
  float s2 = bits_to_float(static_cast<uint32_t>(n2 + 127) << 23);
  return p * s1 * s2;
}

inline float vexpm1(float x) {
  float q = 1.0f / 362880.0f;
  q = q * x + 1.0f / 40320.0f;
  q = q * x + 1.0f / 5040.0f;
  q = q * x + 1.0f / 720.0f;
  q = q * x + 1.0f / 120.0f;
  q = q * x + 1.0f / 24.0f;
  q = q * x + 1.0f / 6.0f;
  q = q * x + 0.5f;
  q = q * x * x + x;
  float e = vexp(x) - 1.0f;
  return std::fabs(x) < 0.35f ? q : e;
}

inline float vtanh(float u) {
  float a = std::fabs(u);
  a = a > 10.0f ? 10.0f : a;
  float em = vexpm1(2.0f * a);
  float t = em / (em + 2.0f);
  return std::copysign(t, u);
}

// Scratch memory owned by the calling thread, grown on demand and kept across calls, so the hot
// paths do not allocate (and page-fault) on every call. Get it before a parallel region; `Tag`
// tells apart buffers of one type that are live at the same time.
template <class T, int Tag = 0>
T* thread_scratch(size_t n) {
  static thread_local std::vector<T> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// Runs f(i) for i in [0, n), split across OpenMP threads when `par`. Each thread works on its own
// copy of f: a lambda shared by reference is re-read through memory on every iteration, which
// costs ~5x on the elementwise loops (measured).
template <class F>
inline void parallel_for(int64_t n, bool par, const F& f) {
#pragma omp parallel if (par)
  {
    const F g = f;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; i++) g(i);
  }
}

// Elementwise form of parallel_for: `omp for simd`, threads above kParElems elements.
template <class F>
inline void parallel_map(int64_t n, const F& f) {
#pragma omp parallel if (n > kParElems)
  {
    const F g = f;
#pragma omp for simd schedule(static)
    for (int64_t i = 0; i < n; i++) g(i);
  }
}

// Rows of a [rows, cols] matrix across threads when the matrix is large enough.
template <class F>
inline void parallel_rows(int64_t rows, int64_t cols, const F& f) {
  parallel_for(rows, rows > 1 && rows * cols > kParElems, f);
}

// Column reductions over a [rows, cols] matrix, in double, deterministic whatever the thread count:
// tasks are (row chunk of kRowChunk rows) x (column block of kColBlock columns); each task sums its
// rows into a stack accumulator; chunk partials are then added in chunk order.
// add_row(r, c0, c1, acc) adds row r's terms for columns [c0, c1) into acc[a * kColBlock + (c - c0)]
// for each of the NA sums. result [NA, cols] is overwritten.
constexpr int64_t kRowChunk = 512;
constexpr int64_t kColBlock = 256;

template <int NA, class F>
void column_sums(int64_t rows, int64_t cols, const F& add_row_shared, double* result) {
  const int64_t nchunks = rows == 0 ? 1 : (rows + kRowChunk - 1) / kRowChunk;
  const int64_t nblocks = (cols + kColBlock - 1) / kColBlock;
  double* part = nchunks > 1 ? thread_scratch<double, 1>(static_cast<size_t>(nchunks * NA * cols)) : nullptr;
  const int64_t ntasks = nchunks * nblocks;
  parallel_for(ntasks, ntasks > 1 && rows * cols > kParElems, [=, &add_row_shared](int64_t t) {
    const F add_row = add_row_shared;
    const int64_t ch = t / nblocks, b = t % nblocks;
    const int64_t c0 = b * kColBlock, c1 = c0 + kColBlock < cols ? c0 + kColBlock : cols;
    const int64_t r0 = ch * kRowChunk, r1 = r0 + kRowChunk < rows ? r0 + kRowChunk : rows;
    double acc[NA * kColBlock];
    for (int64_t i = 0; i < NA * kColBlock; i++) acc[i] = 0.0;
    for (int64_t r = r0; r < r1; r++) add_row(r, c0, c1, acc);
    double* dst = nchunks > 1 ? part + ch * NA * cols : result;
    for (int a = 0; a < NA; a++) {
      for (int64_t c = c0; c < c1; c++) dst[a * cols + c] = acc[a * kColBlock + (c - c0)];
    }
  });
  if (nchunks > 1) {
    for (int64_t i = 0; i < NA * cols; i++) result[i] = 0.0;
    for (int64_t ch = 0; ch < nchunks; ch++) {
      const double* src = part + ch * NA * cols;
      for (int64_t i = 0; i < NA * cols; i++) result[i] += src[i];
    }
  }
}

}  // namespace msae
