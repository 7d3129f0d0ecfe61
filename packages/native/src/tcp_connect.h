// StartTcpConnect: opens an outgoing TCP socket with the options a connect
// plan names (SO_MARK, SO_BINDTODEVICE, a local address, IP_TRANSPARENT,
// TCP_NODELAY) and starts a non-blocking connect(). Shared by TcpDial (which
// hands the connected fd to JavaScript) and SpliceRelay's `options.connect`
// (which splices as soon as the connect completes, with no JavaScript step
// in between). Holds no policy: the plan comes from the outbound.
#pragma once

#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>

#include "sockaddr.h"
#include "unique_fd.h"

namespace sluice {

// { address, port, mark?, device?, localAddress?, transparent? } as read from JavaScript.
struct TcpConnectPlan {
  SockAddr remote;
  std::string endpoint;  // "1.2.3.4:80", the subject of error messages
  std::optional<uint32_t> mark;
  std::optional<std::string> device;
  std::optional<SockAddr> local;
  bool transparent = false;
};

// Reads and checks a plan; bad values throw a TypeError (code EINVAL) naming `fn` and the option.
TcpConnectPlan ReadTcpConnectPlan(Napi::Env env, const char* fn, const Napi::Value& options);

// Opens the socket, applies the plan and calls connect(). Setup failures
// (socket(), setsockopt(), bind()) throw a NativeError. A connect() that
// fails at once (ENETUNREACH, EADDRNOTAVAIL…) does not throw: its errno is
// stored in `*connect_err` (0 when the connect is in progress), and the
// socket is still returned, for the caller to report and close.
UniqueFd StartTcpConnect(Napi::Env env, const TcpConnectPlan& plan, int* connect_err);

// After the poll reported the connecting socket: 0 when connected, else the
// connect's errno (SO_ERROR), as TcpDial and SpliceRelay both judge it.
int TcpConnectResult(int fd, uint32_t epoll_events);

}  // namespace sluice
