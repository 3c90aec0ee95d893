// SAE training kernels (src/core/backend-sae.ts; TypeScript twins in src/core/backends/ref-sae.ts):
//   sqDiff:           returns sum_i (a_i - b_i)^2 (double); out_i = scale (a_i - b_i) when out is given
//   activeStats:      x [rows, cols]: stats[0] = #(x != 0), stats[1] = sum x (double);
//                     counts[c] += #{r : x[r, c] > 0} when counts is given
//   addWherePositive: y_i += c where x_i > 0
//   scaleNormForward: the paper's (multi-scale, adaptive) input normalization, per row b of x [rows, d]:
//                     mu_t = mean_j x_bj, var_t = mean_j (x_bj - mu_t)^2 (double), written to muT, varT [rows];
//                     diff_j = x_bj - (a mu_t + omRm_j), v_j = a var_t + omRv_j, r_j = (v_j + eps)^-1/2,
//                     n_bj = diff_j sum_s coef_sj (s_s v_j + eps)^-1/2 + shift_j, r1_bj = r_j
//                     (coef [S, d], scales [S]; one affine LayerNorm is S = 1, scales [1])
//   scaleNormBackward: from dn [rows, d], per column j (sums over rows in double, deterministic):
//                     T_sj = sum_b dn_bj diff_bj q_sbj, N_j = sum_b dn_bj (q_s = (s v + eps)^-1/2) into
//                     acc [(S + 1), d] (T rows then N); returns
//                     da = sum_bj dmu (mu_t - rm_j) + dv (var_t - rv_j) when adaptive (else 0), with
//                     dmu = -dn sum_s coef_s q_s, dv = -dn diff sum_s (s/2) coef_s q_s^3
//   denormalize:      out_bj = y_bj / r1_bj + a mu_t,b + omRm_j
//   denormalizeBackward: dy_bj = dx_bj / r1_bj; returns da = sum dx (mu_t - rm_j + y r1 (var_t - rv_j) / 2)
//                     when adaptive (else 0)
#include "kutil.h"

namespace msae {
namespace {

View<int32_t> i32_opt(const Napi::CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  if (i < info.Length() && (info[i].IsNull() || info[i].IsUndefined())) return View<int32_t>{nullptr, 0};
  return i32_arg(info, i, kernel, name);
}

// Deterministic parallel sum of f(i) over [0, n): fixed chunks, chunk sums added in order.
template <class F>
double chunked_sum(int64_t n, const F& f) {
  constexpr int64_t kChunk = 16384;
  const int64_t nch = (n + kChunk - 1) / kChunk;
  if (nch <= 1) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += f(i);
    return s;
  }
  double* part = thread_scratch<double, 2>(static_cast<size_t>(nch));
  parallel_for(nch, n > kParElems, [=, &f](int64_t c) {
    const int64_t i0 = c * kChunk, i1 = i0 + kChunk < n ? i0 + kChunk : n;
    double s = 0.0;
    for (int64_t i = i0; i < i1; i++) s += f(i);
    part[c] = s;
  });
  double s = 0.0;
  for (int64_t c = 0; c < nch; c++) s += part[c];
  return s;
}

Napi::Value SqDiff(const Napi::CallbackInfo& info) {
  const char* K = "sqDiff";
  Napi::Env env = info.Env();
  auto a = f32_arg(info, 0, K, "a");
  auto b = f32_arg(info, 1, K, "b");
  const float scale = static_cast<float>(finite_arg(info, 2, K, "scale"));
  auto out = f32_opt(info, 3, K, "out");
  need_len(env, K, "b", b.n, static_cast<int64_t>(a.n), "a.length");
  if (out.p) need_len(env, K, "out", out.n, static_cast<int64_t>(a.n), "a.length");
  const float *pa = a.p, *pb = b.p;
  float* po = out.p;
  const double s = chunked_sum(static_cast<int64_t>(a.n), [=](int64_t i) {
    const float e = pa[i] - pb[i];
    if (po) po[i] = scale * e;
    return static_cast<double>(e) * e;
  });
  return Napi::Number::New(env, s);
}

Napi::Value ActiveStats(const Napi::CallbackInfo& info) {
  const char* K = "activeStats";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  int64_t rows = dim_arg(info, 1, K, "rows"), cols = dim_arg(info, 2, K, "cols");
  auto counts = i32_opt(info, 3, K, "counts");
  auto stats = f64_arg(info, 4, K, "stats");
  need_len(env, K, "x", x.n, mul_dims(env, K, rows, cols), "rows*cols");
  if (counts.p) need_len(env, K, "counts", counts.n, cols, "cols");
  need_len(env, K, "stats", stats.n, 2, "2");
  constexpr int64_t kBlock = 64;
  const int64_t nb = (cols + kBlock - 1) / kBlock;
  double* part = thread_scratch<double, 3>(static_cast<size_t>(2 * (nb > 0 ? nb : 1)));
  const float* px = x.p;
  int32_t* pc = counts.p;
  parallel_for(nb, nb > 1 && rows * cols > kParElems, [=](int64_t blk) {
    const int64_t c0 = blk * kBlock, c1 = c0 + kBlock < cols ? c0 + kBlock : cols;
    int32_t pos[kBlock] = {0};
    int64_t nz = 0;
    double sum = 0.0;
    for (int64_t r = 0; r < rows; r++) {
      const float* xr = px + r * cols;
      float s = 0.0f;
      for (int64_t c = c0; c < c1; c++) {
        const float v = xr[c];
        nz += v != 0.0f;
        pos[c - c0] += v > 0.0f;
        s += v;
      }
      sum += s;
    }
    if (pc)
      for (int64_t c = c0; c < c1; c++) pc[c] += pos[c - c0];
    part[2 * blk] = static_cast<double>(nz);
    part[2 * blk + 1] = sum;
  });
  double nz = 0.0, sum = 0.0;
  for (int64_t b = 0; b < nb; b++) {
    nz += part[2 * b];
    sum += part[2 * b + 1];
  }
  stats.p[0] = nz;
  stats.p[1] = sum;
  return env.Undefined();
}

Napi::Value AddWherePositive(const Napi::CallbackInfo& info) {
  const char* K = "addWherePositive";
  auto x = f32_arg(info, 0, K, "x");
  const float c = static_cast<float>(finite_arg(info, 1, K, "c"));
  auto y = f32_arg(info, 2, K, "y");
  need_len(info.Env(), K, "y", y.n, static_cast<int64_t>(x.n), "x.length");
  const float* px = x.p;
  float* py = y.p;
  parallel_map(static_cast<int64_t>(x.n), [=](int64_t i) { py[i] += px[i] > 0.0f ? c : 0.0f; });
  return info.Env().Undefined();
}

// Arguments shared by the normalization kernels, checked once.
struct NormArgs {
  int64_t rows, d, S;
  float a, eps;
  const float *omRm, *omRv, *coef, *scales;
};

NormArgs norm_args(const Napi::CallbackInfo& info, const char* K, size_t i0, int64_t rows, int64_t d) {
  Napi::Env env = info.Env();
  NormArgs n{};
  n.rows = rows;
  n.d = d;
  n.a = static_cast<float>(finite_arg(info, i0, K, "a"));
  n.eps = static_cast<float>(finite_arg(info, i0 + 1, K, "eps"));
  need(env, n.eps > 0, K, "eps must be > 0");
  auto omRm = f32_arg(info, i0 + 2, K, "omRm");
  auto omRv = f32_arg(info, i0 + 3, K, "omRv");
  auto coef = f32_arg(info, i0 + 4, K, "coef");
  auto scales = f32_arg(info, i0 + 5, K, "scales");
  n.S = static_cast<int64_t>(scales.n);
  need(env, n.S == 1 || n.S == 4, K, "scales must have 1 or 4 entries");
  need_len(env, K, "omRm", omRm.n, d, "d");
  need_len(env, K, "omRv", omRv.n, d, "d");
  need_len(env, K, "coef", coef.n, n.S * d, "scales.length * d");
  n.omRm = omRm.p;
  n.omRv = omRv.p;
  n.coef = coef.p;
  n.scales = scales.p;
  return n;
}

// scaleNormForward(x, rows, d, a, eps, omRm, omRv, coef, scales, shift, n, r1, muT, varT)
Napi::Value ScaleNormForward(const Napi::CallbackInfo& info) {
  const char* K = "scaleNormForward";
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, K, "x");
  int64_t rows = dim_arg(info, 1, K, "rows"), d = dim_arg(info, 2, K, "d");
  const NormArgs na = norm_args(info, K, 3, rows, d);
  auto shift = f32_arg(info, 9, K, "shift");
  auto n = f32_arg(info, 10, K, "n");
  auto r1 = f32_arg(info, 11, K, "r1");
  auto muT = f32_arg(info, 12, K, "muT");
  auto varT = f32_arg(info, 13, K, "varT");
  const int64_t nd = mul_dims(env, K, rows, d);
  need(env, d >= 1, K, "d must be >= 1");
  need_len(env, K, "x", x.n, nd, "rows*d");
  need_len(env, K, "shift", shift.n, d, "d");
  need_len(env, K, "n", n.n, nd, "rows*d");
  need_len(env, K, "r1", r1.n, nd, "rows*d");
  need_len(env, K, "muT", muT.n, rows, "rows");
  need_len(env, K, "varT", varT.n, rows, "rows");
  const float *px = x.p, *psh = shift.p;
  float *pn = n.p, *pr = r1.p, *pm = muT.p, *pv = varT.p;
  parallel_rows(rows, d, [=](int64_t b) {
    const float* xb = px + b * d;
    double s = 0.0;
    for (int64_t j = 0; j < d; j++) s += xb[j];
    const double mu = s / static_cast<double>(d);
    double q = 0.0;
    for (int64_t j = 0; j < d; j++) {
      const double t = xb[j] - mu;
      q += t * t;
    }
    const float muf = static_cast<float>(mu), varf = static_cast<float>(q / static_cast<double>(d));
    pm[b] = muf;
    pv[b] = varf;
    const float am = na.a * muf, av = na.a * varf, eps = na.eps;
    const float *omRm = na.omRm, *omRv = na.omRv, *cf = na.coef;
    float* nb = pn + b * d;
    float* rb = pr + b * d;
    if (na.S == 1) {
#pragma omp simd
      for (int64_t j = 0; j < d; j++) {
        const float r = 1.0f / std::sqrt(av + omRv[j] + eps);
        rb[j] = r;
        nb[j] = (xb[j] - (am + omRm[j])) * (cf[j] * r) + psh[j];
      }
    } else {
      const float s0 = na.scales[0], s1 = na.scales[1], s2 = na.scales[2], s3 = na.scales[3];
#pragma omp simd
      for (int64_t j = 0; j < d; j++) {
        const float v = av + omRv[j];
        const float r = 1.0f / std::sqrt(s2 * v + eps);
        rb[j] = 1.0f / std::sqrt(v + eps);
        const float c = cf[j] / std::sqrt(s0 * v + eps) + cf[d + j] / std::sqrt(s1 * v + eps) + cf[2 * d + j] * r +
                        cf[3 * d + j] / std::sqrt(s3 * v + eps);
        nb[j] = (xb[j] - (am + omRm[j])) * c + psh[j];
      }
    }
  });
  return env.Undefined();
}

// scaleNormBackward(dn, x, rows, d, a, eps, omRm, omRv, coef, scales, muT, varT, rm, rv, adaptive, acc) -> da
template <int S>
double norm_backward(const float* dn, const float* x, const NormArgs& na, const float* muT, const float* varT,
                     const float* rm, const float* rv, bool adaptive, double* acc) {
  constexpr int NA = S + 2;  // T_0..T_{S-1}, N, da per column
  const int64_t d = na.d;
  double* res = thread_scratch<double, 4>(static_cast<size_t>(NA * d));
  float sc[4] = {1, 1, 1, 1};
  for (int s = 0; s < S; s++) sc[s] = na.scales[s];
  const NormArgs n = na;
  column_sums<NA>(
      na.rows, d,
      [=](int64_t b, int64_t c0, int64_t c1, double* A) {
        const float mt = muT[b], vt = varT[b];
        const float am = n.a * mt, av = n.a * vt;
        const float* dnb = dn + b * d;
        const float* xb = x + b * d;
        for (int64_t j = c0; j < c1; j++) {
          const float gn = dnb[j];
          const float diff = xb[j] - (am + n.omRm[j]);
          const float v = av + n.omRv[j];
          const float gd = gn * diff;
          float dmu = 0.0f, dv = 0.0f;
          for (int s = 0; s < S; s++) {
            const float qs = 1.0f / std::sqrt(sc[s] * v + n.eps);
            A[s * kColBlock + (j - c0)] += static_cast<double>(gd * qs);
            const float cq = n.coef[s * d + j] * qs;
            dmu += cq;
            dv += sc[s] * cq * qs * qs;
          }
          A[S * kColBlock + (j - c0)] += gn;
          if (adaptive)
            A[(S + 1) * kColBlock + (j - c0)] +=
                static_cast<double>(-gn * dmu) * (mt - rm[j]) + static_cast<double>(-0.5f * gd * dv) * (vt - rv[j]);
        }
      },
      res);
  for (int64_t i = 0; i < (S + 1) * d; i++) acc[i] = res[i];
  double da = 0.0;
  if (adaptive)
    for (int64_t j = 0; j < d; j++) da += res[(S + 1) * d + j];
  return da;
}

Napi::Value ScaleNormBackward(const Napi::CallbackInfo& info) {
  const char* K = "scaleNormBackward";
  Napi::Env env = info.Env();
  auto dn = f32_arg(info, 0, K, "dn");
  auto x = f32_arg(info, 1, K, "x");
  int64_t rows = dim_arg(info, 2, K, "rows"), d = dim_arg(info, 3, K, "d");
  const NormArgs na = norm_args(info, K, 4, rows, d);
  auto muT = f32_arg(info, 10, K, "muT");
  auto varT = f32_arg(info, 11, K, "varT");
  auto rm = f32_arg(info, 12, K, "rm");
  auto rv = f32_arg(info, 13, K, "rv");
  const bool adaptive = bool_arg(info, 14, K, "adaptive");
  auto acc = f64_arg(info, 15, K, "acc");
  const int64_t nd = mul_dims(env, K, rows, d);
  need_len(env, K, "dn", dn.n, nd, "rows*d");
  need_len(env, K, "x", x.n, nd, "rows*d");
  need_len(env, K, "muT", muT.n, rows, "rows");
  need_len(env, K, "varT", varT.n, rows, "rows");
  need_len(env, K, "rm", rm.n, d, "d");
  need_len(env, K, "rv", rv.n, d, "d");
  need_len(env, K, "acc", acc.n, (na.S + 1) * d, "(scales.length + 1) * d");
  const double da = na.S == 1 ? norm_backward<1>(dn.p, x.p, na, muT.p, varT.p, rm.p, rv.p, adaptive, acc.p)
                              : norm_backward<4>(dn.p, x.p, na, muT.p, varT.p, rm.p, rv.p, adaptive, acc.p);
  return Napi::Number::New(env, da);
}

// denormalize(y, r1, muT, rows, d, a, omRm, out)
Napi::Value Denormalize(const Napi::CallbackInfo& info) {
  const char* K = "denormalize";
  Napi::Env env = info.Env();
  auto y = f32_arg(info, 0, K, "y");
  auto r1 = f32_arg(info, 1, K, "r1");
  auto muT = f32_arg(info, 2, K, "muT");
  int64_t rows = dim_arg(info, 3, K, "rows"), d = dim_arg(info, 4, K, "d");
  const float a = static_cast<float>(finite_arg(info, 5, K, "a"));
  auto omRm = f32_arg(info, 6, K, "omRm");
  auto out = f32_arg(info, 7, K, "out");
  const int64_t nd = mul_dims(env, K, rows, d);
  need_len(env, K, "y", y.n, nd, "rows*d");
  need_len(env, K, "r1", r1.n, nd, "rows*d");
  need_len(env, K, "muT", muT.n, rows, "rows");
  need_len(env, K, "omRm", omRm.n, d, "d");
  need_len(env, K, "out", out.n, nd, "rows*d");
  const float *py = y.p, *pr = r1.p, *pm = muT.p, *po = omRm.p;
  float* pout = out.p;
  parallel_rows(rows, d, [=](int64_t b) {
    const float am = a * pm[b];
    const int64_t o = b * d;
#pragma omp simd
    for (int64_t j = 0; j < d; j++) pout[o + j] = py[o + j] / pr[o + j] + (am + po[j]);
  });
  return env.Undefined();
}

// denormalizeBackward(dx, y, r1, muT, varT, rm, rv, rows, d, adaptive, dy) -> da
Napi::Value DenormalizeBackward(const Napi::CallbackInfo& info) {
  const char* K = "denormalizeBackward";
  Napi::Env env = info.Env();
  auto dx = f32_arg(info, 0, K, "dx");
  auto y = f32_arg(info, 1, K, "y");
  auto r1 = f32_arg(info, 2, K, "r1");
  auto muT = f32_arg(info, 3, K, "muT");
  auto varT = f32_arg(info, 4, K, "varT");
  auto rm = f32_arg(info, 5, K, "rm");
  auto rv = f32_arg(info, 6, K, "rv");
  int64_t rows = dim_arg(info, 7, K, "rows"), d = dim_arg(info, 8, K, "d");
  const bool adaptive = bool_arg(info, 9, K, "adaptive");
  auto dy = f32_arg(info, 10, K, "dy");
  const int64_t nd = mul_dims(env, K, rows, d);
  need_len(env, K, "dx", dx.n, nd, "rows*d");
  need_len(env, K, "y", y.n, nd, "rows*d");
  need_len(env, K, "r1", r1.n, nd, "rows*d");
  need_len(env, K, "muT", muT.n, rows, "rows");
  need_len(env, K, "varT", varT.n, rows, "rows");
  need_len(env, K, "rm", rm.n, d, "d");
  need_len(env, K, "rv", rv.n, d, "d");
  need_len(env, K, "dy", dy.n, nd, "rows*d");
  const float *pdx = dx.p, *py = y.p, *pr = r1.p, *pm = muT.p, *pv = varT.p, *prm = rm.p, *prv = rv.p;
  float* pdy = dy.p;
  // Rows in parallel, each row's da in double, rows added in order (deterministic).
  double* part = thread_scratch<double, 5>(static_cast<size_t>(rows > 0 ? rows : 1));
  parallel_rows(rows, d, [=](int64_t b) {
    const int64_t o = b * d;
    const float mt = pm[b], vt = pv[b];
    double da = 0.0;
    for (int64_t j = 0; j < d; j++) {
      const float g = pdx[o + j], r = pr[o + j];
      pdy[o + j] = g / r;
      if (adaptive) da += static_cast<double>(g) * ((mt - prm[j]) + 0.5f * py[o + j] * r * (vt - prv[j]));
    }
    part[b] = da;
  });
  double da = 0.0;
  for (int64_t b = 0; b < rows; b++) da += part[b];
  return Napi::Number::New(env, adaptive ? da : 0.0);
}

}  // namespace

void RegisterSae(Napi::Env env, Napi::Object exports) {
  exports.Set("sqDiff", Napi::Function::New(env, SqDiff));
  exports.Set("activeStats", Napi::Function::New(env, ActiveStats));
  exports.Set("addWherePositive", Napi::Function::New(env, AddWherePositive));
  exports.Set("scaleNormForward", Napi::Function::New(env, ScaleNormForward));
  exports.Set("scaleNormBackward", Napi::Function::New(env, ScaleNormBackward));
  exports.Set("denormalize", Napi::Function::New(env, Denormalize));
  exports.Set("denormalizeBackward", Napi::Function::New(env, DenormalizeBackward));
}

}  // namespace msae
