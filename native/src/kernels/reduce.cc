// (being written) kernels registered by RegisterReduce.
#include "common.h"

namespace msae {
void RegisterReduce(Napi::Env env, Napi::Object exports) {}
}  // namespace msae
