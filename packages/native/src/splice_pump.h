// SplicePump: one direction of a relayed TCP flow, from one socket to the
// other through a kernel pipe (socket -> pipe -> socket with splice()), so
// the bytes never cross into user space. It keeps the direction's state
// (what sits in the pipe, what must go first, EOF, half-close) and does the
// system calls; SpliceRelay owns two of them, the sockets and the polling,
// and tells them when a socket turned readable or writable.
//
// The pipe is borrowed from the environment's PipePool only while bytes are
// in flight. Where splice() is refused for this flow (EINVAL, ENOSYS: a file
// type or sandbox without it), the direction goes on through user space
// (recv()/send()), losing nothing: only this flow pays, not the process.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "pipe_pool.h"
#include "unique_fd.h"

namespace sluice {

// One socket of a relayed flow and what the poll last said about it.
struct SpliceSide {
  explicit SpliceSide(const char* side_name) : name(side_name) {}
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

// Whether splice() moves bytes socket -> pipe -> socket here (a socketpair
// probe): the kernel or a sandbox (seccomp, gVisor) may lack it.
bool ProbeSplice();

class SplicePump {
 public:
  // What a pump reports to the relay that owns it.
  class Host {
   public:
    // Bytes moved (the idle timeout starts again).
    virtual void OnPumpActivity() = 0;
    // A system call on `side` failed with `err`: the flow is over.
    virtual void OnPumpFailure(const SpliceSide& side, int err, const char* syscall) = 0;
    // splice() was refused for this flow; the direction goes on through user space.
    virtual void OnSpliceRefused() = 0;

   protected:
    ~Host() = default;
  };

  SplicePump(SpliceSide* from, SpliceSide* to, Host* host) : from_(from), to_(to), host_(host) {}
  SplicePump(const SplicePump&) = delete;
  SplicePump& operator=(const SplicePump&) = delete;

  // The pool pipes come from, and the capacity a bulk direction's pipe grows to (0: no growth).
  void Configure(PipePool* pool, size_t bulk_pipe_size) {
    pool_ = pool;
    bulk_pipe_size_ = bulk_pipe_size;
  }
  // Bytes that must reach `to` before anything else (read by JavaScript before the hand-over).
  void SetPending(std::vector<uint8_t> bytes) {
    pending_ = std::move(bytes);
    pending_sent_ = 0;
  }

  // Moves what it can; false once the flow has failed (the host was told).
  // `peer_shut`: the other direction has passed its EOF on already.
  bool Run(bool peer_shut);
  // When the flow ends: an empty pipe goes back to the pool, one holding bytes is closed.
  void ReleasePipe();

  // Poll interest: read while there is room, write while there is data.
  bool WantsRead() const { return !eof_ && !stalled_ && (!pipe_.valid() || in_pipe_ < pipe_.capacity); }
  bool WantsWrite() const { return buffered() > 0; }
  bool shut() const { return shut_; }
  size_t buffered() const { return pending_left() + in_pipe_; }
  double delivered() const { return delivered_; }
  // Of the pipe held now, else of the one last held (0 before any).
  size_t pipe_capacity() const { return pipe_.valid() ? pipe_.capacity : last_capacity_; }
  bool holds_pipe() const { return pipe_.valid(); }

 private:
  enum class Step { kIdle, kProgress, kFailed };

  Step Fill();
  Step FillWithRecv();
  Step Drain();
  // splice() refused the pipe -> socket half: the pipe's bytes become pending ones.
  Step DrainPipeWithRead();
  bool ShutIfDrained(bool peer_shut);
  bool TakePipe();
  void GiveBackPipe();
  void Grow();
  // splice() was refused (EINVAL, ENOSYS): user space from now on.
  void RefuseSplice();
  Step Failed(const SpliceSide& side, int err, const char* syscall);
  size_t pending_left() const { return pending_.size() - pending_sent_; }

  SpliceSide* from_;
  SpliceSide* to_;
  Host* host_;
  PipePool* pool_ = nullptr;
  size_t bulk_pipe_size_ = 0;
  // Borrowed from the pool when `from` turns readable, given back once
  // empty (see Run): held only while in_pipe_ > 0, or within one Run.
  Pipe pipe_;
  size_t in_pipe_ = 0;        // bytes spliced in and not yet out
  size_t last_capacity_ = 0;  // of the pipe last held, for stats()
  // Bytes that must reach `to` before anything in the pipe: those JavaScript
  // read before the hand-over, and those read with recv() (see Fill).
  std::vector<uint8_t> pending_;
  size_t pending_sent_ = 0;
  bool eof_ = false;           // `from` reported end of stream
  bool stalled_ = false;       // a read made no progress although data may wait: retry after a write
  bool shut_ = false;          // `to` is shut down for writing: this direction is over
  bool bulk_ = false;          // has carried kBulkBytes: its pipes grow to bulk_pipe_size_ (see Grow)
  bool grow_refused_ = false;  // the kernel refused F_SETPIPE_SZ: no more attempts
  bool copy_only_ = false;     // splice() refused for this flow: recv()/send() only
  size_t grown_capacity_ = 0;  // what F_SETPIPE_SZ granted, asked of the pool next time
  double delivered_ = 0;       // bytes written to `to`
};

}  // namespace sluice
