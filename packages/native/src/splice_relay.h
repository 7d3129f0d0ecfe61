// SpliceRelay: the JavaScript object of one TCP flow relayed in the kernel.
// It owns the two sockets, polls them (the environment's FdPoller), runs the
// idle timeout, and hands readiness to its two SplicePumps (A -> B and
// B -> A, splice_pump.h), which move the bytes. JavaScript hears from it
// once, when the flow is over.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "fd_poller.h"
#include "pipe_pool.h"
#include "splice_pump.h"
#include "uv_handle.h"

namespace sluice {

class SpliceRelay : public Napi::ObjectWrap<SpliceRelay>, private FdPoller::Watcher, private SplicePump::Host {
 public:
  static Napi::Function DefineClass(Napi::Env env);

  // new SpliceRelay(fdA, fdB, { idleMs, pendingA, pendingB, pipeSize, adopt, connect }, onDone).
  // Dups both fds (the relay owns the copies; JavaScript then destroys its
  // own sockets, which sends nothing to the peers), or with `adopt` takes them.
  // With `connect` (a TcpConnectPlan plus timeoutMs; fdB null, adopt set) the
  // relay opens B itself and starts relaying once that connect completes: one
  // call from JavaScript per flow instead of dial, wait, relay.
  explicit SpliceRelay(const Napi::CallbackInfo& info);
  ~SpliceRelay() override;

 private:
  // kConnecting: B's connect is in progress (options.connect); nothing is relayed yet.
  enum class State { kConnecting, kRunning, kDelivering, kDone };

  void OnFdEvents(int fd, uint32_t events) override;
  void OnPumpActivity() override;
  void OnPumpFailure(const SpliceSide& side, int err, const char* syscall) override;
  void OnSpliceRefused() override { splice_refused_ = true; }
  static void OnIdleTimer(uv_timer_t* timer);
  static void OnConnectTimer(uv_timer_t* timer);
  // B's connect finished (err 0) or failed: relay, or end the flow with the connect error.
  void OnConnected(int err);
  // Starts relaying: interest in both sockets, the idle timer.
  void StartRunning();
  static void OnDeliver(uv_timer_t* timer);
  static void OnEnvCleanup(void* self);

  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value ReadBytes(const Napi::CallbackInfo& info);

  void UpdateInterest(SpliceSide& side);
  // Ends the relay: releases the sockets (reset when `error` is set) and
  // pipes now, and calls onDone from the event loop.
  void Finish(const std::string& error);
  // Stops polling and closes the sockets (with a reset: SO_LINGER {1, 0}); empty
  // pipes go back to the pool, others are closed.
  void CloseIo(bool reset);
  // Releases every native resource; idempotent, never calls into JavaScript.
  void Release(bool reset);

  napi_env env_;
  uv_loop_t* loop_ = nullptr;
  std::shared_ptr<PipePool> pool_;    // this environment's
  std::shared_ptr<FdPoller> poller_;  // this environment's
  bool adopted_ = false;  // the fds were handed over (no copies): closing them leaves the epoll set
  SpliceSide a_{"client"};
  SpliceSide b_{"upstream"};
  SplicePump up_{&a_, &b_, this};    // A -> B
  SplicePump down_{&b_, &a_, this};  // B -> A
  UvHandle<uv_timer_t> timer_;  // idle timeout, then the deferred onDone
  uint64_t idle_ms_ = 0;
  uint64_t last_activity_ = 0;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  Napi::FunctionReference on_done_;
  State state_ = State::kRunning;
  std::string error_;
  bool splice_refused_ = false;
  bool cleanup_hook_ = false;
  // options.connect: the relay made B. Reported in onDone as connected /
  // connectError / connectTimedOut, so JavaScript can tell a failed dial from a failed flow.
  bool connect_mode_ = false;
  bool connected_ = false;
  int connect_errno_ = 0;
  bool connect_timed_out_ = false;
  uint64_t connect_timeout_ms_ = 0;
  std::string connect_endpoint_;
};

}  // namespace sluice
