// IP literals <-> struct sockaddr, and IPv4-mapped IPv6 un-mapping.
#pragma once

#include <napi.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace sluice {

// A socket address of either family, ready for bind()/sendto().
struct SockAddr {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
  // The raw bytes, usable as a map key.
  std::string Key() const { return std::string(reinterpret_cast<const char*>(&storage), length); }
};

// An address as JavaScript sees it: an IP literal and a port.
struct Endpoint {
  std::string address;
  uint16_t port = 0;
};

// Parses an IPv4 or IPv6 literal (an IPv6 literal may carry a %zone, an
// interface name or index). Returns false when `ip` is not an IP literal.
bool ParseSockAddr(const std::string& ip, uint16_t port, SockAddr* out);

// ParseSockAddr, throwing a TypeError with code EINVAL that names the bad string.
SockAddr ParseSockAddrOrThrow(Napi::Env env, const std::string& where, const std::string& ip,
                              uint16_t port);

// Formats a kernel-supplied address; IPv4-mapped IPv6 (::ffff:a.b.c.d) comes
// out as a.b.c.d, a scoped (link-local) one as fe80::1%eth0. Unknown families
// give an empty address.
Endpoint FormatSockAddr(const sockaddr* addr);

// Same family, address and port (IPv6 scope included).
bool SameEndpoint(const SockAddr& a, const SockAddr& b);

// "1.2.3.4:80" or "[2001:db8::1]:80", for messages.
std::string EndpointString(const Endpoint& endpoint);
std::string EndpointString(const SockAddr& addr);

// { address, port } as a JS object.
Napi::Object EndpointToJs(Napi::Env env, const Endpoint& endpoint);

}  // namespace sluice
