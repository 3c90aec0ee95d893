// Fused LM-training kernels (one memory pass where the unfused path takes three or four):
//   geglu:          out = gelu(gate) * up                                  gate, up, out [n]
//   gegluBackward:  dUp = dOut * gelu(gate);  dGate = dOut * up * gelu'(gate)   (gelu.h)
//   gegluPacked / gegluPackedBackward: the same on gate and up packed in one [rows, 2m] matrix
//     gu (row r = gate_r | up_r, the output of one GEMM with the weight [Wg; Wu]):
//     out [rows, m] = gelu(gu[:, :m]) * gu[:, m:];  dGu [rows, 2m] = dGate | dUp
//   softcapCrossEntropy: per row r of z [rows, vocab] (the raw logits z = n E^T):
//     c = cap tanh(z / cap)              (cap = 0: c = z, no capping)
//     loss_r = logsumexp(c) - c[t_r]     (t_r = -1: ignored, loss 0, dz row 0)
//     dz_r = (softmax(c) - onehot(t_r)) dloss_r * (1 - (c / cap)^2)   (when dz is given)
//   Returns the count of non-ignored rows. The capped row lives in a per-thread scratch row (vocab
//   floats, cache-resident), so z is read once and dz written once; the formulas are those of
//   softcap, crossEntropy, crossEntropyBackward and softcapBackward (elementwise.cc, softmax.cc),
//   so the numbers agree with the unfused path to float rounding. dz may alias z.
// Wider vectors than GCC's default 256-bit preference where the build has AVX-512 (these loops are
// compute-bound on cache-resident rows).
#if defined(__GNUC__) && !defined(__clang__) && defined(__AVX512F__)
#pragma GCC target("prefer-vector-width=512")
#endif
#include <limits>

#include "gelu.h"
#include "kutil.h"

namespace msae {
namespace {

Napi::Value Geglu(const Napi::CallbackInfo& info) {
  const char* K = "geglu";
  auto gate = f32_arg(info, 0, K, "gate");
  auto up = f32_arg(info, 1, K, "up");
  auto out = f32_arg(info, 2, K, "out");
  need_len(info.Env(), K, "up", up.n, gate.n, "gate.length");
  need_len(info.Env(), K, "out", out.n, gate.n, "gate.length");
  const float *pg = gate.p, *pu = up.p;
  float* po = out.p;
  parallel_map(gate.n, [=](int64_t i) { po[i] = gelu1(pg[i]) * pu[i]; });
  return info.Env().Undefined();
}

Napi::Value GegluBackward(const Napi::CallbackInfo& info) {
  const char* K = "gegluBackward";
  auto gate = f32_arg(info, 0, K, "gate");
  auto up = f32_arg(info, 1, K, "up");
  auto dout = f32_arg(info, 2, K, "dOut");
  auto dgate = f32_arg(info, 3, K, "dGate");
  auto dup = f32_arg(info, 4, K, "dUp");
  Napi::Env env = info.Env();
  need_len(env, K, "up", up.n, gate.n, "gate.length");
  need_len(env, K, "dOut", dout.n, gate.n, "gate.length");
  need_len(env, K, "dGate", dgate.n, gate.n, "gate.length");
  need_len(env, K, "dUp", dup.n, gate.n, "gate.length");
  const float *pg = gate.p, *pu = up.p, *pd = dout.p;
  float *pdg = dgate.p, *pdu = dup.p;
  parallel_map(gate.n, [=](int64_t i) {
    const float u = pu[i], d = pd[i];  // read before writing (dGate / dUp may alias dOut)
    float g, dg;
    gelu_value_grad(pg[i], g, dg);
    pdu[i] = d * g;
    pdg[i] = (d * u) * dg;
  });
  return env.Undefined();
}

Napi::Value GegluPacked(const Napi::CallbackInfo& info) {
  const char* K = "gegluPacked";
  Napi::Env env = info.Env();
  auto gu = f32_arg(info, 0, K, "gu");
  const int64_t rows = dim_arg(info, 1, K, "rows"), m = dim_arg(info, 2, K, "m");
  auto out = f32_arg(info, 3, K, "out");
  const int64_t n = mul_dims(env, K, rows, m);
  need_len(env, K, "gu", gu.n, mul_dims(env, K, n, 2), "rows*2*m");
  need_len(env, K, "out", out.n, n, "rows*m");
  const float* pg = gu.p;
  float* po = out.p;
  parallel_rows(rows, 3 * m, [=](int64_t r) {
    const float* g = pg + r * 2 * m;
    const float* u = g + m;
    float* o = po + r * m;
#pragma omp simd
    for (int64_t c = 0; c < m; c++) o[c] = gelu1(g[c]) * u[c];
  });
  return env.Undefined();
}

Napi::Value GegluPackedBackward(const Napi::CallbackInfo& info) {
  const char* K = "gegluPackedBackward";
  Napi::Env env = info.Env();
  auto gu = f32_arg(info, 0, K, "gu");
  auto dout = f32_arg(info, 1, K, "dOut");
  const int64_t rows = dim_arg(info, 2, K, "rows"), m = dim_arg(info, 3, K, "m");
  auto dgu = f32_arg(info, 4, K, "dGu");
  const int64_t n = mul_dims(env, K, rows, m);
  need_len(env, K, "gu", gu.n, mul_dims(env, K, n, 2), "rows*2*m");
  need_len(env, K, "dOut", dout.n, n, "rows*m");
  need_len(env, K, "dGu", dgu.n, 2 * n, "rows*2*m");
  const float *pg = gu.p, *pd = dout.p;
  float* pdg = dgu.p;
  parallel_rows(rows, 4 * m, [=](int64_t r) {
    const float* g = pg + r * 2 * m;
    const float* u = g + m;
    const float* d = pd + r * m;
    float* dg = pdg + r * 2 * m;
    float* du = dg + m;
#pragma omp simd
    for (int64_t c = 0; c < m; c++) {
      const float uc = u[c], dc = d[c];  // read before writing (dGu may alias gu)
      float gv, dgv;
      gelu_value_grad(g[c], gv, dgv);
      du[c] = dc * gv;
      dg[c] = (dc * uc) * dgv;
    }
  });
  return env.Undefined();
}

Napi::Value SoftcapCrossEntropy(const Napi::CallbackInfo& info) {
  const char* K = "softcapCrossEntropy";
  Napi::Env env = info.Env();
  auto z = f32_arg(info, 0, K, "z");
  auto targets = i32_arg(info, 1, K, "targets");
  int64_t rows = dim_arg(info, 2, K, "rows"), vocab = dim_arg(info, 3, K, "vocab");
  const double capd = finite_arg(info, 4, K, "cap");
  need(env, capd >= 0, K, "cap must be >= 0 (0 = no soft-capping)");
  auto dloss = f32_opt(info, 5, K, "dloss");
  auto losses = f32_arg(info, 6, K, "losses");
  auto dz = f32_opt(info, 7, K, "dz");
  const int64_t n = mul_dims(env, K, rows, vocab);
  need_len(env, K, "z", z.n, n, "rows*vocab");
  need_len(env, K, "targets", targets.n, rows, "rows");
  need_len(env, K, "losses", losses.n, rows, "rows");
  need(env, (dz.p == nullptr) == (dloss.p == nullptr), K, "dloss and dz are given together or not at all");
  if (dz.p) {
    need_len(env, K, "dloss", dloss.n, rows, "rows");
    need_len(env, K, "dz", dz.n, n, "rows*vocab");
  }
  int64_t count = 0;
  for (int64_t r = 0; r < rows; r++) {
    const int32_t t = targets.p[r];
    if (t == -1) continue;
    if (t < 0 || t >= vocab)
      fail_range(env, std::string(K) + ": target " + std::to_string(t) + " at row " + std::to_string(r) +
                          " is outside [0, vocab = " + std::to_string(vocab) + ") (use -1 to ignore a row)");
    count++;
  }
  const float cap = static_cast<float>(capd);
  const float inv = cap > 0 ? 1.0f / cap : 0.0f;
  const float inv2 = cap > 0 ? static_cast<float>(1.0 / (capd * capd)) : 0.0f;
  const float *pz = z.p, *pdl = dloss.p;
  const int32_t* pt = targets.p;
  float *pl = losses.p, *pdz = dz.p;
  parallel_rows(rows, vocab, [=](int64_t r) {
    const int32_t t = pt[r];
    float* gr = pdz ? pdz + r * vocab : nullptr;
    if (t < 0) {
      pl[r] = 0.0f;
      if (gr)
        for (int64_t c = 0; c < vocab; c++) gr[c] = 0.0f;
      return;
    }
    const float* zr = pz + r * vocab;
    float* cr = thread_scratch<float, 7>(static_cast<size_t>(vocab));  // capped logits of this row
    float mx = -std::numeric_limits<float>::infinity();
    if (cap > 0) {
#pragma omp simd reduction(max : mx)
      for (int64_t c = 0; c < vocab; c++) {
        const float v = cap * vtanh(zr[c] * inv);
        cr[c] = v;
        mx = v > mx ? v : mx;
      }
    } else {
#pragma omp simd reduction(max : mx)
      for (int64_t c = 0; c < vocab; c++) {
        cr[c] = zr[c];
        mx = zr[c] > mx ? zr[c] : mx;
      }
    }
    const float ct = cr[t];
    double s = 0.0;
    if (gr) {
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < vocab; c++) {
        const float e = vexp(cr[c] - mx);
        gr[c] = e;
        s += e;
      }
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < vocab; c++) s += vexp(cr[c] - mx);
    }
    pl[r] = static_cast<float>((static_cast<double>(mx) - ct) + std::log(s));
    if (!gr) return;
    const float dl = pdl[r];
    const float scale = static_cast<float>(dl / s);
    if (cap > 0) {
#pragma omp simd
      for (int64_t c = 0; c < vocab; c++) gr[c] = (gr[c] * scale) * ((cap - cr[c]) * (cap + cr[c]) * inv2);
    } else {
#pragma omp simd
      for (int64_t c = 0; c < vocab; c++) gr[c] *= scale;
    }
    const float gt = static_cast<float>((static_cast<double>(vexp(ct - mx)) / s - 1.0) * dl);
    gr[t] = cap > 0 ? gt * ((cap - ct) * (cap + ct) * inv2) : gt;
  });
  return Napi::Number::New(env, static_cast<double>(count));
}

}  // namespace

void RegisterLmFused(Napi::Env env, Napi::Object exports) {
  exports.Set("geglu", Napi::Function::New(env, Geglu));
  exports.Set("gegluBackward", Napi::Function::New(env, GegluBackward));
  exports.Set("gegluPacked", Napi::Function::New(env, GegluPacked));
  exports.Set("gegluPackedBackward", Napi::Function::New(env, GegluPackedBackward));
  exports.Set("softcapCrossEntropy", Napi::Function::New(env, SoftcapCrossEntropy));
}

}  // namespace msae
