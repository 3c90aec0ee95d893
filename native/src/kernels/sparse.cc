// Sparse-code kernels of the SAE step (src/core/backend-sparse.ts; TypeScript twins in
// src/core/backends/ref-sparse.ts). A sparse [rows, cols] matrix S is CSR: rowPtr [rows + 1],
// idx [nnz] (column of each entry), val [nnz]; entries of a row in increasing column order unless
// said otherwise (duplicates allowed where a kernel only sums).
//   csrFromDense(x, rows, cols, rowPtr, idx, val) -> nnz   the entries x != 0 of x [rows, cols]; when
//                     idx / val hold fewer than nnz entries only rowPtr is written (grow them, call again)
//   csrGather(x, rows, cols, rowPtr, idx, val)              val_e = x[r, idx_e] (r the row of e)
//   csrTranspose(rowPtr, idx, val, rows, cols, colPtr, rowIdx, valT)   S^T in CSR (= S in CSC), stable
//   spmm(rowPtr, idx, val, rows, B, n, alpha, beta, C)      C [rows, n] = beta C + alpha S B, B [cols, n]
//   sddmm(rowPtr, idx, rows, A, B, n, alpha, out)           out_e = alpha <A[r], B[idx_e]>, A [rows, n], B [cols, n]
//   csrScatter(rowPtr, idx, val, rows, cols, accumulate, out)  out [rows, cols] = S, or += S (duplicates add)
//   addTransposed(t, rows, cols, alpha, out)                out [cols, rows] += alpha t^T, t [rows, cols]
// spmm walks n in chunks of kSpmmChunk floats (partial sums in registers, the chunk of B in L2);
// sddmm takes whole rows, kDots entries at a time; rows run in parallel. Measured on the SAE shapes
// (2 threads, AVX-512): 1.3-1.5x the row-wise loops with C in memory; both stay bound by the random
// reads of B's rows (~20-35 GFLOP/s), so the dense GEMM wins above ~6% density.
#include "kutil.h"

namespace msae {
namespace {

constexpr int64_t kSpmmChunk = 64;
constexpr int kSpmmVecs = kSpmmChunk / 16;
constexpr int kDots = 8;

// 16 floats as one value (an AVX-512 register, or two AVX2 ones): loads and stores at any alignment.
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
inline v16 load16(const float* p) { return *reinterpret_cast<const v16u*>(p); }
inline void store16(float* p, v16 v) { *reinterpret_cast<v16u*>(p) = v; }
inline float hsum16(v16 v) {
  float t = 0.0f;
  for (int i = 0; i < 16; i++) t += v[i];
  return t;
}

struct Csr {
  const int32_t* rowPtr;
  const int32_t* idx;
  int64_t rows, nnz;
};

// Checks rowPtr (non-decreasing from 0, rowPtr[rows] = nnz <= idx.n) and idx in [0, cols).
Csr csr_args(const Napi::CallbackInfo& info, const char* K, size_t iPtr, size_t iIdx, int64_t rows, int64_t cols,
             bool checkIdx) {
  Napi::Env env = info.Env();
  auto rp = i32_arg(info, iPtr, K, "rowPtr");
  auto ix = i32_arg(info, iIdx, K, "idx");
  need_len(env, K, "rowPtr", rp.n, rows + 1, "rows + 1");
  need(env, rp.p[0] == 0, K, "rowPtr[0] must be 0");
  for (int64_t r = 0; r < rows; r++)
    if (rp.p[r + 1] < rp.p[r]) fail_range(env, std::string(K) + ": rowPtr must be non-decreasing (row " + std::to_string(r) + ")");
  const int64_t nnz = rp.p[rows];
  need(env, nnz <= static_cast<int64_t>(ix.n), K, "rowPtr[rows] exceeds idx.length");
  if (checkIdx)
    for (int64_t e = 0; e < nnz; e++)
      if (ix.p[e] < 0 || ix.p[e] >= cols)
        fail_range(env, std::string(K) + ": idx[" + std::to_string(e) + "] = " + std::to_string(ix.p[e]) + " is outside [0, " +
                            std::to_string(cols) + ")");
  return Csr{rp.p, ix.p, rows, nnz};
}

Napi::Value CsrFromDense(const Napi::CallbackInfo& info) {
  const char* K = "csrFromDense";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  int64_t rows = dim_arg(info, 1, K, "rows"), cols = dim_arg(info, 2, K, "cols");
  auto rp = i32_arg(info, 3, K, "rowPtr");
  auto ix = i32_arg(info, 4, K, "idx");
  auto val = f32_arg(info, 5, K, "val");
  need_len(env, K, "x", x.n, mul_dims(env, K, rows, cols), "rows*cols");
  need_len(env, K, "rowPtr", rp.n, rows + 1, "rows + 1");
  need(env, cols < (int64_t(1) << 31), K, "cols must fit an int32");
  const float* px = x.p;
  int32_t* prp = rp.p;
  parallel_rows(rows, cols, [=](int64_t r) {
    const float* xr = px + r * cols;
    int32_t c = 0;
    for (int64_t j = 0; j < cols; j++) c += xr[j] != 0.0f;
    prp[r + 1] = c;
  });
  prp[0] = 0;
  int64_t total = 0;
  for (int64_t r = 0; r < rows; r++) {
    total += prp[r + 1];
    need(env, total < (int64_t(1) << 31), K, "more than 2^31 nonzeros");
    prp[r + 1] = static_cast<int32_t>(total);
  }
  // Too small: rowPtr is written, idx / val are not; the caller grows them to the returned nnz.
  if (total > static_cast<int64_t>(ix.n) || total > static_cast<int64_t>(val.n))
    return Napi::Number::New(env, static_cast<double>(total));
  int32_t* pix = ix.p;
  float* pv = val.p;
  parallel_rows(rows, cols, [=](int64_t r) {
    const float* xr = px + r * cols;
    int64_t e = prp[r];
    for (int64_t j = 0; j < cols; j++)
      if (xr[j] != 0.0f) {
        pix[e] = static_cast<int32_t>(j);
        pv[e++] = xr[j];
      }
  });
  return Napi::Number::New(env, static_cast<double>(total));
}

Napi::Value CsrGather(const Napi::CallbackInfo& info) {
  const char* K = "csrGather";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  int64_t rows = dim_arg(info, 1, K, "rows"), cols = dim_arg(info, 2, K, "cols");
  const Csr s = csr_args(info, K, 3, 4, rows, cols, true);
  auto val = f32_arg(info, 5, K, "val");
  need_len(env, K, "x", x.n, mul_dims(env, K, rows, cols), "rows*cols");
  need(env, s.nnz <= static_cast<int64_t>(val.n), K, "val holds fewer entries than rowPtr[rows]");
  const float* px = x.p;
  float* pv = val.p;
  parallel_rows(rows, s.nnz / (rows > 0 ? rows : 1) + 1, [=](int64_t r) {
    for (int32_t e = s.rowPtr[r]; e < s.rowPtr[r + 1]; e++) pv[e] = px[r * cols + s.idx[e]];
  });
  return env.Undefined();
}

Napi::Value CsrTranspose(const Napi::CallbackInfo& info) {
  const char* K = "csrTranspose";
  Napi::Env env = info.Env();
  auto val = f32_arg(info, 2, K, "val");
  int64_t rows = dim_arg(info, 3, K, "rows"), cols = dim_arg(info, 4, K, "cols");
  const Csr s = csr_args(info, K, 0, 1, rows, cols, true);
  auto cp = i32_arg(info, 5, K, "colPtr");
  auto ri = i32_arg(info, 6, K, "rowIdx");
  auto vt = f32_arg(info, 7, K, "valT");
  need(env, s.nnz <= static_cast<int64_t>(val.n), K, "val holds fewer entries than rowPtr[rows]");
  need_len(env, K, "colPtr", cp.n, cols + 1, "cols + 1");
  need(env, s.nnz <= static_cast<int64_t>(ri.n) && s.nnz <= static_cast<int64_t>(vt.n), K,
       "rowIdx / valT hold fewer entries than rowPtr[rows]");
  int32_t* pcp = cp.p;
  for (int64_t c = 0; c <= cols; c++) pcp[c] = 0;
  for (int64_t e = 0; e < s.nnz; e++) pcp[s.idx[e] + 1]++;
  for (int64_t c = 0; c < cols; c++) pcp[c + 1] += pcp[c];
  int32_t* next = thread_scratch<int32_t, 6>(static_cast<size_t>(cols > 0 ? cols : 1));
  for (int64_t c = 0; c < cols; c++) next[c] = pcp[c];
  for (int64_t r = 0; r < rows; r++)
    for (int32_t e = s.rowPtr[r]; e < s.rowPtr[r + 1]; e++) {
      const int32_t dst = next[s.idx[e]]++;
      ri.p[dst] = static_cast<int32_t>(r);
      vt.p[dst] = val.p[e];
    }
  return env.Undefined();
}

Napi::Value Spmm(const Napi::CallbackInfo& info) {
  const char* K = "spmm";
  Napi::Env env = info.Env();
  auto val = f32_arg(info, 2, K, "val");
  int64_t rows = dim_arg(info, 3, K, "rows");
  auto b = f32_arg(info, 4, K, "B");
  int64_t n = dim_arg(info, 5, K, "n");
  const float alpha = static_cast<float>(finite_arg(info, 6, K, "alpha"));
  const float beta = static_cast<float>(finite_arg(info, 7, K, "beta"));
  auto c = f32_arg(info, 8, K, "C");
  need(env, n >= 1, K, "n must be >= 1");
  need(env, b.n % n == 0, K, "B.length must be a multiple of n");
  const int64_t bRows = static_cast<int64_t>(b.n) / n;
  const Csr s = csr_args(info, K, 0, 1, rows, bRows, true);
  need(env, s.nnz <= static_cast<int64_t>(val.n), K, "val holds fewer entries than rowPtr[rows]");
  need_len(env, K, "C", c.n, mul_dims(env, K, rows, n), "rows*n");
  const float *pv = val.p, *pb = b.p;
  float* pc = c.p;
  const bool par = rows > 1 && s.nnz * n > kParElems;
  // Column chunks of kSpmmChunk floats: the row's partial sums stay in registers over its entries
  // (one load of B per multiply-add, no load / store of C), and the chunk of B the rows touch
  // (cols x 256 B) stays in L2 across rows (measured best of 16..256 on the SAE shapes).
  for (int64_t c0 = 0; c0 < n; c0 += kSpmmChunk) {
    const int64_t w = c0 + kSpmmChunk < n ? kSpmmChunk : n - c0;
    parallel_for(rows, par, [=](int64_t r) {
      float* cr = pc + r * n + c0;
      const int32_t e0 = s.rowPtr[r], e1 = s.rowPtr[r + 1];
      if (e0 == e1 && beta == 1.0f) return;  // an empty row adds nothing: C's row is not touched
      if (w == kSpmmChunk) {
        v16 acc[kSpmmVecs] = {};
        for (int32_t e = e0; e < e1; e++) {
          const float a = alpha * pv[e];
          const float* br = pb + static_cast<int64_t>(s.idx[e]) * n + c0;
          for (int v = 0; v < kSpmmVecs; v++) acc[v] += a * load16(br + 16 * v);
        }
        for (int v = 0; v < kSpmmVecs; v++) {
          const v16 old = beta == 0.0f ? v16{} : beta * load16(cr + 16 * v);
          store16(cr + 16 * v, old + acc[v]);
        }
        return;
      }
      float acc[kSpmmChunk] = {};
      for (int32_t e = e0; e < e1; e++) {
        const float a = alpha * pv[e];
        const float* br = pb + static_cast<int64_t>(s.idx[e]) * n + c0;
#pragma omp simd
        for (int64_t j = 0; j < w; j++) acc[j] += a * br[j];
      }
      for (int64_t j = 0; j < w; j++) cr[j] = (beta == 0.0f ? 0.0f : beta * cr[j]) + acc[j];
    });
  }
  return env.Undefined();
}

Napi::Value Sddmm(const Napi::CallbackInfo& info) {
  const char* K = "sddmm";
  Napi::Env env = info.Env();
  int64_t rows = dim_arg(info, 2, K, "rows");
  auto a = f32_arg(info, 3, K, "A");
  auto b = f32_arg(info, 4, K, "B");
  int64_t n = dim_arg(info, 5, K, "n");
  const float alpha = static_cast<float>(finite_arg(info, 6, K, "alpha"));
  auto out = f32_arg(info, 7, K, "out");
  need(env, n >= 1, K, "n must be >= 1");
  need(env, b.n % n == 0, K, "B.length must be a multiple of n");
  const Csr s = csr_args(info, K, 0, 1, rows, static_cast<int64_t>(b.n) / n, true);
  need_len(env, K, "A", a.n, mul_dims(env, K, rows, n), "rows*n");
  need(env, s.nnz <= static_cast<int64_t>(out.n), K, "out holds fewer entries than rowPtr[rows]");
  const float *pa = a.p, *pb = b.p;
  float* po = out.p;
  const bool par = rows > 1 && s.nnz * n > kParElems;
  // Whole rows, kDots entries at a time: one load of A[r] feeds kDots dot products with
  // independent accumulators (the rows of B are random reads; more of them in flight).
  const int64_t nv = n / 16;
  parallel_for(rows, par, [=](int64_t r) {
    const float* ar = pa + r * n;
    int32_t e = s.rowPtr[r];
    const int32_t e1 = s.rowPtr[r + 1];
    for (; e + kDots <= e1; e += kDots) {
      const float* br[kDots];
      for (int q = 0; q < kDots; q++) br[q] = pb + static_cast<int64_t>(s.idx[e + q]) * n;
      v16 acc[kDots] = {};
      for (int64_t v = 0; v < nv; v++) {
        const v16 x = load16(ar + 16 * v);
        for (int q = 0; q < kDots; q++) acc[q] += x * load16(br[q] + 16 * v);
      }
      for (int q = 0; q < kDots; q++) {
        float t = hsum16(acc[q]);
        for (int64_t j = nv * 16; j < n; j++) t += ar[j] * br[q][j];
        po[e + q] = alpha * t;
      }
    }
    for (; e < e1; e++) {
      const float* br = pb + static_cast<int64_t>(s.idx[e]) * n;
      v16 acc = {};
      for (int64_t v = 0; v < nv; v++) acc += load16(ar + 16 * v) * load16(br + 16 * v);
      float t = hsum16(acc);
      for (int64_t j = nv * 16; j < n; j++) t += ar[j] * br[j];
      po[e] = alpha * t;
    }
  });
  return env.Undefined();
}

Napi::Value CsrScatter(const Napi::CallbackInfo& info) {
  const char* K = "csrScatter";
  Napi::Env env = info.Env();
  auto val = f32_arg(info, 2, K, "val");
  int64_t rows = dim_arg(info, 3, K, "rows"), cols = dim_arg(info, 4, K, "cols");
  const Csr s = csr_args(info, K, 0, 1, rows, cols, true);
  const bool accumulate = bool_arg(info, 5, K, "accumulate");
  auto out = f32_arg(info, 6, K, "out");
  need(env, s.nnz <= static_cast<int64_t>(val.n), K, "val holds fewer entries than rowPtr[rows]");
  need_len(env, K, "out", out.n, mul_dims(env, K, rows, cols), "rows*cols");
  const float* pv = val.p;
  float* po = out.p;
  parallel_rows(rows, cols, [=](int64_t r) {
    float* orow = po + r * cols;
    if (!accumulate)
      for (int64_t j = 0; j < cols; j++) orow[j] = 0.0f;
    for (int32_t e = s.rowPtr[r]; e < s.rowPtr[r + 1]; e++) orow[s.idx[e]] += pv[e];
  });
  return env.Undefined();
}

// addTransposed(t, rows, cols, alpha, out): out [cols, rows] += alpha t^T, t [rows, cols]. Tiles of
// kTile x kTile: read along t's rows, write along out's rows (both cache-line friendly).
Napi::Value AddTransposed(const Napi::CallbackInfo& info) {
  const char* K = "addTransposed";
  Napi::Env env = info.Env();
  auto t = f32_arg(info, 0, K, "t");
  int64_t rows = dim_arg(info, 1, K, "rows"), cols = dim_arg(info, 2, K, "cols");
  const float alpha = static_cast<float>(finite_arg(info, 3, K, "alpha"));
  auto out = f32_arg(info, 4, K, "out");
  const int64_t n = mul_dims(env, K, rows, cols);
  need_len(env, K, "t", t.n, n, "rows*cols");
  need_len(env, K, "out", out.n, n, "rows*cols");
  constexpr int64_t kTile = 32;
  const float* pt = t.p;
  float* po = out.p;
  const int64_t tilesR = (rows + kTile - 1) / kTile, tilesC = (cols + kTile - 1) / kTile;
  parallel_for(tilesR * tilesC, n > kParElems, [=](int64_t task) {
    const int64_t r0 = (task / tilesC) * kTile, c0 = (task % tilesC) * kTile;
    const int64_t r1 = r0 + kTile < rows ? r0 + kTile : rows, c1 = c0 + kTile < cols ? c0 + kTile : cols;
    float tile[kTile][kTile];
    for (int64_t r = r0; r < r1; r++)
      for (int64_t c = c0; c < c1; c++) tile[c - c0][r - r0] = pt[r * cols + c];
    for (int64_t c = c0; c < c1; c++) {
      float* oc = po + c * rows;
#pragma omp simd
      for (int64_t r = r0; r < r1; r++) oc[r] += alpha * tile[c - c0][r - r0];
    }
  });
  return env.Undefined();
}

}  // namespace

void RegisterSparse(Napi::Env env, Napi::Object exports) {
  exports.Set("csrFromDense", Napi::Function::New(env, CsrFromDense));
  exports.Set("csrGather", Napi::Function::New(env, CsrGather));
  exports.Set("csrTranspose", Napi::Function::New(env, CsrTranspose));
  exports.Set("spmm", Napi::Function::New(env, Spmm));
  exports.Set("sddmm", Napi::Function::New(env, Sddmm));
  exports.Set("csrScatter", Napi::Function::New(env, CsrScatter));
  exports.Set("addTransposed", Napi::Function::New(env, AddTransposed));
}

}  // namespace msae
