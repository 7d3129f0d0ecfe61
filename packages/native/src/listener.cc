// openTransparentListener: a TCP listening socket that accepts connections
// for any destination address steered to it by a TPROXY rule.
#include <errno.h>
#include <sys/socket.h>

#include "args.h"
#include "errors.h"
#include "modules.h"
#include "socket_setup.h"

namespace sluice {
namespace {

Napi::Value OpenTransparentListener(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "openTransparentListener";
  const OptionReader options(env, fn, info[0]);
  const std::string address = options.RequiredString("address");
  const auto port = static_cast<uint16_t>(options.RequiredInt("port", 0, 65535));
  const auto backlog = static_cast<int>(options.OptionalInt("backlog", 1, INT32_MAX).value_or(511));
  const bool reuse_port = options.Bool("reusePort", false);
  const bool v6_only = options.Bool("v6Only", true);
  const SockAddr addr = ParseSockAddrOrThrow(env, fn, address, port);

  UniqueFd fd = OpenSocket(env, addr.family(), SOCK_STREAM);
  SetIntOption(env, fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
  if (addr.family() == AF_INET6) {
    SetIntOption(env, fd.get(), SOL_IPV6, IPV6_V6ONLY, v6_only ? 1 : 0, "IPV6_V6ONLY");
  }
  SetTransparent(env, fd.get(), addr.family(), addr.family() == AF_INET6 && !v6_only);
  if (reuse_port) SetIntOption(env, fd.get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
  Bind(env, fd.get(), addr);
  if (::listen(fd.get(), backlog) != 0) ThrowErrno(env, errno, "listen", EndpointString(addr));
  return Napi::Number::New(env, fd.release());
}

}  // namespace

void InitListener(Napi::Env env, Napi::Object exports) {
  exports.Set("openTransparentListener", Napi::Function::New(env, OpenTransparentListener, "openTransparentListener"));
}

}  // namespace sluice
