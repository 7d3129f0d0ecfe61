// localAddress, closeFd, resetFd, reopenDevNull and raiseFileLimit: small operations on fds and the fd budget.
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
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

// resetFd(fd): closes a TCP socket with a reset (SO_LINGER {1, 0}), as socket.resetAndDestroy() does.
void ResetFd(const Napi::CallbackInfo& info) {
  const int fd = FdArg(info, "resetFd");
  const linger reset{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  if (::close(fd) != 0 && errno != EINTR) ThrowErrno(info.Env(), errno, "close", "fd " + std::to_string(fd));
}

// reopenDevNull(fd): makes `fd` refer to /dev/null, in one step (dup2), so no
// other thread can be handed that fd number in between. Node has no dup2.
void ReopenDevNull(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = FdArg(info, "reopenDevNull");
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) ThrowErrno(env, errno, "open", "/dev/null");
  if (null_fd == fd) return;  // `fd` was free, and /dev/null took it
  int result;
  do {
    result = ::dup2(null_fd, fd);
  } while (result < 0 && errno == EINTR);
  const int err = errno;
  ::close(null_fd);
  if (result < 0) ThrowErrno(env, err, "dup2", "fd " + std::to_string(fd));
}

// A proxied TCP flow costs two fds (more with splice pipes), and distributions
// start processes with a soft limit of 1024: lift it to the hard limit, which
// needs no privilege. Node has no setrlimit of its own.
Napi::Value RaiseFileLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) ThrowErrno(env, errno, "getrlimit(RLIMIT_NOFILE)");
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) ThrowErrno(env, errno, "setrlimit(RLIMIT_NOFILE)");
    limit = raised;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("soft", Napi::Number::New(env, static_cast<double>(limit.rlim_cur)));
  out.Set("hard", Napi::Number::New(env, static_cast<double>(limit.rlim_max)));
  return out;
}

}  // namespace

void InitFdOps(Napi::Env env, Napi::Object exports) {
  exports.Set("localAddress", Napi::Function::New(env, LocalAddress, "localAddress"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("resetFd", Napi::Function::New(env, ResetFd, "resetFd"));
  exports.Set("reopenDevNull", Napi::Function::New(env, ReopenDevNull, "reopenDevNull"));
  exports.Set("raiseFileLimit", Napi::Function::New(env, RaiseFileLimit, "raiseFileLimit"));
}

}  // namespace sluice
