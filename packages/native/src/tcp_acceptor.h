// TcpAcceptor: accepts on a (transparent) listening socket in C++, with an
// accept4() loop driven by uv_poll, and reports each batch of accepted
// connections to JavaScript in one call, as fds with their source (the peer)
// and original destination (getsockname(): TPROXY keeps it as the local
// address). No libuv stream or net.Socket is made for a connection unless
// JavaScript adopts the fd (new net.Socket({ fd })).
//
// Readiness: a uv_poll of its own, not the FdPoller of dials and relays. The
// FdPoller saves epoll_ctl calls per flow; a listener is registered once for
// its whole life, and its uv_poll is guarded at worker teardown (UvHandle).
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>

#include "unique_fd.h"
#include "uv_handle.h"

namespace sluice {

class TcpAcceptor : public Napi::ObjectWrap<TcpAcceptor> {
 public:
  static Napi::Function DefineClass(Napi::Env env);

  // new TcpAcceptor(listenFd, onBatch). Takes ownership of listenFd (closed
  // by close()). onBatch({ fds, endpoints }) gets one wakeup's connections:
  // fds is an Int32Array (one fd per connection), endpoints a flat array,
  // four entries per connection: srcAddress, srcPort, dstAddress, dstPort.
  // JavaScript takes fd i by setting fds[i] to -1; when onBatch throws (or
  // cannot run: worker teardown), every fd not taken is closed with a reset.
  explicit TcpAcceptor(const Napi::CallbackInfo& info);
  ~TcpAcceptor() override;

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnResume(uv_timer_t* timer);
  static void OnEnvTeardown(void* self);
  Napi::Value Close(const Napi::CallbackInfo& info);
  // Accepts up to kMaxBatch connections and hands them to JavaScript; closes,
  // with a reset, those it did not take when the call fails.
  void AcceptBatch();
  // Stops accepting for a while (out of fds or memory): the backlog keeps the rest.
  void Pause();
  void Release();

  napi_env env_;
  UniqueFd fd_;
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_timer_t> backoff_;  // out of fds: wait, then accept again
  std::unique_ptr<Napi::AsyncContext> async_context_;
  Napi::FunctionReference on_batch_;
  bool closed_ = false;
};

// Closes a TCP socket with a reset (SO_LINGER {1, 0}).
void ResetAndClose(int fd);

}  // namespace sluice
