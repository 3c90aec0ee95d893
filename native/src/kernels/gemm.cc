// (being written) kernels registered by RegisterGemm.
#include "common.h"

namespace msae {
void RegisterGemm(Napi::Env env, Napi::Object exports) {}
}  // namespace msae
