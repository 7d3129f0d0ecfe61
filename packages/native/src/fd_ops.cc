// localAddress and closeFd: small operations on fds handed out by this addon.
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "args.h"
#include "errors.h"
#include "modules.h"
#include "sockaddr.h"

namespace sluice {
namespace {

Napi::Value LocalAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = FdArg(info, "localAddress");
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) {
    ThrowErrno(env, errno, "getsockname", "fd " + std::to_string(fd));
  }
  const auto* addr = reinterpret_cast<const sockaddr*>(&local);
  if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) {
    ThrowInvalid(env, "localAddress", "fd " + std::to_string(fd) + " is not an IP socket");
  }
  return EndpointToJs(env, FormatSockAddr(addr));
}

void CloseFd(const Napi::CallbackInfo& info) {
  const int fd = FdArg(info, "closeFd");
  // EINTR still releases the fd on Linux; only EBADF and EIO are real failures.
  if (::close(fd) != 0 && errno != EINTR) ThrowErrno(info.Env(), errno, "close", "fd " + std::to_string(fd));
}

}  // namespace

void InitFdOps(Napi::Env env, Napi::Object exports) {
  exports.Set("localAddress", Napi::Function::New(env, LocalAddress, "localAddress"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
}

}  // namespace sluice
