// Per-row TopK (the SAE's sparsity):
//   topkRows: x [rows, cols] -> out [rows, cols] keeping the k largest of each row, zero elsewhere;
//             idx [rows, k] lists the kept columns by value descending, equal values by column
//             ascending (so ties keep the lower index). NaN ranks below every number.
//   topkRowsBackward: dx [rows, cols] = dy at idx [rows, k], 0 elsewhere.
// Selection (topk_row): block maxima give a threshold that admits about k candidates, which are
// then ordered by (value desc, column asc) with nth_element + sort. O(cols + k log k) per row.
// out may alias x and dx may alias dy (kept values are copied out before a row is cleared).
#include <omp.h>

#include <algorithm>
#include <limits>

#include "kutil.h"

namespace msae {
namespace {

struct Item {
  float key;  // the value, NaN mapped to -inf (for ordering only)
  float val;  // the value as read
  int32_t col;
};

// a ranks before b: larger key, then lower column. A strict total order (columns are distinct).
inline bool better(const Item& a, const Item& b) { return a.key > b.key || (a.key == b.key && a.col < b.col); }

inline float key_of(float v) { return v != v ? -std::numeric_limits<float>::infinity() : v; }

constexpr int64_t kBlock = 16;

// Per-thread scratch of topk_row: cand [cols] items, bmax [cols / kBlock] floats.
struct Scratch {
  Item* cand;
  float* bmax;
};

// One row. Two passes: (1) the max of every block of 16 columns; the k-th largest block max T is a
// lower bound of the k-th largest value (k blocks hold a value >= T). (2) Only blocks whose max
// reaches T are scanned, and only their values >= T become candidates (ties with T included, as
// a lower column may win them): usually about k candidates, screened with one vector compare per
// block. Then nth_element + sort of the candidates by `better`. With few blocks, NaN/-inf at the
// threshold or tiny rows, every column is a candidate (same selection, just slower).
void topk_row(const float* x, int64_t cols, int64_t k, Scratch s, float* out, int32_t* idx) {
  const float ninf = -std::numeric_limits<float>::infinity();
  Item* cand = s.cand;
  int64_t count = 0;
  const int64_t nb = cols / kBlock;
  bool all = k == 0 || nb < 4 * k;
  float T = ninf;
  if (!all) {
    for (int64_t b = 0; b < nb; b++) {
      const float* xb = x + b * kBlock;
      float mx = ninf;
#pragma omp simd reduction(max : mx)
      for (int64_t j = 0; j < kBlock; j++) mx = xb[j] > mx ? xb[j] : mx;
      s.bmax[b] = mx;
    }
    std::nth_element(s.bmax, s.bmax + (k - 1), s.bmax + nb, [](float p, float q) { return p > q; });
    T = s.bmax[k - 1];
    all = !(T > ninf);  // -inf (or no number at all): NaN / -inf may be needed, take everything
  }
  if (all) {
    for (int64_t c = 0; c < cols; c++) cand[count++] = Item{key_of(x[c]), x[c], static_cast<int32_t>(c)};
  } else {
    for (int64_t b = 0; b < nb; b++) {
      const float* xb = x + b * kBlock;
      uint32_t mask = 0;
#pragma omp simd reduction(| : mask)
      for (int64_t j = 0; j < kBlock; j++) mask |= static_cast<uint32_t>(xb[j] >= T) << j;
      while (mask != 0) {
        const int64_t j = __builtin_ctz(mask);
        mask &= mask - 1;
        cand[count++] = Item{xb[j], xb[j], static_cast<int32_t>(b * kBlock + j)};
      }
    }
    for (int64_t c = nb * kBlock; c < cols; c++) {
      if (x[c] >= T) cand[count++] = Item{x[c], x[c], static_cast<int32_t>(c)};
    }
  }
  if (count > k) std::nth_element(cand, cand + (k - 1), cand + count, better);
  std::sort(cand, cand + k, better);
  for (int64_t c = 0; c < cols; c++) out[c] = 0.0f;
  for (int64_t j = 0; j < k; j++) {
    out[cand[j].col] = cand[j].val;
    idx[j] = cand[j].col;
  }
}

Napi::Value TopkRows(const Napi::CallbackInfo& info) {
  const char* K = "topkRows";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  int64_t rows = dim_arg(info, 1, K, "rows"), cols = dim_arg(info, 2, K, "cols");
  int64_t k = dim_arg(info, 3, K, "k");
  auto out = f32_arg(info, 4, K, "out");
  auto idx = i32_arg(info, 5, K, "idx");
  if (k > cols) fail_range(env, std::string(K) + ": k = " + std::to_string(k) + " exceeds cols = " + std::to_string(cols));
  need(env, cols <= INT32_MAX, K, "cols must fit an Int32Array index");
  int64_t n = mul_dims(env, K, rows, cols);
  need_len(env, K, "x", x.n, n, "rows*cols");
  need_len(env, K, "out", out.n, n, "rows*cols");
  need_len(env, K, "idx", idx.n, mul_dims(env, K, rows, k), "rows*k");
  const bool par = rows > 1 && n > kParElems;
  const int nthreads = par ? omp_get_max_threads() : 1;
  Item* pc = thread_scratch<Item>(static_cast<size_t>(nthreads * cols));
  float* pm = thread_scratch<float>(static_cast<size_t>(nthreads * (cols / kBlock + 1)));
  const float* px = x.p;
  float* po = out.p;
  int32_t* pi = idx.p;
#pragma omp parallel num_threads(nthreads) if (par)
  {
    const int64_t t = omp_get_thread_num();
    const Scratch s{pc + t * cols, pm + t * (cols / kBlock + 1)};
#pragma omp for schedule(dynamic, 4)
    for (int64_t r = 0; r < rows; r++) topk_row(px + r * cols, cols, k, s, po + r * cols, pi + r * k);
  }
  return env.Undefined();
}

Napi::Value TopkRowsBackward(const Napi::CallbackInfo& info) {
  const char* K = "topkRowsBackward";
  Napi::Env env = info.Env();
  auto dy = f32_arg(info, 0, K, "dy");
  auto idx = i32_arg(info, 1, K, "idx");
  int64_t rows = dim_arg(info, 2, K, "rows"), cols = dim_arg(info, 3, K, "cols");
  int64_t k = dim_arg(info, 4, K, "k");
  auto dx = f32_arg(info, 5, K, "dx");
  int64_t n = mul_dims(env, K, rows, cols);
  need_len(env, K, "dy", dy.n, n, "rows*cols");
  need_len(env, K, "idx", idx.n, mul_dims(env, K, rows, k), "rows*k");
  need_len(env, K, "dx", dx.n, n, "rows*cols");
  for (size_t i = 0; i < idx.n; i++) {
    if (idx.p[i] < 0 || idx.p[i] >= cols) {
      fail_range(env, std::string(K) + ": idx[" + std::to_string(i) + "] = " + std::to_string(idx.p[i]) +
                          " is outside [0, " + std::to_string(cols) + ")");
    }
  }
  const bool par = rows > 1 && n > kParElems;
  const int nthreads = par ? omp_get_max_threads() : 1;
  float* pk = thread_scratch<float>(static_cast<size_t>(nthreads * k));
  const float* pdy = dy.p;
  const int32_t* pi = idx.p;
  float* pdx = dx.p;
#pragma omp parallel num_threads(nthreads) if (par)
  {
    float* kv = pk + static_cast<int64_t>(omp_get_thread_num()) * k;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      const float* dyr = pdy + r * cols;
      const int32_t* ir = pi + r * k;
      float* dxr = pdx + r * cols;
      for (int64_t j = 0; j < k; j++) kv[j] = dyr[ir[j]];
      for (int64_t c = 0; c < cols; c++) dxr[c] = 0.0f;
      for (int64_t j = 0; j < k; j++) dxr[ir[j]] = kv[j];
    }
  }
  return env.Undefined();
}

}  // namespace

void RegisterTopk(Napi::Env env, Napi::Object exports) {
  exports.Set("topkRows", Napi::Function::New(env, TopkRows));
  exports.Set("topkRowsBackward", Napi::Function::New(env, TopkRowsBackward));
}

}  // namespace msae
