// Logit comparison for evaluation (src/eval/ce.ts): the clean forward's softmax and a patched
// forward's log-sum-exp and cross term, per row, sums in double, exp by kutil.h's vexp.
//   logitSoftmax:  p_r = softmax(l_r) [vocab] (float), lse_r = logsumexp(l_r), pl_r = sum_v p_rv l_rv (double)
//   logitCompare:  lseQ_r = logsumexp(q_r), pq_r = sum_v p_rv q_rv  (double)
// so that KL(p || softmax(q)) = (pl_r - pq_r) + lseQ_r - lse_r and CE_r = lseQ_r - q_r[target];
// the compare pass reads only p and q (memory traffic, not FLOPs, bounds it at a large vocabulary).
// l, p, q [rows, vocab]; lse, lseQ, cross [rows] are Float64Arrays. Rows run in parallel. Both
// kernels sum exp in the same order, so identical logits give bit-identical log-sum-exps.
#include <limits>

#include "kutil.h"

namespace msae {
namespace {

inline float max_of(const float* x, int64_t n) {
  float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
  for (int64_t c = 0; c < n; c++) mx = x[c] > mx ? x[c] : mx;
  return mx;
}

Napi::Value LogitSoftmax(const Napi::CallbackInfo& info) {
  const char* K = "logitSoftmax";
  Napi::Env env = info.Env();
  auto l = f32_arg(info, 0, K, "logits");
  int64_t rows = dim_arg(info, 1, K, "rows"), vocab = dim_arg(info, 2, K, "vocab");
  auto p = f32_arg(info, 3, K, "p");
  auto lse = f64_arg(info, 4, K, "lse");
  auto plOut = f64_arg(info, 5, K, "pl");
  need(env, vocab >= 1, K, "vocab must be >= 1");
  const int64_t n = mul_dims(env, K, rows, vocab);
  need_len(env, K, "logits", l.n, n, "rows*vocab");
  need_len(env, K, "p", p.n, n, "rows*vocab");
  need_len(env, K, "lse", lse.n, rows, "rows");
  need_len(env, K, "pl", plOut.n, rows, "rows");
  const float* pl = l.p;
  float* pp = p.p;
  double* plse = lse.p;
  double* ppl = plOut.p;
  parallel_rows(rows, vocab, [=](int64_t r) {
    const float* x = pl + r * vocab;
    float* y = pp + r * vocab;
    const float mx = max_of(x, vocab);
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < vocab; c++) {
      const float e = vexp(x[c] - mx);
      y[c] = e;
      s += e;
    }
    const float inv = static_cast<float>(1.0 / s);
    double a = 0.0;
#pragma omp simd reduction(+ : a)
    for (int64_t c = 0; c < vocab; c++) {
      y[c] *= inv;
      a += static_cast<double>(y[c]) * x[c];
    }
    plse[r] = static_cast<double>(mx) + std::log(s);
    ppl[r] = a;
  });
  return env.Undefined();
}

Napi::Value LogitCompare(const Napi::CallbackInfo& info) {
  const char* K = "logitCompare";
  Napi::Env env = info.Env();
  auto p = f32_arg(info, 0, K, "p");
  auto q = f32_arg(info, 1, K, "q");
  int64_t rows = dim_arg(info, 2, K, "rows"), vocab = dim_arg(info, 3, K, "vocab");
  auto lseQ = f64_arg(info, 4, K, "lseQ");
  auto pqOut = f64_arg(info, 5, K, "pq");
  need(env, vocab >= 1, K, "vocab must be >= 1");
  const int64_t n = mul_dims(env, K, rows, vocab);
  need_len(env, K, "p", p.n, n, "rows*vocab");
  need_len(env, K, "q", q.n, n, "rows*vocab");
  need_len(env, K, "lseQ", lseQ.n, rows, "rows");
  need_len(env, K, "pq", pqOut.n, rows, "rows");
  const float *pp = p.p, *pq = q.p;
  double *plq = lseQ.p, *ppq = pqOut.p;
  parallel_rows(rows, vocab, [=](int64_t r) {
    const float* prr = pp + r * vocab;
    const float* qr = pq + r * vocab;
    const float mx = max_of(qr, vocab);
    double s = 0.0, c = 0.0;
#pragma omp simd reduction(+ : s, c)
    for (int64_t v = 0; v < vocab; v++) {
      s += vexp(qr[v] - mx);
      c += static_cast<double>(prr[v]) * qr[v];
    }
    plq[r] = static_cast<double>(mx) + std::log(s);
    ppq[r] = c;
  });
  return env.Undefined();
}

}  // namespace

void RegisterLogits(Napi::Env env, Napi::Object exports) {
  exports.Set("logitSoftmax", Napi::Function::New(env, LogitSoftmax));
  exports.Set("logitCompare", Napi::Function::New(env, LogitCompare));
}

}  // namespace msae
