// originalDestination: the destination a connection had before a nat
// REDIRECT/DNAT rule rewrote it (SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST).
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "args.h"
#include "errors.h"
#include "modules.h"
#include "sockaddr.h"

// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>,
// which clash with the libc headers.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

namespace sluice {
namespace {

Napi::Value OriginalDestination(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = FdArg(info, "originalDestination");
  const std::string subject = "fd " + std::to_string(fd);

  sockaddr_storage local{};
  socklen_t local_length = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) != 0) {
    ThrowErrno(env, errno, "getsockname", subject);
  }
  // An IPv4 connection accepted on a dual-stack IPv6 socket is tracked by
  // IPv4 conntrack, so it needs the IPv4 option.
  const auto* local6 = reinterpret_cast<const sockaddr_in6*>(&local);
  const bool ipv4 = local.ss_family == AF_INET ||
                    (local.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&local6->sin6_addr));

  sockaddr_storage original{};
  socklen_t length = ipv4 ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  const int level = ipv4 ? SOL_IP : SOL_IPV6;
  const int name = ipv4 ? SO_ORIGINAL_DST : IP6T_SO_ORIGINAL_DST;
  if (::getsockopt(fd, level, name, &original, &length) != 0) {
    ThrowErrno(env, errno, ipv4 ? "getsockopt(SO_ORIGINAL_DST)" : "getsockopt(IP6T_SO_ORIGINAL_DST)",
               subject);
  }
  return EndpointToJs(env, FormatSockAddr(reinterpret_cast<const sockaddr*>(&original)));
}

}  // namespace

void InitOriginalDst(Napi::Env env, Napi::Object exports) {
  exports.Set("originalDestination", Napi::Function::New(env, OriginalDestination, "originalDestination"));
}

}  // namespace sluice
