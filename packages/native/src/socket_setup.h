// Creating sockets and applying options, each failure thrown as a NativeError
// whose `syscall` names the option (e.g. "setsockopt(IP_TRANSPARENT)").
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "sockaddr.h"
#include "unique_fd.h"

namespace sluice {

// socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0).
UniqueFd OpenSocket(Napi::Env env, int family, int type);

// setsockopt(fd, level, name, &value); `name_text` goes into `syscall`.
void SetIntOption(Napi::Env env, int fd, int level, int name, int value, const char* name_text);

// IP_TRANSPARENT for IPv4; IPV6_TRANSPARENT for IPv6, plus IP_TRANSPARENT
// when the IPv6 socket is dual-stack (it then also carries IPv4 traffic).
void SetTransparent(Napi::Env env, int fd, int family, bool dual_stack);

// SO_MARK (CAP_NET_ADMIN).
void SetMark(Napi::Env env, int fd, uint32_t mark);

// SO_BINDTODEVICE.
void BindToDevice(Napi::Env env, int fd, const std::string& device);

// bind(); EADDRINUSE and friends name the address in the message.
void Bind(Napi::Env env, int fd, const SockAddr& addr);

}  // namespace sluice
