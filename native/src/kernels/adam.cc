// (being written) kernels registered by RegisterAdam.
#include "common.h"

namespace msae {
void RegisterAdam(Napi::Env env, Napi::Object exports) {}
}  // namespace msae
