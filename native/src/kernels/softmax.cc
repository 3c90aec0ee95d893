// (being written) kernels registered by RegisterSoftmax.
#include "common.h"

namespace msae {
void RegisterSoftmax(Napi::Env env, Napi::Object exports) {}
}  // namespace msae
