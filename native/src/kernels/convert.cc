// (being written) kernels registered by RegisterConvert.
#include "common.h"

namespace msae {
void RegisterConvert(Napi::Env env, Napi::Object exports) {}
}  // namespace msae
