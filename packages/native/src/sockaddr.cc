#include "sockaddr.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <cstdlib>
#include <cstring>

#include "errors.h"

namespace sluice {
namespace {

// "eth0" or "2" -> interface index; 0 when unknown.
uint32_t ScopeId(const std::string& zone) {
  if (zone.empty()) return 0;
  char* end = nullptr;
  const unsigned long numeric = std::strtoul(zone.c_str(), &end, 10);
  if (*end == '\0') return static_cast<uint32_t>(numeric);
  return if_nametoindex(zone.c_str());
}

}  // namespace

bool ParseSockAddr(const std::string& ip, uint16_t port, SockAddr* out) {
  *out = SockAddr{};
  // inet_pton() would stop at an embedded NUL and accept the prefix.
  if (ip.find('\0') != std::string::npos) return false;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out->storage);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out->length = sizeof(sockaddr_in);
    return true;
  }
  *out = SockAddr{};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
  const auto percent = ip.find('%');
  const std::string host = ip.substr(0, percent);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) != 1) return false;
  if (percent != std::string::npos) {
    v6->sin6_scope_id = ScopeId(ip.substr(percent + 1));
    if (v6->sin6_scope_id == 0) return false;
  }
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
  out->length = sizeof(sockaddr_in6);
  return true;
}

SockAddr ParseSockAddrOrThrow(Napi::Env env, const std::string& where, const std::string& ip,
                              uint16_t port) {
  SockAddr addr;
  if (!ParseSockAddr(ip, port, &addr)) {
    ThrowInvalid(env, where,
                 "\"" + ip + "\" is not an IPv4 or IPv6 address literal (resolve host names first)");
  }
  return addr;
}

Endpoint FormatSockAddr(const sockaddr* addr) {
  Endpoint endpoint;
  char text[INET6_ADDRSTRLEN] = "";
  if (addr->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    endpoint.port = ntohs(v4->sin_port);
  } else if (addr->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(addr);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    }
    endpoint.port = ntohs(v6->sin6_port);
    endpoint.address = text;
    if (v6->sin6_scope_id != 0) {
      // Link-local: keep the zone, so the address can be used again as is.
      char name[IF_NAMESIZE] = "";
      endpoint.address += "%";
      endpoint.address += if_indextoname(v6->sin6_scope_id, name) != nullptr
                              ? std::string(name)
                              : std::to_string(v6->sin6_scope_id);
    }
    return endpoint;
  }
  endpoint.address = text;
  return endpoint;
}

bool SameEndpoint(const SockAddr& a, const SockAddr& b) {
  if (a.family() != b.family()) return false;
  if (a.family() == AF_INET) {
    const auto* x = reinterpret_cast<const sockaddr_in*>(&a.storage);
    const auto* y = reinterpret_cast<const sockaddr_in*>(&b.storage);
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const auto* x = reinterpret_cast<const sockaddr_in6*>(&a.storage);
  const auto* y = reinterpret_cast<const sockaddr_in6*>(&b.storage);
  return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
         std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

std::string EndpointString(const Endpoint& endpoint) {
  const bool v6 = endpoint.address.find(':') != std::string::npos;
  return (v6 ? "[" + endpoint.address + "]" : endpoint.address) + ":" +
         std::to_string(endpoint.port);
}

std::string EndpointString(const SockAddr& addr) { return EndpointString(FormatSockAddr(addr.get())); }

Napi::Object EndpointToJs(Napi::Env env, const Endpoint& endpoint) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("address", Napi::String::New(env, endpoint.address));
  object.Set("port", Napi::Number::New(env, endpoint.port));
  return object;
}

}  // namespace sluice
