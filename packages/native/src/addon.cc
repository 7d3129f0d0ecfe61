// The addon's entry point: a list of module initialisers, nothing else.
// To add a module, declare its Init function in modules.h and call it here.
#include <napi.h>

#include "modules.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  sluice::InitListener(env, exports);
  sluice::InitOutboundSocket(env, exports);
  sluice::InitOriginalDst(env, exports);
  sluice::InitFdOps(env, exports);
  sluice::InitUdpSocket(env, exports);
  sluice::InitSpliceRelay(env, exports);
  sluice::InitTcpDial(env, exports);
  sluice::InitTcpAcceptor(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(sluice_native, Init)
