// UdpTransparentSocket: the UDP TPROXY target. Receives on a uv_poll in the
// event loop of the thread that created it and hands datagrams to JavaScript
// one batch (one recvmmsg) per callback; replies go out through ReplyCache.
// Sessions JavaScript attaches (UdpSessions) are relayed without it.
//
// Readiness: a uv_poll of its own, not the FdPoller of the TCP fast path. The
// FdPoller saves epoll_ctl calls per flow; this socket is registered once for
// its whole life, and its uv_poll is guarded at worker teardown (UvHandle).
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <utility>

#include "datagram_batch.h"
#include "reply_cache.h"
#include "udp_sessions.h"
#include "sockaddr.h"
#include "unique_fd.h"
#include "uv_handle.h"

namespace sluice {

class UdpTransparentSocket : public Napi::ObjectWrap<UdpTransparentSocket> {
 public:
  static Napi::Function DefineClass(Napi::Env env);

  explicit UdpTransparentSocket(const Napi::CallbackInfo& info);
  ~UdpTransparentSocket() override;

 private:
  struct Counters {
    double received = 0;
    double batches = 0;
    double sent = 0;
    double send_dropped = 0;
    double receive_dropped = 0;
  };
  struct Settings;

  static Settings ReadSettings(const Napi::CallbackInfo& info);
  static UniqueFd OpenReceiver(Napi::Env env, const Settings& settings);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnEnvTeardown(void* self);
  static void OnSweep(uv_timer_t* handle);

  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value AttachSession(const Napi::CallbackInfo& info);
  Napi::Value DetachSession(const Napi::CallbackInfo& info);
  Napi::Value OldestSession(const Napi::CallbackInfo& info);
  Napi::Value ReadSessionBytes(const Napi::CallbackInfo& info);

  // Expires idle sessions and tells JavaScript (onSessionsClosed).
  void SweepSessions();
  // Starts the sweep timer with the first session.
  void EnsureSweeping();
  // Runs the sweep at the next turn of the loop (a session failed).
  void SweepSoon();

  // Receives up to max_batches_ batches; stops early when the socket is
  // empty, the callback threw, or the callback closed the socket.
  void Drain();
  // Builds the JS array for the last Receive() and calls onBatch. Returns
  // false when the callback threw (the exception is already reported).
  bool Deliver(Napi::Env env, int count);
  // Two address/port argument pairs from info[index..index+3], of one family
  // (EINVAL TypeErrors naming the bad argument otherwise).
  static std::pair<SockAddr, SockAddr> ReadEndpoints(const Napi::CallbackInfo& info, size_t index, const char* fn,
                                                     const char* address_a, const char* port_a,
                                                     const char* address_b, const char* port_b);
  // The fd that sends from `from`: the listener's own for its own address,
  // else a cached reply socket, with the reference that keeps it open.
  std::pair<int, std::shared_ptr<UniqueFd>> ReplySocket(Napi::Env env, const SockAddr& from);
  // Calls `fn(arg)` as a callback of this socket (js_callback.h). Returns
  // false when it threw (the exception is already reported as uncaught).
  bool CallJs(Napi::Env env, const Napi::FunctionReference& fn, Napi::Value arg);
  // Releases every native resource; idempotent, never calls into JS.
  void Release();

  napi_env env_;
  UniqueFd fd_;
  SockAddr local_;  // what fd_ is bound to, port resolved
  UvHandle<uv_poll_t> poll_;
  std::unique_ptr<DatagramBatch> batch_;
  std::unique_ptr<ReplyCache> replies_;
  std::unique_ptr<UdpSessions> sessions_;
  UvHandle<uv_timer_t> sweep_timer_;
  uint64_t sweep_interval_ms_ = 1000;
  Napi::FunctionReference on_sessions_closed_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  Napi::FunctionReference on_batch_;
  int max_batches_ = 1;
  bool open_ = false;
  Counters counters_;
};

}  // namespace sluice
