// (being written) kernels registered by RegisterNorms.
#include "common.h"

namespace msae {
void RegisterNorms(Napi::Env env, Napi::Object exports) {}
}  // namespace msae
