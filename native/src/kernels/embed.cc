// Embeddings and rotary positions:
//   embeddingGather:     out[i, :] = table[ids[i], :]         table [vocab, dim], ids [n], out [n, dim]
//   embeddingScatterAdd: dtable[ids[i], :] += dout[i, :]       (parallel over column blocks, so
//                        repeated ids never race and the sum order is i ascending, deterministic)
//   rope (HF rotate_half layout), x, out [n, heads, headDim], positions [n], h = headDim / 2:
//     f_i = pos * theta^(-2i / headDim) (double), for i < h:
//     out[i] = x[i] cos f - x[i + h] sin f;  out[i + h] = x[i + h] cos f + x[i] sin f
//     inverse: sin -> -sin (the transposed rotation, i.e. the backward). out may alias x.
//     cos f, sin f come from a per-thread table over positions [0, max position] (positions in
//     [0, 65536); others are computed per call), filled with the same double cos / sin.
// Ids are checked to lie in [0, vocab) before anything is written.
#include <omp.h>

#include "kutil.h"

namespace msae {
namespace {

void check_ids(const Napi::Env& env, const char* K, View<int32_t> ids, int64_t vocab) {
  for (size_t i = 0; i < ids.n; i++) {
    if (ids.p[i] < 0 || ids.p[i] >= vocab) {
      fail_range(env, std::string(K) + ": ids[" + std::to_string(i) + "] = " + std::to_string(ids.p[i]) +
                          " is outside [0, vocab = " + std::to_string(vocab) + ")");
    }
  }
}

Napi::Value EmbeddingGather(const Napi::CallbackInfo& info) {
  const char* K = "embeddingGather";
  Napi::Env env = info.Env();
  auto table = f32_arg(info, 0, K, "table");
  auto ids = i32_arg(info, 1, K, "ids");
  int64_t vocab = dim_arg(info, 2, K, "vocab"), dim = dim_arg(info, 3, K, "dim");
  auto out = f32_arg(info, 4, K, "out");
  need_len(env, K, "table", table.n, mul_dims(env, K, vocab, dim), "vocab*dim");
  const int64_t n = static_cast<int64_t>(ids.n);
  need_len(env, K, "out", out.n, mul_dims(env, K, n, dim), "ids.length*dim");
  check_ids(env, K, ids, vocab);
  const float* pt = table.p;
  const int32_t* pid = ids.p;
  float* po = out.p;
#pragma omp parallel for schedule(static) if (n > 1 && n * dim > kParElems)
  for (int64_t i = 0; i < n; i++) {
    const float* src = pt + static_cast<int64_t>(pid[i]) * dim;
    float* dst = po + i * dim;
    for (int64_t d = 0; d < dim; d++) dst[d] = src[d];
  }
  return env.Undefined();
}

Napi::Value EmbeddingScatterAdd(const Napi::CallbackInfo& info) {
  const char* K = "embeddingScatterAdd";
  Napi::Env env = info.Env();
  auto dout = f32_arg(info, 0, K, "dout");
  auto ids = i32_arg(info, 1, K, "ids");
  int64_t vocab = dim_arg(info, 2, K, "vocab"), dim = dim_arg(info, 3, K, "dim");
  auto dtable = f32_arg(info, 4, K, "dtable");
  const int64_t n = static_cast<int64_t>(ids.n);
  need_len(env, K, "dout", dout.n, mul_dims(env, K, n, dim), "ids.length*dim");
  need_len(env, K, "dtable", dtable.n, mul_dims(env, K, vocab, dim), "vocab*dim");
  check_ids(env, K, ids, vocab);
  const float* pd = dout.p;
  const int32_t* pid = ids.p;
  float* pt = dtable.p;
  constexpr int64_t B = 64;
  const int64_t nblocks = (dim + B - 1) / B;
#pragma omp parallel for schedule(static) if (nblocks > 1 && n * dim > kParElems)
  for (int64_t b = 0; b < nblocks; b++) {
    const int64_t d0 = b * B, d1 = d0 + B < dim ? d0 + B : dim;
    for (int64_t i = 0; i < n; i++) {
      float* dst = pt + static_cast<int64_t>(pid[i]) * dim;
      const float* src = pd + i * dim;
#pragma omp simd
      for (int64_t d = d0; d < d1; d++) dst[d] += src[d];
    }
  }
  return env.Undefined();
}

Napi::Value Rope(const Napi::CallbackInfo& info) {
  const char* K = "rope";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  auto positions = i32_arg(info, 1, K, "positions");
  int64_t n = dim_arg(info, 2, K, "n"), heads = dim_arg(info, 3, K, "heads");
  int64_t head_dim = dim_arg(info, 4, K, "headDim");
  double theta = finite_arg(info, 5, K, "theta");
  bool inverse = bool_arg(info, 6, K, "inverse");
  auto out = f32_arg(info, 7, K, "out");
  if (head_dim % 2 != 0) fail_range(env, std::string(K) + ": headDim must be even, got " + std::to_string(head_dim));
  need(env, theta > 0, K, "theta must be > 0");
  const int64_t width = mul_dims(env, K, heads, head_dim);
  const int64_t total = mul_dims(env, K, n, width);
  // Optional row stride (argument 8): x and out are [n, stride] with the heads in the first
  // heads*headDim entries of each row (q|k of a packed q|k|v matrix); the rest is left alone.
  const int64_t row = info.Length() > 8 && !info[8].IsUndefined() ? dim_arg(info, 8, K, "stride") : width;
  need(env, row >= width, K, "stride must be >= heads*headDim");
  need_len(env, K, "positions", positions.n, n, "n");
  if (row == width) {
    need_len(env, K, "x", x.n, total, "n*heads*headDim");
    need_len(env, K, "out", out.n, total, "n*heads*headDim");
  } else {
    const int64_t min_n = n == 0 ? 0 : mul_dims(env, K, n - 1, row) + width;
    need(env, static_cast<int64_t>(x.n) >= min_n && static_cast<int64_t>(out.n) >= min_n, K,
         "x and out must hold (n - 1) * stride + heads*headDim entries");
  }
  const int64_t half = head_dim / 2;
  // cos f, sin f per (position, i) from a per-thread table of positions [0, maxpos] for this
  // (theta, headDim), computed exactly as before (double cos / sin, rounded to float) and kept
  // across calls: training and the forward call rope with the same positions 4x per layer.
  int32_t maxpos = 0;
  bool table_ok = true;
  for (int64_t t = 0; t < n; t++) {
    const int32_t p = positions.p[t];
    if (p < 0 || p >= (1 << 16)) table_ok = false;
    maxpos = p > maxpos ? p : maxpos;
  }
  static thread_local struct {
    double theta = -1;
    int64_t head_dim = -1, npos = 0;
    std::vector<float> cs, sn;
  } tab;
  if (table_ok && (tab.theta != theta || tab.head_dim != head_dim || tab.npos <= maxpos)) {
    const int64_t npos = static_cast<int64_t>(maxpos) + 1;
    tab.cs.assign(static_cast<size_t>(npos * half), 0.0f);
    tab.sn.assign(static_cast<size_t>(npos * half), 0.0f);
    for (int64_t i = 0; i < half; i++) {
      const double fi = std::pow(theta, (-2.0 * static_cast<double>(i)) / head_dim);
      for (int64_t q = 0; q < npos; q++) {
        const double f = static_cast<double>(q) * fi;
        tab.cs[q * half + i] = static_cast<float>(std::cos(f));
        tab.sn[q * half + i] = static_cast<float>(std::sin(f));
      }
    }
    tab.theta = theta;
    tab.head_dim = head_dim;
    tab.npos = npos;
  }
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; i++) inv_freq[i] = std::pow(theta, (-2.0 * static_cast<double>(i)) / head_dim);
  const bool par = n > 1 && total > kParElems / 4;
  const int nthreads = par ? omp_get_max_threads() : 1;
  float* ptrig = thread_scratch<float>(static_cast<size_t>(nthreads * 2 * half));
  const float* px = x.p;
  const int32_t* ppos = positions.p;
  float* po = out.p;
  const double* pf = inv_freq.data();
  const float* tcs = table_ok ? tab.cs.data() : nullptr;
  const float* tsn = table_ok ? tab.sn.data() : nullptr;
  const float fsgn = inverse ? -1.0f : 1.0f;
#pragma omp parallel num_threads(nthreads) if (par)
  {
    float* cs = ptrig + static_cast<int64_t>(omp_get_thread_num()) * 2 * half;
    float* sn = cs + half;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < n; t++) {
      const int64_t pos = ppos[t];
      if (tcs) {
        for (int64_t i = 0; i < half; i++) {
          cs[i] = tcs[pos * half + i];
          sn[i] = fsgn * tsn[pos * half + i];  // exact: a sign flip
        }
      } else {
        for (int64_t i = 0; i < half; i++) {
          const double f = static_cast<double>(pos) * pf[i];
          cs[i] = static_cast<float>(std::cos(f));
          sn[i] = fsgn * static_cast<float>(std::sin(f));
        }
      }
      for (int64_t h = 0; h < heads; h++) {
        const float* xr = px + t * row + h * head_dim;
        float* orow = po + t * row + h * head_dim;
#pragma omp simd
        for (int64_t i = 0; i < half; i++) {
          const float a = xr[i], b = xr[i + half];
          orow[i] = a * cs[i] - b * sn[i];
          orow[i + half] = b * cs[i] + a * sn[i];
        }
      }
    }
  }
  return env.Undefined();
}

}  // namespace

void RegisterEmbed(Napi::Env env, Napi::Object exports) {
  exports.Set("embeddingGather", Napi::Function::New(env, EmbeddingGather));
  exports.Set("embeddingScatterAdd", Napi::Function::New(env, EmbeddingScatterAdd));
  exports.Set("rope", Napi::Function::New(env, Rope));
}

}  // namespace msae
