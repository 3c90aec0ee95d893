// Fused causal attention (Gemma-2: soft-capped scores, sliding window, grouped-query), one task per
// (batch, head) in the forward and per (batch, kv head) in the backward, instead of 2-4 small GEMM
// calls per head and three passes over the [B, H, T, T] score tensors. Row i of a head sees keys
// j in [lo_i, i], lo_i = max(0, i - window + 1) (window <= 0: lo_i = 0); only that band is computed.
//
// Forward (q [B*T, H*hd], k, v [B*T, KV*hd], head h reads kv head g = h / (H / KV)):
//   S_ij = alpha q_i . k_j;  C_ij = cap tanh(S_ij / cap) (cap = 0: C = S)
//   P_ij = exp(C_ij - max_j C) / sum_j exp(C_ij - max_j C)      (over the band)
//   y_i  = sum_j P_ij v_j                                         y [B*T, H*hd]
//   scores [B, H, T, T] keeps C, probs keeps P (0 outside the band in both), for the backward.
// Backward, given dy [B*T, H*hd]:
//   dP_ij = dy_i . v_j;  dC_ij = P_ij (dP_ij - sum_j P_ij dP_ij);  dS_ij = dC_ij (1 - (C_ij / cap)^2)
//   dq_i = alpha sum_j dS_ij k_j;  dk_j = alpha sum_{h in g} sum_i dS_ij q_i;  dv_j = sum_{h in g} sum_i P_ij dy_i
//   dq, dk, dv (laid out like q, k, v) are overwritten. dS goes through a per-thread [T, T] scratch.
// Packed q|k|v (optional last argument stride > 0): q, k, v (and dq, dk, dv) are row-strided views
// of one [B*T, stride] matrix, stride >= (H + 2 KV) hd (the output of one GEMM with [Wq; Wk; Wv]);
// y and dy stay [B*T, H*hd].
// Every product is a register-blocked loop (4 rows x 32 scores or 4 rows x 64 head dims of
// accumulators) over cache-resident rows: K and V of a head are transposed once per task into [hd, T'] scratch
// (T' = T rounded up to 32, zero padded) so a row of scores is a sum of hd broadcast-FMAs.
// The formulas are those of the unfused path (attention.ts, attention-backward.ts with gemm,
// softcap, causalSoftmax, softmaxBackward, softcapBackward), so results agree to float rounding.
// Wider vectors than GCC's default 256-bit preference where the build has AVX-512 (these loops are
// compute-bound on cache-resident rows).
#if defined(__GNUC__) && !defined(__clang__) && defined(__AVX512F__)
#pragma GCC target("prefer-vector-width=512")
#endif
#include <limits>
#include <type_traits>

#include "kutil.h"

namespace msae {
namespace {

constexpr int64_t kJB = 32;  // scores per accumulator block
constexpr int64_t kDB = 64;  // head dims per accumulator block
constexpr int kR = 4;        // rows (or key columns) per register block

inline int64_t band_lo(int64_t i, int64_t window) { return window > 0 && i - window + 1 > 0 ? i - window + 1 : 0; }

// Calls f(std::integral_constant<int, R>) with R = n (1..kR), so the blocked loops below unroll.
template <class F>
inline void with_rows(int64_t n, const F& f) {
  switch (n) {
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    default: f(std::integral_constant<int, 1>{}); break;
  }
}

// out[r * ldo + j] = alpha * sum_d a[r * lda + d] bt[d * ldt + j] for r < R, j in [j0, j1).
// bt rows are padded to a multiple of kJB, so whole blocks are computed; only [j0, j1) is stored.
template <int R>
inline void rows_dot_t(const float* a, int64_t lda, const float* bt, int64_t ldt, int64_t hd, int64_t j0, int64_t j1,
                       float alpha, float* out, int64_t ldo) {
  for (int64_t jb = j0 - j0 % kJB; jb < j1; jb += kJB) {
    float acc[R][kJB];
    for (int r = 0; r < R; r++)
      for (int64_t jj = 0; jj < kJB; jj++) acc[r][jj] = 0.0f;
    for (int64_t d = 0; d < hd; d++) {
      const float* b = bt + d * ldt + jb;
      for (int r = 0; r < R; r++) {
        const float ad = a[r * lda + d];
#pragma omp simd
        for (int64_t jj = 0; jj < kJB; jj++) acc[r][jj] += ad * b[jj];
      }
    }
    const int64_t s = jb < j0 ? j0 : jb, e = jb + kJB < j1 ? jb + kJB : j1;
    for (int r = 0; r < R; r++)
      for (int64_t j = s; j < e; j++) out[r * ldo + j] = alpha * acc[r][j - jb];
  }
}

// out[r * ldo + d] (+)= alpha * sum_{j in [j0, j1)} w[r * wr + j * wj] * b[j * ldb + d] for r < R, d < hd.
template <int R>
inline void weighted_rows(const float* w, int64_t wr, int64_t wj, const float* b, int64_t ldb, int64_t j0, int64_t j1,
                          int64_t hd, float alpha, bool add, float* out, int64_t ldo) {
  for (int64_t d0 = 0; d0 < hd; d0 += kDB) {
    const int64_t dn = hd - d0 < kDB ? hd - d0 : kDB;
    float acc[R][kDB];
    for (int r = 0; r < R; r++)
      for (int64_t dd = 0; dd < kDB; dd++) acc[r][dd] = 0.0f;
    if (dn == kDB) {
      for (int64_t j = j0; j < j1; j++) {
        const float* br = b + j * ldb + d0;
        for (int r = 0; r < R; r++) {
          const float wv = w[r * wr + j * wj];
#pragma omp simd
          for (int64_t dd = 0; dd < kDB; dd++) acc[r][dd] += wv * br[dd];
        }
      }
    } else {
      for (int64_t j = j0; j < j1; j++) {
        const float* br = b + j * ldb + d0;
        for (int r = 0; r < R; r++) {
          const float wv = w[r * wr + j * wj];
          for (int64_t dd = 0; dd < dn; dd++) acc[r][dd] += wv * br[dd];
        }
      }
    }
    for (int r = 0; r < R; r++) {
      float* o = out + r * ldo + d0;
      for (int64_t dd = 0; dd < dn; dd++) o[dd] = (add ? o[dd] : 0.0f) + alpha * acc[r][dd];
    }
  }
}

// bt [hd, ldt] = rows [t, hd] (row stride ld) transposed, zero padded to ldt columns.
inline void transpose_rows(const float* rows, int64_t ld, int64_t t, int64_t hd, int64_t ldt, float* bt) {
  for (int64_t d = 0; d < hd; d++) {
    float* o = bt + d * ldt;
    for (int64_t j = 0; j < t; j++) o[j] = rows[j * ld + d];
    for (int64_t j = t; j < ldt; j++) o[j] = 0.0f;
  }
}

struct Dims {
  int64_t B, T, H, KV, hd, window;
  int64_t stride;  // row stride of q, k, v (and dq, dk, dv); 0 = contiguous
  float alpha, cap;
};

// A strided [rows, cols] view with row stride ld must hold at least (rows - 1) * ld + cols entries.
inline void check_strided(const Napi::Env& env, const char* K, const char* name, size_t n, int64_t rows, int64_t ld,
                          int64_t cols) {
  const int64_t need_n = rows == 0 ? 0 : mul_dims(env, K, rows - 1, ld) + cols;
  if (static_cast<int64_t>(n) < need_n)
    fail_range(env, std::string(K) + ": '" + name + "' has " + std::to_string(n) + " entries, expected at least (rows - 1) * stride + " + std::to_string(cols) + " = " + std::to_string(need_n));
}

// Reads and checks the shared arguments q, k, v, batch, seq, heads, kvHeads, headDim, alpha, cap,
// window at positions 0..10 and the optional row stride at stride_index.
Dims read_dims(const Napi::CallbackInfo& info, const char* K, View<float>& q, View<float>& k, View<float>& v,
               size_t stride_index) {
  Napi::Env env = info.Env();
  q = f32_arg(info, 0, K, "q");
  k = f32_arg(info, 1, K, "k");
  v = f32_arg(info, 2, K, "v");
  Dims d{};
  d.B = dim_arg(info, 3, K, "batch");
  d.T = dim_arg(info, 4, K, "seq");
  d.H = dim_arg(info, 5, K, "heads");
  d.KV = dim_arg(info, 6, K, "kvHeads");
  d.hd = dim_arg(info, 7, K, "headDim");
  d.alpha = static_cast<float>(finite_arg(info, 8, K, "alpha"));
  const double cap = finite_arg(info, 9, K, "cap");
  need(env, cap >= 0, K, "cap must be >= 0 (0 = no soft-capping)");
  d.cap = static_cast<float>(cap);
  d.window = int_arg(info, 10, K, "window");
  need(env, d.KV >= 1 && d.H % d.KV == 0, K, "heads must be a positive multiple of kvHeads");
  need(env, d.T <= 65536 && d.hd <= 4096, K, "seq must be <= 65536 and headDim <= 4096");
  const int64_t rows = mul_dims(env, K, d.B, d.T);
  d.stride = stride_index < info.Length() && !info[stride_index].IsUndefined() ? dim_arg(info, stride_index, K, "stride") : 0;
  if (d.stride == 0) {
    need_len(env, K, "q", q.n, mul_dims(env, K, rows, d.H * d.hd), "batch*seq*heads*headDim");
    need_len(env, K, "k", k.n, mul_dims(env, K, rows, d.KV * d.hd), "batch*seq*kvHeads*headDim");
    need_len(env, K, "v", v.n, mul_dims(env, K, rows, d.KV * d.hd), "batch*seq*kvHeads*headDim");
  } else {
    need(env, d.stride >= (d.H + 2 * d.KV) * d.hd, K, "stride must be >= (heads + 2 kvHeads) * headDim");
    check_strided(env, K, "q", q.n, rows, d.stride, d.H * d.hd);
    check_strided(env, K, "k", k.n, rows, d.stride, d.KV * d.hd);
    check_strided(env, K, "v", v.n, rows, d.stride, d.KV * d.hd);
  }
  return d;
}

Napi::Value AttentionForwardFused(const Napi::CallbackInfo& info) {
  const char* K = "attentionForwardFused";
  Napi::Env env = info.Env();
  View<float> q, k, v;
  const Dims D = read_dims(info, K, q, k, v, 14);
  auto scores = f32_arg(info, 11, K, "scores");
  auto probs = f32_arg(info, 12, K, "probs");
  auto y = f32_arg(info, 13, K, "y");
  const int64_t tt = mul_dims(env, K, mul_dims(env, K, D.B * D.H, D.T), D.T);
  need_len(env, K, "scores", scores.n, tt, "batch*heads*seq*seq");
  need_len(env, K, "probs", probs.n, tt, "batch*heads*seq*seq");
  need_len(env, K, "y", y.n, mul_dims(env, K, D.B * D.T, D.H * D.hd), "batch*seq*heads*headDim");
  const float *pq = q.p, *pk = k.p, *pv = v.p;
  float *pc = scores.p, *pp = probs.p, *py = y.p;
  const int64_t T = D.T, hd = D.hd, ys = D.H * hd, rep = D.H / D.KV;
  const int64_t qs = D.stride > 0 ? D.stride : ys, ks = D.stride > 0 ? D.stride : D.KV * hd;
  const int64_t ldt = (T + kJB - 1) / kJB * kJB;
  const bool par = D.B * D.H > 1 && D.B * D.H * T * T > kParElems;
  parallel_for(D.B * D.H, par, [=](int64_t task) {
    const int64_t b = task / D.H, h = task % D.H, g = h / rep;
    float* kt = thread_scratch<float, 11>(static_cast<size_t>(hd * ldt));
    const float* kb = pk + b * T * ks + g * hd;
    const float* vb = pv + b * T * ks + g * hd;
    transpose_rows(kb, ks, T, hd, ldt, kt);
    const float inv = D.cap > 0 ? 1.0f / D.cap : 0.0f;
    for (int64_t i0 = 0; i0 < T; i0 += kR) {
      const int64_t nr = T - i0 < kR ? T - i0 : kR;
      const int64_t jlo = band_lo(i0, D.window), jhi = i0 + nr;  // the union of the block's bands
      float* c0 = pc + (task * T + i0) * T;
      float* p0 = pp + (task * T + i0) * T;
      const float* q0 = pq + (b * T + i0) * qs + h * hd;
      with_rows(nr, [&](auto R) { rows_dot_t<R>(q0, qs, kt, ldt, hd, jlo, jhi, D.alpha, c0, T); });
      for (int64_t r = 0; r < nr; r++) {
        const int64_t i = i0 + r, lo = band_lo(i, D.window), n = i + 1;
        float* c = c0 + r * T;
        float* p = p0 + r * T;
        float mx = -std::numeric_limits<float>::infinity();
        if (D.cap > 0) {
#pragma omp simd reduction(max : mx)
          for (int64_t j = lo; j < n; j++) {
            c[j] = D.cap * vtanh(c[j] * inv);
            mx = c[j] > mx ? c[j] : mx;
          }
        } else {
#pragma omp simd reduction(max : mx)
          for (int64_t j = lo; j < n; j++) mx = c[j] > mx ? c[j] : mx;
        }
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int64_t j = lo; j < n; j++) {
          const float e = vexp(c[j] - mx);
          p[j] = e;
          s += e;
        }
        const float is = static_cast<float>(1.0 / s);
#pragma omp simd
        for (int64_t j = lo; j < n; j++) p[j] *= is;
        for (int64_t j = 0; j < lo; j++) c[j] = p[j] = 0.0f;
        for (int64_t j = n; j < T; j++) c[j] = p[j] = 0.0f;
      }
      float* y0 = py + (b * T + i0) * ys + h * hd;
      with_rows(nr, [&](auto R) { weighted_rows<R>(p0, T, 1, vb, ks, jlo, jhi, hd, 1.0f, false, y0, ys); });
    }
  });
  return env.Undefined();
}

Napi::Value AttentionBackwardFused(const Napi::CallbackInfo& info) {
  const char* K = "attentionBackwardFused";
  Napi::Env env = info.Env();
  View<float> q, k, v;
  const Dims D = read_dims(info, K, q, k, v, 17);
  auto scores = f32_arg(info, 11, K, "scores");
  auto probs = f32_arg(info, 12, K, "probs");
  auto dy = f32_arg(info, 13, K, "dy");
  auto dq = f32_arg(info, 14, K, "dq");
  auto dk = f32_arg(info, 15, K, "dk");
  auto dv = f32_arg(info, 16, K, "dv");
  const int64_t tt = mul_dims(env, K, mul_dims(env, K, D.B * D.H, D.T), D.T);
  need_len(env, K, "scores", scores.n, tt, "batch*heads*seq*seq");
  need_len(env, K, "probs", probs.n, tt, "batch*heads*seq*seq");
  need_len(env, K, "dy", dy.n, mul_dims(env, K, D.B * D.T, D.H * D.hd), "batch*seq*heads*headDim");
  need_len(env, K, "dq", dq.n, q.n, "q.length");
  need_len(env, K, "dk", dk.n, k.n, "k.length");
  need_len(env, K, "dv", dv.n, v.n, "v.length");
  const float *pq = q.p, *pk = k.p, *pv = v.p, *pc = scores.p, *pp = probs.p, *pdy = dy.p;
  float *pdq = dq.p, *pdk = dk.p, *pdv = dv.p;
  const int64_t T = D.T, hd = D.hd, ys = D.H * hd, rep = D.H / D.KV;
  const int64_t qs = D.stride > 0 ? D.stride : ys, ks = D.stride > 0 ? D.stride : D.KV * hd;
  const int64_t ldt = (T + kJB - 1) / kJB * kJB;
  const bool par = D.B * D.KV > 1 && D.B * D.H * T * T > kParElems;
  const float inv2 = D.cap > 0 ? static_cast<float>(1.0 / (static_cast<double>(D.cap) * D.cap)) : 0.0f;
  parallel_for(D.B * D.KV, par, [=](int64_t task) {
    const int64_t b = task / D.KV, g = task % D.KV;
    float* vt = thread_scratch<float, 12>(static_cast<size_t>(hd * ldt));
    float* ds = thread_scratch<float, 13>(static_cast<size_t>(T * T));  // dS of one head [T, T]
    const float* kb = pk + b * T * ks + g * hd;
    const float* vb = pv + b * T * ks + g * hd;
    float* dkb = pdk + b * T * ks + g * hd;
    float* dvb = pdv + b * T * ks + g * hd;
    transpose_rows(vb, ks, T, hd, ldt, vt);
    for (int64_t r = 0; r < rep; r++) {
      const int64_t h = g * rep + r, bh = b * D.H + h;
      const float* qb = pq + b * T * qs + h * hd;
      const float* dyb = pdy + b * T * ys + h * hd;
      for (int64_t i0 = 0; i0 < T; i0 += kR) {
        const int64_t nr = T - i0 < kR ? T - i0 : kR;
        const int64_t jlo = band_lo(i0, D.window), jhi = i0 + nr;
        float* ds0 = ds + i0 * T;
        const float* dy0 = dyb + i0 * ys;
        with_rows(nr, [&](auto R) { rows_dot_t<R>(dy0, ys, vt, ldt, hd, jlo, jhi, 1.0f, ds0, T); });  // dP
        for (int64_t r = 0; r < nr; r++) {
          const int64_t i = i0 + r, lo = band_lo(i, D.window), n = i + 1;
          const float* p = pp + (bh * T + i) * T;
          const float* c = pc + (bh * T + i) * T;
          float* dsr = ds0 + r * T;
          double dot = 0.0;
#pragma omp simd reduction(+ : dot)
          for (int64_t j = lo; j < n; j++) dot += static_cast<double>(dsr[j]) * p[j];
          const float dd = static_cast<float>(dot);
          if (D.cap > 0) {
#pragma omp simd
            for (int64_t j = lo; j < n; j++)
              dsr[j] = (p[j] * (dsr[j] - dd)) * ((D.cap - c[j]) * (D.cap + c[j]) * inv2);
          } else {
#pragma omp simd
            for (int64_t j = lo; j < n; j++) dsr[j] = p[j] * (dsr[j] - dd);
          }
          for (int64_t j = 0; j < lo; j++) dsr[j] = 0.0f;
          for (int64_t j = n; j < T; j++) dsr[j] = 0.0f;
        }
        float* dq0 = pdq + (b * T + i0) * qs + h * hd;
        with_rows(nr, [&](auto R) { weighted_rows<R>(ds0, T, 1, kb, ks, jlo, jhi, hd, D.alpha, false, dq0, qs); });
      }
      // column sums: keys j0 .. j0 + nc - 1 are seen by rows i in [j0, hi), hi = j0 + nc - 1 + window
      // (window <= 0: T); dS and P are 0 outside each key's rows
      const float* pb = pp + bh * T * T;
      for (int64_t j0 = 0; j0 < T; j0 += kR) {
        const int64_t nc = T - j0 < kR ? T - j0 : kR;
        const int64_t hi = D.window > 0 && j0 + nc - 1 + D.window < T ? j0 + nc - 1 + D.window : T;
        const bool add = r > 0;
        with_rows(nc, [&](auto R) {
          weighted_rows<R>(ds + j0, 1, T, qb, qs, j0, hi, hd, D.alpha, add, dkb + j0 * ks, ks);
          weighted_rows<R>(pb + j0, 1, T, dyb, ys, j0, hi, hd, 1.0f, add, dvb + j0 * ks, ks);
        });
      }
    }
  });
  return env.Undefined();
}

}  // namespace

void RegisterAttentionFused(Napi::Env env, Napi::Object exports) {
  exports.Set("attentionForwardFused", Napi::Function::New(env, AttentionForwardFused));
  exports.Set("attentionBackwardFused", Napi::Function::New(env, AttentionBackwardFused));
}

}  // namespace msae
