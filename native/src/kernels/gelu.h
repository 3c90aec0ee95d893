// GELU, tanh form, shared by elementwise.cc (gelu, geluBackward) and lm_fused.cc (GeGLU):
//   gelu(x) = 0.5 x (1 + tanh z), z = sqrt(2/pi) (x + 0.044715 x^3), computed as
//     x * sigmoid(2z) = x / (1 + e), e = exp(-2z)  (no cancellation for negative x);
//   gelu'(x) = s + 2 x s (1 - s) z', s = sigmoid(2z), s (1 - s) = s * (e s),
//     z' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
//   gelu_value_grad: both from one exp (GeGLU's backward)
#pragma once
#include "kutil.h"

namespace msae {

constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluA = 0.044715f;

inline float gelu1(float x) {
  float z = kGeluC * (x + kGeluA * x * x * x);
  return x / (1.0f + vexp(-2.0f * z));
}

inline float gelu_grad1(float x) {
  // Past |x| = 20 gelu' is exactly 1 or 0 in float; clamping keeps x^3 and z' finite.
  float xc = x < -20.0f ? -20.0f : (x > 20.0f ? 20.0f : x);
  float x2 = xc * xc;
  float z = kGeluC * (xc + kGeluA * x2 * xc);
  float arg = -2.0f * z;
  arg = arg > 80.0f ? 80.0f : arg;  // keeps e * s finite, so s (1 - s) never becomes inf * 0
  float e = vexp(arg);
  float s = 1.0f / (1.0f + e);
  float s1ms = s * (e * s);
  float dz = kGeluC * (1.0f + 3.0f * kGeluA * x2);
  return s + 2.0f * xc * s1ms * dz;
}

// gelu(x) and gelu'(x) from one exp (GeGLU's backward needs both): the terms of gelu_grad1, with
// gelu = x s. Equal to gelu1 to float rounding for |x| <= 20; past it gelu is x or ~0 either way.
inline void gelu_value_grad(float x, float& g, float& dg) {
  float xc = x < -20.0f ? -20.0f : (x > 20.0f ? 20.0f : x);
  float x2 = xc * xc;
  float z = kGeluC * (xc + kGeluA * x2 * xc);
  float arg = -2.0f * z;
  arg = arg > 80.0f ? 80.0f : arg;
  float e = vexp(arg);
  float s = 1.0f / (1.0f + e);
  float dz = kGeluC * (1.0f + 3.0f * kGeluA * x2);
  g = x * s;
  dg = s + 2.0f * xc * (s * (e * s)) * dz;
}

}  // namespace msae
