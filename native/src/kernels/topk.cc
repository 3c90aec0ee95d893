// (being written) kernels registered by RegisterTopk.
#include "common.h"

namespace msae {
void RegisterTopk(Napi::Env env, Napi::Object exports) {}
}  // namespace msae
