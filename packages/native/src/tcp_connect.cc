#include "tcp_connect.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "args.h"
#include "errors.h"
#include "socket_setup.h"

namespace sluice {

TcpConnectPlan ReadTcpConnectPlan(Napi::Env env, const char* fn, const Napi::Value& value) {
  const OptionReader options(env, fn, value);
  TcpConnectPlan plan;
  const std::string address = options.RequiredString("address");
  const auto port = static_cast<uint16_t>(options.RequiredInt("port", 1, 65535));
  plan.remote = ParseSockAddrOrThrow(env, fn, address, port);
  plan.endpoint = EndpointString(plan.remote);
  if (const auto mark = options.OptionalInt("mark", 0, UINT32_MAX)) plan.mark = static_cast<uint32_t>(*mark);
  plan.device = options.OptionalString("device");
  if (plan.device && (plan.device->empty() || plan.device->size() >= IFNAMSIZ)) {
    ThrowInvalid(env, fn, "options.device \"" + *plan.device + "\" is not a valid interface name");
  }
  if (const auto local_address = options.OptionalString("localAddress")) {
    const SockAddr local = ParseSockAddrOrThrow(env, fn, *local_address, 0);
    if (local.family() != plan.remote.family()) {
      ThrowInvalid(env, fn, "options.localAddress \"" + *local_address + "\" is not of the family of " + address);
    }
    plan.local = local;
  }
  plan.transparent = options.Bool("transparent", false);
  return plan;
}

UniqueFd StartTcpConnect(Napi::Env env, const TcpConnectPlan& plan, int* connect_err) {
  UniqueFd fd = OpenSocket(env, plan.remote.family(), SOCK_STREAM);
  if (plan.mark) SetMark(env, fd.get(), *plan.mark);
  if (plan.device) BindToDevice(env, fd.get(), *plan.device);
  if (plan.transparent) SetTransparent(env, fd.get(), plan.remote.family(), false);
  if (plan.local) Bind(env, fd.get(), *plan.local);
  // As net.connect({ noDelay: true }) does: a relay must not hold back small segments.
  SetIntOption(env, fd.get(), IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
  *connect_err = 0;
  if (::connect(fd.get(), plan.remote.get(), plan.remote.length) != 0 && errno != EINPROGRESS) *connect_err = errno;
  return fd;
}

int TcpConnectResult(int fd, uint32_t epoll_events) {
  int err = 0;
  // Writable without an error is connected: no need to ask for SO_ERROR.
  if ((epoll_events & (EPOLLERR | EPOLLHUP)) != 0) {
    socklen_t length = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &length) != 0) err = errno;
    if (err == 0 && (epoll_events & EPOLLERR) != 0) err = EBADF;  // as libuv's uv_poll reported it
  }
  return err;
}

}  // namespace sluice
