// (being written) kernels registered by RegisterElementwise.
#include "common.h"

namespace msae {
void RegisterElementwise(Napi::Env env, Napi::Object exports) {}
}  // namespace msae
