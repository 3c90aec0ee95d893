// (being written) kernels registered by RegisterPeak.
#include "common.h"

namespace msae {
void RegisterPeak(Napi::Env env, Napi::Object exports) {}
}  // namespace msae
