// Per-row TopK (the SAE's sparsity):
//   topkRows: x [rows, cols] -> out [rows, cols] keeping the k largest of each row, zero elsewhere;
//             idx [rows, k] lists the kept columns by value descending, equal values by column
//             ascending (so ties keep the lower index). NaN ranks below every number.
//   topkRowsBackward: dx [rows, cols] = dy at idx [rows, k], 0 elsewhere.
//   topkSelect: the sparse TopK of the SAE step, no dense output: with v = ReLU(x + bias) per row
//             (bias [cols] or null; NaN stays NaN), idx / val [rows, k] = the k largest v (ties: lower
//             column; NaN ranks as -inf) in increasing column order, and, when mask [cols] is given,
//             auxIdx / auxVal [rows, kAux] = the kAux largest v over the columns with mask != 0
//             (AuxK's dead features), likewise. One read of x.
// Selection (select_row, shared by both): block maxima give a threshold that admits about k
// candidates (a heap or a histogram over the block maxima), the k-th best candidate key splits them
// in one ordered pass; topkRows then sorts the k by (value desc, column asc). O(cols + k log k).
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

// Per-thread scratch of select_row: cand [cols] items, keys [cols] and tmp [cols / kBlock + 1].
struct SelScratch {
  Item* cand;
  float* keys;
  float* tmp;
};

// The k-th largest of a [n] (k <= n; no NaN): a min-heap of the k largest so far, in heap [k]. For
// k << n most entries lose to the heap's minimum in one predictable compare (measured faster than
// nth_element at n >= 16 k; slower at k = n / 4).
float kth_largest(const float* a, int64_t n, int64_t k, float* heap) {
  const auto later = [](float p, float q) { return p > q; };  // min-heap
  for (int64_t i = 0; i < k; i++) heap[i] = a[i];
  std::make_heap(heap, heap + k, later);
  for (int64_t i = k; i < n; i++) {
    if (a[i] > heap[0]) {
      std::pop_heap(heap, heap + k, later);
      heap[k - 1] = a[i];
      std::push_heap(heap, heap + k, later);
    }
  }
  return heap[0];
}

// A T with at least k entries of a [n] >= T, at most about one bin of n / 256 entries more than
// needed (-inf when fewer than k are finite; no NaN): a 256-bin histogram of the finite entries
// over [min, max], then T = the smallest entry of the bins from the top that hold k. Two passes
// over a, no sort (measured: 3x faster than nth_element at k = n / 4, where the heap is slow).
float kth_lower_bound(const float* a, int64_t n, int64_t k) {
  const float ninf = -std::numeric_limits<float>::infinity();
  float lo = std::numeric_limits<float>::infinity(), hi = ninf;
  int64_t finite = 0;
  for (int64_t i = 0; i < n; i++)
    if (a[i] > ninf) {
      lo = a[i] < lo ? a[i] : lo;
      hi = a[i] > hi ? a[i] : hi;
      finite++;
    }
  if (finite < k) return ninf;
  if (!(hi > lo)) return lo;
  constexpr int kBins = 256;
  int32_t count[kBins] = {};
  const float scale = static_cast<float>(kBins) / (hi - lo);
  const auto bin = [=](float v) {
    const int b = static_cast<int>((v - lo) * scale);
    return b < 0 ? 0 : (b >= kBins ? kBins - 1 : b);
  };
  for (int64_t i = 0; i < n; i++)
    if (a[i] > ninf) count[bin(a[i])]++;
  int b = kBins - 1;
  for (int64_t cum = count[b]; cum < k; cum += count[b]) b--;
  float T = hi;
  for (int64_t i = 0; i < n; i++)
    if (a[i] > ninf && bin(a[i]) >= b && a[i] < T) T = a[i];
  return T;
}

// The k best columns of v [cols] (larger key, then lower column; key = v, NaN as -inf) among those
// whose bit is set in allow (1 bit per column by block of kBlock; null = all), left in s.cand[0..k)
// in increasing column order (k >= 1). bmax [cols / kBlock]: each block's max key over its allowed
// columns (-inf when none). Candidates are the allowed columns of the blocks whose max reaches the
// k-th largest block max T (a lower bound of the k-th best), plus the tail; the k-th best key thr
// among them (nth_element on floats) then splits them: all keys > thr, and the lowest columns with
// key == thr, in one ordered pass (no sort). At least k columns must be allowed.
void select_row(const float* v, const float* bmax, const uint16_t* allow, int64_t cols, int64_t k, SelScratch s) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const int64_t nb = cols / kBlock;
  Item* cand = s.cand;
  float T = ninf;
  if (nb >= 16 * k) {
    T = kth_largest(bmax, nb, k, s.tmp);
  } else if (nb >= 4 * k) {
    T = kth_lower_bound(bmax, nb, k);
  }
  const bool all = !(T > ninf);  // also when T is -inf: -inf / NaN may be needed, take every allowed column
  int64_t count = 0;
  for (int64_t b = 0; b < nb; b++) {
    if (!all && !(bmax[b] >= T)) continue;
    const float* vb = v + b * kBlock;
    uint32_t bits = 0;
    if (all) {
      bits = 0xFFFF;
    } else {
#pragma omp simd reduction(| : bits)
      for (int64_t j = 0; j < kBlock; j++) bits |= static_cast<uint32_t>(vb[j] >= T) << j;
    }
    if (allow) bits &= allow[b];
    while (bits != 0) {
      const int64_t j = __builtin_ctz(bits);
      bits &= bits - 1;
      cand[count] = Item{key_of(vb[j]), vb[j], static_cast<int32_t>(b * kBlock + j)};
      count++;
    }
  }
  for (int64_t c = nb * kBlock; c < cols; c++) {
    const bool ok = allow == nullptr || ((allow[nb] >> (c - nb * kBlock)) & 1u);
    if (ok && (all || v[c] >= T)) cand[count++] = Item{key_of(v[c]), v[c], static_cast<int32_t>(c)};
  }
  float thr = ninf;
  int64_t ties = count;  // how many key == thr to keep (all when count == k)
  if (count > k) {
    for (int64_t i = 0; i < count; i++) s.keys[i] = cand[i].key;
    std::nth_element(s.keys, s.keys + (k - 1), s.keys + count, [](float p, float q) { return p > q; });
    thr = s.keys[k - 1];
    int64_t above = 0;
    for (int64_t i = 0; i < count; i++) above += cand[i].key > thr;
    ties = k - above;
  }
  int64_t o = 0;
  for (int64_t i = 0; i < count && o < k; i++) {
    const bool take = count <= k || cand[i].key > thr || (cand[i].key == thr && ties-- > 0);
    if (take) cand[o++] = cand[i];  // o <= i: compacts in place
  }
}

// bmax [nb] = the max key (NaN as -inf) of each block of kBlock of v [nb * kBlock], of v + add when
// add is given (0 on the allowed columns, -inf on the others).
void block_max(const float* v, const float* add, int64_t nb, float* bmax) {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t b = 0; b < nb; b++) {
    const float* vb = v + b * kBlock;
    const float* ab = add ? add + b * kBlock : nullptr;
    float mx = ninf;
    if (ab) {
#pragma omp simd reduction(max : mx)
      for (int64_t j = 0; j < kBlock; j++) {
        const float y = vb[j] + ab[j];
        mx = y > mx ? y : mx;  // NaN never wins
      }
    } else {
#pragma omp simd reduction(max : mx)
      for (int64_t j = 0; j < kBlock; j++) mx = vb[j] > mx ? vb[j] : mx;
    }
    bmax[b] = mx;
  }
}

// One row of topkRows: the selection of select_row (block maxima, a threshold, candidates), then the
// k kept sorted by `better` (value descending, column ascending).
void topk_row(const float* x, int64_t cols, int64_t k, SelScratch s, float* bmax, float* out, int32_t* idx) {
  if (k > 0) {
    block_max(x, nullptr, cols / kBlock, bmax);
    select_row(x, bmax, nullptr, cols, k, s);
    std::sort(s.cand, s.cand + k, better);
  }
  // The kept values are in cand: out (which may alias x) is cleared only now.
  for (int64_t c = 0; c < cols; c++) out[c] = 0.0f;
  for (int64_t j = 0; j < k; j++) {
    out[s.cand[j].col] = s.cand[j].val;
    idx[j] = s.cand[j].col;
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
  const int64_t nbs = cols / kBlock + 1;
  Item* pc = thread_scratch<Item>(static_cast<size_t>(nthreads * cols));
  float* pk = thread_scratch<float>(static_cast<size_t>(nthreads * (cols + 2 * nbs)));
  const float* px = x.p;
  float* po = out.p;
  int32_t* pi = idx.p;
#pragma omp parallel num_threads(nthreads) if (par)
  {
    const int64_t t = omp_get_thread_num();
    float* keys = pk + t * (cols + 2 * nbs);
    float* bmax = keys + cols;
    const SelScratch s{pc + t * cols, keys, bmax + nbs};
#pragma omp for schedule(dynamic, 4)
    for (int64_t r = 0; r < rows; r++) topk_row(px + r * cols, cols, k, s, bmax, po + r * cols, pi + r * k);
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

// topkSelect(x, bias, rows, cols, k, idx, val, mask, kAux, auxIdx, auxVal): see the header. Per row
// v = ReLU(x + bias) goes into a thread scratch row (L2) with the block maxima of v and of v on the
// masked columns, then the two selections run on it.
Napi::Value TopkSelect(const Napi::CallbackInfo& info) {
  const char* K = "topkSelect";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  auto bias = f32_opt(info, 1, K, "bias");
  int64_t rows = dim_arg(info, 2, K, "rows"), cols = dim_arg(info, 3, K, "cols");
  int64_t k = dim_arg(info, 4, K, "k");
  auto idx = i32_arg(info, 5, K, "idx");
  auto val = f32_arg(info, 6, K, "val");
  auto mask = u8_opt(info, 7, K, "mask");
  int64_t kAux = dim_arg(info, 8, K, "kAux");
  auto auxIdx = i32_arg(info, 9, K, "auxIdx");
  auto auxVal = f32_arg(info, 10, K, "auxVal");
  need(env, cols <= INT32_MAX, K, "cols must fit an Int32Array index");
  if (k > cols) fail_range(env, std::string(K) + ": k = " + std::to_string(k) + " exceeds cols = " + std::to_string(cols));
  const int64_t n = mul_dims(env, K, rows, cols);
  need_len(env, K, "x", x.n, n, "rows*cols");
  if (bias.p) need_len(env, K, "bias", bias.n, cols, "cols");
  need_len(env, K, "idx", idx.n, mul_dims(env, K, rows, k), "rows*k");
  need_len(env, K, "val", val.n, mul_dims(env, K, rows, k), "rows*k");
  const bool aux = mask.p != nullptr && kAux > 0;
  if (mask.p) need_len(env, K, "mask", mask.n, cols, "cols");
  const int64_t nb = cols / kBlock;
  uint16_t* allow = thread_scratch<uint16_t, 2>(static_cast<size_t>(nb + 1));
  if (aux) {
    int64_t nMasked = 0;
    for (int64_t c = 0; c < cols; c++) nMasked += mask.p[c] != 0;
    if (kAux > nMasked)
      fail_range(env, std::string(K) + ": kAux = " + std::to_string(kAux) + " exceeds the " + std::to_string(nMasked) +
                          " masked columns");
    for (int64_t b = 0; b <= nb; b++) allow[b] = 0;
    for (int64_t c = 0; c < cols; c++)
      if (mask.p[c]) allow[c / kBlock] |= static_cast<uint16_t>(1u << (c % kBlock));
  }
  float* addMask = thread_scratch<float, 3>(static_cast<size_t>(cols));
  if (aux)
    for (int64_t c = 0; c < cols; c++) addMask[c] = mask.p[c] ? 0.0f : -std::numeric_limits<float>::infinity();
  const int64_t kA = aux ? kAux : 0;
  need_len(env, K, "auxIdx", auxIdx.n, mul_dims(env, K, rows, kA), "rows*kAux (0 without a mask)");
  need_len(env, K, "auxVal", auxVal.n, mul_dims(env, K, rows, kA), "rows*kAux (0 without a mask)");
  const bool par = rows > 1 && n > kParElems;
  const int nthreads = par ? omp_get_max_threads() : 1;
  const int64_t nbs = nb + 1;
  Item* pc = thread_scratch<Item>(static_cast<size_t>(nthreads * cols));
  float* pk = thread_scratch<float>(static_cast<size_t>(nthreads * (cols + 3 * nbs)));
  float* pv = thread_scratch<float, 1>(static_cast<size_t>(nthreads * cols));
  const float *px = x.p, *pb = bias.p;
  int32_t *pi = idx.p, *pai = auxIdx.p;
  float *pval = val.p, *paval = auxVal.p;
#pragma omp parallel num_threads(nthreads) if (par)
  {
    const int64_t t = omp_get_thread_num();
    float* keys = pk + t * (cols + 3 * nbs);
    float* bmax = keys + cols;
    float* amax = bmax + nbs;
    const SelScratch s{pc + t * cols, keys, amax + nbs};
    float* v = pv + t * cols;
#pragma omp for schedule(dynamic, 4)
    for (int64_t r = 0; r < rows; r++) {
      const float* xr = px + r * cols;
      // Separate simple loops (each vectorizes; one fused loop with two reductions did not).
      if (pb) {
#pragma omp simd
        for (int64_t c = 0; c < cols; c++) {
          const float y = xr[c] + pb[c];
          v[c] = y <= 0.0f ? 0.0f : y;  // NaN stays NaN
        }
      } else {
#pragma omp simd
        for (int64_t c = 0; c < cols; c++) v[c] = xr[c] <= 0.0f ? 0.0f : xr[c];
      }
      block_max(v, nullptr, nb, bmax);
      if (kA > 0) block_max(v, addMask, nb, amax);
      const auto emit = [&](int64_t kk, int32_t* oi, float* ov) {
        for (int64_t j = 0; j < kk; j++) {
          oi[j] = s.cand[j].col;
          ov[j] = s.cand[j].val;
        }
      };
      if (k > 0) {
        select_row(v, bmax, nullptr, cols, k, s);
        emit(k, pi + r * k, pval + r * k);
      }
      if (kA > 0) {
        select_row(v, amax, allow, cols, kA, s);
        emit(kA, pai + r * kA, paval + r * kA);
      }
    }
  }
  return env.Undefined();
}

}  // namespace

void RegisterTopk(Napi::Env env, Napi::Object exports) {
  exports.Set("topkRows", Napi::Function::New(env, TopkRows));
  exports.Set("topkRowsBackward", Napi::Function::New(env, TopkRowsBackward));
  exports.Set("topkSelect", Napi::Function::New(env, TopkSelect));
}

}  // namespace msae
