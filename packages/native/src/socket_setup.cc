#include "socket_setup.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "errors.h"

namespace sluice {

UniqueFd OpenSocket(Napi::Env env, int family, int type) {
  UniqueFd fd(::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) ThrowErrno(env, errno, "socket");
  return fd;
}

void SetIntOption(Napi::Env env, int fd, int level, int name, int value, const char* name_text) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) {
    ThrowErrno(env, errno, std::string("setsockopt(") + name_text + ")");
  }
}

void SetTransparent(Napi::Env env, int fd, int family, bool dual_stack) {
  if (family == AF_INET6) {
    SetIntOption(env, fd, SOL_IPV6, IPV6_TRANSPARENT, 1, "IPV6_TRANSPARENT");
    if (!dual_stack) return;
  }
  SetIntOption(env, fd, SOL_IP, IP_TRANSPARENT, 1, "IP_TRANSPARENT");
}

void SetMark(Napi::Env env, int fd, uint32_t mark) {
  // SO_MARK takes the mark as an int-sized value; marks above INT_MAX are fine bit-wise.
  if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) {
    ThrowErrno(env, errno, "setsockopt(SO_MARK)");
  }
}

void BindToDevice(Napi::Env env, int fd, const std::string& device) {
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device.c_str(),
                   static_cast<socklen_t>(device.size())) != 0) {
    ThrowErrno(env, errno, "setsockopt(SO_BINDTODEVICE)", device);
  }
}

void Bind(Napi::Env env, int fd, const SockAddr& addr) {
  if (::bind(fd, addr.get(), addr.length) != 0) ThrowErrno(env, errno, "bind", EndpointString(addr));
}

}  // namespace sluice
