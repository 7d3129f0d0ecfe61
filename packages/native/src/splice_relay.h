// SpliceRelay: moves the bytes of one proxied TCP flow between two sockets in
// the kernel (socket -> pipe -> socket with splice()), so they never cross
// into user space. Driven by uv_poll on the event loop of the thread that
// created it; JavaScript hears from it once, when the flow is over. The pipes
// are borrowed from the environment's PipePool only while bytes are in
// flight: an idle flow holds its two sockets and nothing else.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fd_poller.h"
#include "pipe_pool.h"
#include "unique_fd.h"
#include "uv_handle.h"

namespace sluice {

class SpliceRelay : public Napi::ObjectWrap<SpliceRelay>, private FdPoller::Watcher {
 public:
  static Napi::Function DefineClass(Napi::Env env);

  // new SpliceRelay(fdA, fdB, { idleMs, pendingA, pendingB, pipeSize }, onDone).
  // Dups both fds (the relay owns the copies); JavaScript then destroys its
  // own sockets, which sends nothing to the peers.
  explicit SpliceRelay(const Napi::CallbackInfo& info);
  ~SpliceRelay() override;

 private:
  // One socket: A is the client side, B the upstream side.
  struct Side {
    explicit Side(const char* side_name) : name(side_name) {}
    const char* name;  // "client" or "upstream", the prefix of error strings
    UniqueFd fd;
    uint32_t events = 0;  // interest currently registered with the poller (EPOLLIN, EPOLLOUT)
    // Set when the poll reported the socket readable, cleared by the next read
    // attempt: tells a spurious wakeup from a socket splice cannot read.
    bool readable_hint = false;
    // The last read from this socket came up short, so it was empty then:
    // skip reading until the poll reports it readable again (see Fill).
    bool drained = false;
    // The poll has reported the peer's FIN (EPOLLRDHUP).
    bool rdhup = false;
    // Urgent data may be waiting (the last poll said EPOLLPRI, or was not
    // asked about it): splice() stops in front of it (see FillWithRecv).
    bool urgent = true;
  };

  // One direction: read from `from` into a pipe, written from the pipe to `to`.
  struct Direction {
    Side* from = nullptr;
    Side* to = nullptr;
    // Borrowed from the pool when `from` turns readable, given back once
    // empty (see Pump): held only while in_pipe > 0, or within one Pump.
    Pipe pipe;
    size_t in_pipe = 0;        // bytes spliced in and not yet out
    size_t last_capacity = 0;  // of the pipe last held, for stats()
    // Bytes that must reach `to` before anything in the pipe: those JavaScript
    // read before the hand-over, and those read with recv() (see Fill).
    std::vector<uint8_t> pending;
    size_t pending_sent = 0;
    bool eof = false;           // `from` reported end of stream
    bool stalled = false;       // a read made no progress although data may wait: retry after a write
    bool shut = false;          // `to` is shut down for writing: this direction is over
    bool bulk = false;          // has carried kBulkBytes: its pipes grow to pipeSize (see Grow)
    bool grow_refused = false;  // the kernel refused F_SETPIPE_SZ: no more attempts
    size_t grown_capacity = 0;  // what F_SETPIPE_SZ granted, asked of the pool next time
    double delivered = 0;       // bytes written to `to`

    size_t pending_left() const { return pending.size() - pending_sent; }
    size_t buffered() const { return pending_left() + in_pipe; }
  };

  enum class Step { kIdle, kProgress, kFailed };
  enum class State { kRunning, kDelivering, kDone };

  void OnFdEvents(int fd, uint32_t events) override;
  static void OnIdleTimer(uv_timer_t* timer);
  static void OnDeliver(uv_timer_t* timer);
  static void OnEnvCleanup(void* self);

  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);

  // Moves what it can in one direction; false once the relay has failed.
  bool Pump(Direction& d);
  Step Fill(Direction& d);
  Step FillWithRecv(Direction& d);
  static bool AtEof(const Side& side);
  bool TakePipe(Direction& d);
  void GiveBackPipe(Direction& d);
  void Grow(Direction& d);
  Step Drain(Direction& d);
  bool ShutIfDrained(Direction& d);
  void UpdateInterest(Side& side);
  void Touch();

  // Ends the relay: releases the sockets (reset when `error` is set) and
  // pipes now, and calls onDone from the event loop.
  void Finish(const std::string& error, bool unsupported = false);
  void Fail(const Side& side, int err, const char* syscall);
  // Stops polling and closes the sockets (with a reset: SO_LINGER {1, 0}); empty
  // pipes go back to the pool, others are closed.
  void CloseIo(bool reset);
  // Releases every native resource; idempotent, never calls into JavaScript.
  void Release(bool reset);

  napi_env env_;
  uv_loop_t* loop_ = nullptr;
  std::shared_ptr<PipePool> pool_;  // this environment's
  std::shared_ptr<FdPoller> poller_;  // this environment's
  bool adopted_ = false;  // the fds were handed over (no copies): closing them leaves the epoll set
  Side a_{"client"};
  Side b_{"upstream"};
  Direction up_;    // A -> B
  Direction down_;  // B -> A
  UvHandle<uv_timer_t> timer_;  // idle timeout, then the deferred onDone
  uint64_t idle_ms_ = 0;
  size_t bulk_pipe_size_ = 0;  // options.pipeSize; 0 keeps the default
  uint64_t last_activity_ = 0;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  Napi::FunctionReference on_done_;
  State state_ = State::kRunning;
  std::string error_;
  bool unsupported_ = false;
  bool cleanup_hook_ = false;
};

}  // namespace sluice
