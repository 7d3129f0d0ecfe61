// createSocket: a socket with the options Node cannot set (SO_MARK,
// SO_BINDTODEVICE, IP_TRANSPARENT), handed back to Node as an fd; a UDP one
// may come connected to its peer.
#include <errno.h>
#include <net/if.h>
#include <sys/socket.h>

#include "args.h"
#include "errors.h"
#include "modules.h"
#include "socket_setup.h"

namespace sluice {
namespace {

Napi::Value CreateSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "createSocket";
  const OptionReader options(env, fn, info[0]);
  const std::string type = options.RequiredString("type");
  if (type != "tcp" && type != "udp") ThrowInvalid(env, fn, "options.type must be \"tcp\" or \"udp\"");
  const int64_t family_number = options.RequiredInt("family", 4, 6);
  if (family_number == 5) ThrowInvalid(env, fn, "options.family must be 4 or 6");
  const int family = family_number == 4 ? AF_INET : AF_INET6;
  const auto mark = options.OptionalInt("mark", 0, UINT32_MAX);
  const auto device = options.OptionalString("device");
  if (device && (device->empty() || device->size() >= IFNAMSIZ)) {
    ThrowInvalid(env, fn, "options.device \"" + *device + "\" is not a valid interface name (1 to " +
                              std::to_string(IFNAMSIZ - 1) + " characters)");
  }
  const auto local_address = options.OptionalString("localAddress");
  const auto local_port = options.OptionalInt("localPort", 0, 65535);
  const bool transparent = options.Bool("transparent", false);
  const bool reuse_addr = options.Bool("reuseAddr", false);
  const auto connect_address = options.OptionalString("connectAddress");
  const auto connect_port = options.OptionalInt("connectPort", 1, 65535);
  if (connect_address.has_value() != connect_port.has_value()) {
    ThrowInvalid(env, fn, "options.connectAddress and options.connectPort go together");
  }
  if (connect_address && type != "udp") {
    ThrowInvalid(env, fn, "options.connectAddress is for udp sockets (tcp connects are asynchronous: use TcpDial)");
  }
  SockAddr peer;
  if (connect_address) {
    peer = ParseSockAddrOrThrow(env, fn, *connect_address, static_cast<uint16_t>(*connect_port));
    if (peer.family() != family) {
      ThrowInvalid(env, fn, "options.connectAddress \"" + *connect_address + "\" is not an IPv" +
                                std::to_string(family_number) + " address");
    }
  }

  SockAddr local;
  const bool bind_local = local_address || local_port;
  if (bind_local) {
    const std::string any = family == AF_INET ? "0.0.0.0" : "::";
    const auto port = static_cast<uint16_t>(local_port.value_or(0));
    local = ParseSockAddrOrThrow(env, fn, local_address.value_or(any), port);
    if (local.family() != family) {
      ThrowInvalid(env, fn, "options.localAddress \"" + *local_address + "\" is not an IPv" +
                                std::to_string(family_number) + " address");
    }
  }

  UniqueFd fd = OpenSocket(env, family, type == "tcp" ? SOCK_STREAM : SOCK_DGRAM);
  if (mark) SetMark(env, fd.get(), static_cast<uint32_t>(*mark));
  if (device) BindToDevice(env, fd.get(), *device);
  // Before bind(): IP_TRANSPARENT is what lets bind() accept a foreign address.
  if (transparent) SetTransparent(env, fd.get(), family, false);
  if (reuse_addr) SetIntOption(env, fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
  if (bind_local) Bind(env, fd.get(), local);
  // A UDP connect() only sets the peer and picks a route: it never blocks.
  if (connect_address && ::connect(fd.get(), peer.get(), peer.length) != 0) {
    ThrowErrno(env, errno, "connect", EndpointString(peer));
  }
  return Napi::Number::New(env, fd.release());
}

}  // namespace

void InitOutboundSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("createSocket", Napi::Function::New(env, CreateSocket, "createSocket"));
}

}  // namespace sluice
