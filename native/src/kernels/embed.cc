// (being written) kernels registered by RegisterEmbed.
#include "common.h"

namespace msae {
void RegisterEmbed(Napi::Env env, Napi::Object exports) {}
}  // namespace msae
