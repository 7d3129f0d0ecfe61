#include "splice_pump.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

namespace sluice {
namespace {

// SPLICE_F_NONBLOCK makes the pipe end non-blocking; the socket ends are
// non-blocking through O_NONBLOCK, which splice() also honours.
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
// Fill/drain rounds per direction and wakeup: enough to move several pipes'
// worth, few enough that one busy flow does not starve the others on the loop.
constexpr int kMaxRounds = 16;
// Bytes read per recv() when splice() cannot read (see FillWithRecv).
constexpr size_t kRecvChunk = 64 * 1024;
// A direction that has carried this much is a bulk transfer: its pipe grows
// to options.pipeSize (see Grow).
constexpr double kBulkBytes = 1024 * 1024;
// A read shorter than asked and than this emptied the socket (a longer one
// may have stopped at the pipe's slot limit): see SpliceSide::drained.
constexpr ssize_t kShortRead = 16 * 1024;

// splice() cannot be used for these fds at all (rather than: the flow failed).
bool IsSpliceRefusal(int err) { return err == EINVAL || err == ENOSYS; }

}  // namespace

bool ProbeSplice() {
  int pair[2];
  int pipe_fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) != 0) return false;
  const UniqueFd left(pair[0]);
  const UniqueFd right(pair[1]);
  if (::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  const UniqueFd pipe_read(pipe_fds[0]);
  const UniqueFd pipe_write(pipe_fds[1]);
  const char byte = 'x';
  if (::send(left.get(), &byte, 1, MSG_NOSIGNAL) != 1) return false;
  if (::splice(right.get(), nullptr, pipe_write.get(), nullptr, 1, kSpliceFlags) != 1) return false;
  return ::splice(pipe_read.get(), nullptr, left.get(), nullptr, 1, kSpliceFlags) == 1;
}

bool SplicePump::Run(bool peer_shut) {
  for (int round = 0; round < kMaxRounds; ++round) {
    const Step filled = Fill();
    if (filled == Step::kFailed) return false;
    const Step drained = Drain();
    if (drained == Step::kFailed || !ShutIfDrained(peer_shut)) return false;
    if (filled != Step::kProgress && drained != Step::kProgress) break;
  }
  // Empty again: back to the pool, so that an idle flow holds no pipe. A
  // busy flow takes the same pipe back at its next wakeup (the pool lends the
  // newest first), which costs no system call.
  if (in_pipe_ == 0) GiveBackPipe();
  return true;
}

SplicePump::Step SplicePump::Failed(const SpliceSide& side, int err, const char* syscall) {
  host_->OnPumpFailure(side, err, syscall);
  return Step::kFailed;
}

// Borrows a pipe (a grown one for a bulk direction if the pool has one);
// false when none can be had (EMFILE, ENFILE, ENOMEM from pipe2()).
bool SplicePump::TakePipe() {
  const size_t wanted = bulk_ && !grow_refused_ ? grown_capacity_ : 0;
  if (pool_->Acquire(wanted, &pipe_) != 0) return false;
  if (bulk_) Grow();
  return true;
}

void SplicePump::GiveBackPipe() {
  if (!pipe_.valid()) return;
  last_capacity_ = pipe_.capacity;
  pool_->Release(std::move(pipe_));
  pipe_ = Pipe();
}

void SplicePump::ReleasePipe() {
  if (!pipe_.valid()) return;
  // Bytes a failed flow leaves in a pipe die with it; the count is exact,
  // but this path is rare enough to ask the kernel too.
  int bytes = 0;
  if (in_pipe_ == 0 && ::ioctl(pipe_.read_end.get(), FIONREAD, &bytes) == 0 && bytes == 0) {
    GiveBackPipe();
    return;
  }
  last_capacity_ = pipe_.capacity;
  pool_->Discard(std::move(pipe_));
  pipe_ = Pipe();
}

void SplicePump::RefuseSplice() {
  if (copy_only_) return;
  copy_only_ = true;
  host_->OnSpliceRefused();
}

SplicePump::Step SplicePump::Fill() {
  const bool hinted = std::exchange(from_->readable_hint, false);
  if (eof_ || stalled_) return Step::kIdle;
  if (copy_only_) {
    // One chunk at a time through user space, behind whatever is buffered.
    if (buffered() > 0) {
      stalled_ = true;
      return Step::kIdle;
    }
    return FillWithRecv();
  }
  if (from_->drained) {
    // The socket was empty at the last read: another attempt now would say
    // EAGAIN, and the (level-triggered) poll says when more arrives. If the
    // peer's FIN was reported before that read, nothing but the EOF is left.
    if (!from_->rdhup) return Step::kIdle;
    // Whether a read that found nothing is the end of the stream without
    // asking recv(): splice() also stops in front of urgent data, but that
    // only hides an EOF if the urgent byte came before the FIN, and then the
    // poll that reported the FIN (EPOLLRDHUP) also reported the byte
    // (EPOLLPRI: TCP delivers in order). Urgent data cannot follow a FIN.
    if (!from_->urgent) {
      eof_ = true;
      return Step::kProgress;
    }
    // Urgent data may be in the way: check with recv() once what is buffered has gone.
    if (buffered() > 0) return Step::kIdle;
    return FillWithRecv();
  }
  if (!pipe_.valid()) {
    // A pipe only for a socket that said it is readable: a spurious attempt
    // would take one from the pool just to give it back.
    if (!hinted) return Step::kIdle;
    if (!TakePipe()) {
      // Out of fds (or memory) for a pipe: this read goes through user space,
      // as one behind urgent data does; the flow keeps running.
      if (buffered() > 0) {
        stalled_ = true;  // FillWithRecv must not overtake what is buffered: retry after a write
        return Step::kIdle;
      }
      return FillWithRecv();
    }
  }
  if (in_pipe_ >= pipe_.capacity) return Step::kIdle;
  const size_t room = pipe_.capacity - in_pipe_;
  ssize_t n;
  do {
    n = ::splice(from_->fd.get(), nullptr, pipe_.write_end.get(), nullptr, room, kSpliceFlags);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    if (n < kShortRead && static_cast<size_t>(n) < room) from_->drained = true;
    in_pipe_ += static_cast<size_t>(n);
    host_->OnPumpActivity();
    if (!bulk_ && delivered_ + static_cast<double>(in_pipe_) >= kBulkBytes) {
      bulk_ = true;
      Grow();
    }
    return Step::kProgress;
  }
  if (n < 0 && IsSpliceRefusal(errno)) {
    // Nothing was read: the same read goes through user space, now and from now on.
    RefuseSplice();
    if (in_pipe_ == 0) GiveBackPipe();
    return Fill();
  }
  if (n < 0 && errno != EAGAIN) return Failed(*from_, errno, "splice");
  if (n == 0 && from_->rdhup && !from_->urgent) {
    eof_ = true;
    return Step::kProgress;
  }
  if (buffered() > 0) {
    // EAGAIN: the socket is empty, or every pipe slot is taken (a slot may
    // hold less than a page, so in_pipe < capacity proves nothing), and
    // polling for readability could spin. 0: see FillWithRecv, which must wait
    // for what is buffered to go first. Either way: retry after a write.
    stalled_ = true;
    return Step::kIdle;
  }
  return n == 0 || hinted ? FillWithRecv() : Step::kIdle;
}

// A bigger pipe moves more per system call, but pipes count against a
// per-user quota (fs.pipe-user-pages-soft; past it, new pipes get 2 pages) for
// any user without CAP_SYS_RESOURCE or CAP_SYS_ADMIN. So a pipe starts at the
// default size and only a bulk direction's grows: the pipe it holds when it
// becomes bulk, and then the pipes it borrows (a grown one of the same size
// from the pool when there is one, which costs nothing). When the kernel
// refuses (EPERM past the quota or fs.pipe-max-size), the direction stays
// with default pipes.
void SplicePump::Grow() {
  if (bulk_pipe_size_ == 0 || grow_refused_ || !pipe_.valid()) return;
  const bool done = grown_capacity_ != 0 ? pipe_.capacity == grown_capacity_ : pipe_.capacity == bulk_pipe_size_;
  if (done) return;
  const int capacity = ::fcntl(pipe_.write_end.get(), F_SETPIPE_SZ, static_cast<int>(bulk_pipe_size_));
  if (capacity <= 0) {
    grow_refused_ = true;
    return;
  }
  pipe_.capacity = static_cast<size_t>(capacity);
  pipe_.grown = true;
  grown_capacity_ = pipe_.capacity;
}

// splice() reads TCP through tcp_read_sock(), which stops in front of urgent
// (MSG_OOB) data and never passes it, while recv() skips the urgent byte. At
// that mark splice() says EAGAIN although the socket polls readable, or 0 (as
// at EOF) once the peer's FIN is in too. So both are checked with recv(), with
// nothing else buffered so that order is kept: it returns 0 at a true EOF, and
// otherwise bytes that are sent on like pending ones. Without this one urgent
// byte would make the relay spin or cut the stream short.
SplicePump::Step SplicePump::FillWithRecv() {
  // Usually this is the EOF check of every flow: read into the stack, so the
  // usual 0 costs no allocation (nor zeroing 64 KiB) and keeps no buffer.
  uint8_t chunk[kRecvChunk];
  ssize_t n;
  do {
    n = ::recv(from_->fd.get(), chunk, sizeof chunk, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    // Only called with nothing buffered (see Fill), so these bytes are next.
    pending_.assign(chunk, chunk + n);
    pending_sent_ = 0;
    host_->OnPumpActivity();
    return Step::kProgress;
  }
  if (n == 0) {
    eof_ = true;
    return Step::kProgress;
  }
  if (errno == EAGAIN) return Step::kIdle;  // a spurious wakeup
  return Failed(*from_, errno, "recv");
}

SplicePump::Step SplicePump::Drain() {
  Step step = Step::kIdle;
  ssize_t n;
  while (pending_left() > 0) {
    do {
      n = ::send(to_->fd.get(), pending_.data() + pending_sent_, pending_left(), MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN) return step;
      return Failed(*to_, errno, "send");
    }
    pending_sent_ += static_cast<size_t>(n);
    delivered_ += static_cast<double>(n);
    stalled_ = false;
    step = Step::kProgress;
    host_->OnPumpActivity();
  }
  if (!pending_.empty()) {
    std::vector<uint8_t>().swap(pending_);  // the steady state holds no user-space buffer
    pending_sent_ = 0;
  }
  if (in_pipe_ == 0) return step;
  do {
    n = ::splice(pipe_.read_end.get(), nullptr, to_->fd.get(), nullptr, in_pipe_, kSpliceFlags);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN) return step;
    if (IsSpliceRefusal(errno)) return DrainPipeWithRead();
    return Failed(*to_, errno, "splice");
  }
  if (n == 0) return step;
  in_pipe_ -= static_cast<size_t>(n);
  delivered_ += static_cast<double>(n);
  stalled_ = false;
  host_->OnPumpActivity();
  return Step::kProgress;
}

SplicePump::Step SplicePump::DrainPipeWithRead() {
  RefuseSplice();
  // Nothing is pending (Drain sent it all before the pipe): the pipe's bytes are next.
  std::vector<uint8_t> bytes(in_pipe_);
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(pipe_.read_end.get(), bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Failed(*to_, n < 0 ? errno : EIO, "read(pipe)");
    got += static_cast<size_t>(n);
  }
  in_pipe_ = 0;
  GiveBackPipe();
  SetPending(std::move(bytes));
  return Step::kProgress;  // the next round sends them
}

bool SplicePump::ShutIfDrained(bool peer_shut) {
  if (!eof_ || shut_ || buffered() > 0) return true;
  // Half-close: pass the EOF on once everything before it is delivered; the
  // other direction keeps running.
  shut_ = true;
  // The last direction to end: the relay closes both sockets right after,
  // and close() sends the same FIN, behind what is still queued. Not a
  // reset: each socket has read its peer's EOF, so nothing unread remains.
  if (peer_shut) return true;
  if (::shutdown(to_->fd.get(), SHUT_WR) != 0) {
    host_->OnPumpFailure(*to_, errno, "shutdown");
    return false;
  }
  return true;
}

}  // namespace sluice
