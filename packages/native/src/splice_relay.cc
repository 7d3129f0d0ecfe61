#include "splice_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <initializer_list>
#include <utility>

#include "args.h"
#include "errors.h"
#include "modules.h"

namespace sluice {
namespace {

constexpr const char* kClassName = "SpliceRelay";
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
// may have stopped at the pipe's slot limit): see Side::drained.
constexpr ssize_t kShortRead = 16 * 1024;

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "E" + std::to_string(err);
}

// A CLOEXEC, non-blocking copy of a connected TCP socket, or a throw.
UniqueFd DupTcpSocket(Napi::Env env, int fd) {
  const std::string subject = "fd " + std::to_string(fd);
  UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!copy.valid()) ThrowErrno(env, errno, "fcntl(F_DUPFD_CLOEXEC)", subject);
  int type = 0;
  int protocol = 0;
  socklen_t length = sizeof type;
  if (::getsockopt(copy.get(), SOL_SOCKET, SO_TYPE, &type, &length) != 0) {
    ThrowErrno(env, errno, "getsockopt(SO_TYPE)", subject);
  }
  length = sizeof protocol;
  if (::getsockopt(copy.get(), SOL_SOCKET, SO_PROTOCOL, &protocol, &length) != 0) {
    ThrowErrno(env, errno, "getsockopt(SO_PROTOCOL)", subject);
  }
  if (type != SOCK_STREAM || protocol != IPPROTO_TCP) {
    ThrowInvalid(env, kClassName, subject + " is not a TCP socket");
  }
  sockaddr_storage peer{};
  length = sizeof peer;
  if (::getpeername(copy.get(), reinterpret_cast<sockaddr*>(&peer), &length) != 0) {
    ThrowErrno(env, errno, "getpeername", subject);  // ENOTCONN: not (or no longer) connected
  }
  // Shared with the original fd's open file description; Node's are non-blocking already.
  const int flags = ::fcntl(copy.get(), F_GETFL);
  if (flags < 0 || ::fcntl(copy.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    ThrowErrno(env, errno, "fcntl(O_NONBLOCK)", subject);
  }
  return copy;
}

std::vector<uint8_t> BufferOption(Napi::Env env, const Napi::Object& options, const char* key) {
  const Napi::Value value = options.Get(key);
  if (value.IsUndefined()) return {};
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowInvalid(env, kClassName, std::string("options.") + key + " must be a Buffer or Uint8Array");
  }
  const auto bytes = value.As<Napi::Uint8Array>();
  return std::vector<uint8_t>(bytes.Data(), bytes.Data() + bytes.ElementLength());
}

// splice() through a pipe between two sockets of a socketpair: the kernel or a
// sandbox (seccomp, gVisor) may lack it.
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

Napi::Value SpliceSupported(const Napi::CallbackInfo& info) {
  static const bool supported = ProbeSplice();  // once per process; thread-safe initialisation
  return Napi::Boolean::New(info.Env(), supported);
}

// splicePoolStats(): the counters of this environment's pipe pool (zeros
// before its first relay).
Napi::Value SplicePoolStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const PipePool* pool = PipePool::Find(env);
  const PipePool::Stats stats = pool != nullptr ? pool->GetStats() : PipePool::Stats{};
  Napi::Object result = Napi::Object::New(env);
  result.Set("free", static_cast<double>(stats.free));
  result.Set("freeGrown", static_cast<double>(stats.free_grown));
  result.Set("inUse", static_cast<double>(stats.in_use));
  result.Set("opened", stats.opened);
  result.Set("reused", stats.reused);
  result.Set("closed", stats.closed);
  result.Set("failed", stats.failed);
  result.Set("maxFree", static_cast<double>(PipePool::kMaxFree));
  return result;
}

// splicePoolTrim(): closes this environment's free pipes now; returns how many.
Napi::Value SplicePoolTrim(const Napi::CallbackInfo& info) {
  PipePool* pool = PipePool::Find(info.Env());
  return Napi::Number::New(info.Env(), static_cast<double>(pool != nullptr ? pool->Trim() : 0));
}

// Bytes in a pipe, by the kernel's count; -1 if it cannot say.
int BytesInPipe(const Pipe& pipe) {
  int bytes = 0;
  return ::ioctl(pipe.read_end.get(), FIONREAD, &bytes) == 0 ? bytes : -1;
}

}  // namespace

SpliceRelay::SpliceRelay(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<SpliceRelay>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  const int fd_a = static_cast<int>(IntArg(info, 0, kClassName, "fdA", 0, INT32_MAX));
  const int fd_b = static_cast<int>(IntArg(info, 1, kClassName, "fdB", 0, INT32_MAX));
  if (fd_a == fd_b) ThrowInvalid(env, kClassName, "fdA and fdB are the same fd");
  const OptionReader options(env, kClassName, info[2]);
  idle_ms_ = static_cast<uint64_t>(options.OptionalInt("idleMs", 0, INT32_MAX).value_or(0));
  bulk_pipe_size_ = static_cast<size_t>(options.OptionalInt("pipeSize", 0, INT32_MAX).value_or(0));
  up_.pending = BufferOption(env, info[2].As<Napi::Object>(), "pendingA");
  down_.pending = BufferOption(env, info[2].As<Napi::Object>(), "pendingB");
  if (!info[3].IsFunction()) ThrowInvalid(env, kClassName, "onDone must be a function");

  if (napi_get_uv_event_loop(env, &loop_) != napi_ok || loop_ == nullptr) {
    throw Napi::Error::New(env, "SpliceRelay: no libuv event loop for this environment");
  }
  // Before this relay's cleanup hook is added: the pool's then runs after it.
  pool_ = PipePool::ForEnv(env, loop_);
  // `adopt`: the caller hands over fds nothing else polls (native accept and dial), so no copy is needed.
  const bool adopt = info[2].As<Napi::Object>().Get("adopt").ToBoolean().Value();
  if (adopt) {
    for (const int fd : {fd_a, fd_b}) {
      const int flags = ::fcntl(fd, F_GETFL);
      if (flags < 0) ThrowErrno(env, errno, "fcntl(F_GETFL)", "fd " + std::to_string(fd));
      if ((flags & O_NONBLOCK) == 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        ThrowErrno(env, errno, "fcntl(O_NONBLOCK)", "fd " + std::to_string(fd));
      }
    }
    a_.fd.reset(fd_a);
    b_.fd.reset(fd_b);
  } else {
    a_.fd = DupTcpSocket(env, fd_a);
    b_.fd = DupTcpSocket(env, fd_b);
  }
  up_.from = &a_;
  up_.to = &b_;
  down_.from = &b_;
  down_.to = &a_;
  try {
    poller_ = FdPoller::ForEnv(env, loop_);
  } catch (...) {
    // A throwing constructor owns nothing: adopted fds go back to the caller.
    if (adopt) {
      a_.fd.release();
      b_.fd.release();
    }
    throw;
  }
  adopted_ = adopt;
  auto timer = std::make_unique<uv_timer_t>();
  uv_timer_init(loop_, timer.get());  // cannot fail
  timer->data = this;
  timer_.reset(timer.release());
  async_context_ = std::make_unique<Napi::AsyncContext>(env, kClassName, info.This().As<Napi::Object>());

  // Nothing below throws: from here on the relay owns the fds and runs.
  on_done_ = Napi::Persistent(info[3].As<Napi::Function>());
  // A running relay stays alive without a JS reference, as a socket does.
  Ref();
  napi_add_env_cleanup_hook(env_, OnEnvCleanup, this);
  cleanup_hook_ = true;
  Touch();
  if (idle_ms_ > 0) uv_timer_start(timer_.get(), OnIdleTimer, idle_ms_, 0);
  UpdateInterest(a_);
  UpdateInterest(b_);
}

SpliceRelay::~SpliceRelay() { Release(false); }

void SpliceRelay::OnFdEvents(int fd, uint32_t events) {
  SpliceRelay* self = this;
  const bool is_a = fd == a_.fd.get();
  Side& side = is_a ? a_ : b_;
  if ((events & EPOLLERR) != 0) {
    // As libuv's uv_poll did (UV_EBADF): the socket's own pending error says
    // what happened (ECONNRESET, ETIMEDOUT…).
    int err = 0;
    socklen_t length = sizeof err;
    if (::getsockopt(side.fd.get(), SOL_SOCKET, SO_ERROR, &err, &length) != 0 || err == 0) err = EBADF;
    Fail(side, err, "poll");
    return;
  }
  // Only a poll that asked for EPOLLPRI can say there is no urgent data (before the line below adds it).
  side.urgent = (events & EPOLLPRI) != 0 || (side.events & EPOLLPRI) == 0;
  // A hang-up alone is reported as what was asked for, so the calls below meet the EOF or the error.
  if ((events & EPOLLHUP) != 0) events |= side.events;
  Direction& out = is_a ? self->up_ : self->down_;
  Direction& in = is_a ? self->down_ : self->up_;
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLPRI)) != 0) {
    side.readable_hint = true;
    side.drained = false;
    if ((events & EPOLLRDHUP) != 0) side.rdhup = true;
    if (!self->Pump(out)) return;
  }
  if ((events & EPOLLOUT) != 0 && !self->Pump(in)) return;
  if (self->up_.shut && self->down_.shut) {
    self->Finish("");  // both ends finished in order: a clean close
    return;
  }
  self->UpdateInterest(self->a_);
  self->UpdateInterest(self->b_);
}

bool SpliceRelay::Pump(Direction& d) {
  for (int round = 0; round < kMaxRounds; ++round) {
    const Step filled = Fill(d);
    if (filled == Step::kFailed) return false;
    const Step drained = Drain(d);
    if (drained == Step::kFailed || !ShutIfDrained(d)) return false;
    if (filled != Step::kProgress && drained != Step::kProgress) break;
  }
  // Empty again: back to the pool, so that an idle flow holds no pipe. A
  // busy flow takes the same pipe back at its next wakeup (the pool lends the
  // newest first), which costs no system call.
  if (d.in_pipe == 0) GiveBackPipe(d);
  return true;
}

// Borrows a pipe for `d` (a grown one for a bulk direction if the pool has
// one); false when none can be had (EMFILE, ENFILE, ENOMEM from pipe2()).
bool SpliceRelay::TakePipe(Direction& d) {
  const size_t wanted = d.bulk && !d.grow_refused ? d.grown_capacity : 0;
  if (pool_->Acquire(wanted, &d.pipe) != 0) return false;
  if (d.bulk) Grow(d);
  return true;
}

void SpliceRelay::GiveBackPipe(Direction& d) {
  if (!d.pipe.valid()) return;
  d.last_capacity = d.pipe.capacity;
  pool_->Release(std::move(d.pipe));
  d.pipe = Pipe();
}

SpliceRelay::Step SpliceRelay::Fill(Direction& d) {
  const bool hinted = std::exchange(d.from->readable_hint, false);
  if (d.eof || d.stalled) return Step::kIdle;
  if (d.from->drained) {
    // The socket was empty at the last read: another attempt now would say
    // EAGAIN, and the (level-triggered) poll says when more arrives. If the
    // peer's FIN was reported before that read, nothing but the EOF is left.
    if (!d.from->rdhup) return Step::kIdle;
    if (AtEof(*d.from)) {
      d.eof = true;
      return Step::kProgress;
    }
    // Urgent data may be in the way: check with recv() once what is buffered has gone.
    if (d.buffered() > 0) return Step::kIdle;
    return FillWithRecv(d);
  }
  if (!d.pipe.valid()) {
    // A pipe only for a socket that said it is readable: a spurious attempt
    // would take one from the pool just to give it back.
    if (!hinted) return Step::kIdle;
    if (!TakePipe(d)) {
      // Out of fds (or memory) for a pipe: this read goes through user space,
      // as one behind urgent data does; the flow keeps running.
      if (d.buffered() > 0) {
        d.stalled = true;  // FillWithRecv must not overtake what is buffered: retry after a write
        return Step::kIdle;
      }
      return FillWithRecv(d);
    }
  }
  if (d.in_pipe >= d.pipe.capacity) return Step::kIdle;
  const size_t room = d.pipe.capacity - d.in_pipe;
  ssize_t n;
  do {
    n = ::splice(d.from->fd.get(), nullptr, d.pipe.write_end.get(), nullptr, room, kSpliceFlags);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    if (n < kShortRead && static_cast<size_t>(n) < room) d.from->drained = true;
    d.in_pipe += static_cast<size_t>(n);
    Touch();
    if (!d.bulk && d.delivered + static_cast<double>(d.in_pipe) >= kBulkBytes) {
      d.bulk = true;
      Grow(d);
    }
    return Step::kProgress;
  }
  if (n < 0 && errno != EAGAIN) {
    Fail(*d.from, errno, "splice");
    return Step::kFailed;
  }
  if (n == 0 && AtEof(*d.from)) {
    d.eof = true;
    return Step::kProgress;
  }
  if (d.buffered() > 0) {
    // EAGAIN: the socket is empty, or every pipe slot is taken (a slot may
    // hold less than a page, so in_pipe < capacity proves nothing), and
    // polling for readability could spin. 0: see FillWithRecv, which must wait
    // for what is buffered to go first. Either way: retry after a write.
    d.stalled = true;
    return Step::kIdle;
  }
  return n == 0 || hinted ? FillWithRecv(d) : Step::kIdle;
}

// Whether a read from `side` that found nothing (0 from splice(), or a short
// read) is the end of the stream without asking recv(). splice() also stops
// in front of urgent data, but that only hides an EOF if the urgent byte came
// before the FIN, and then the poll that reported the FIN (EPOLLRDHUP) also
// reported the byte (EPOLLPRI: TCP delivers in order, so everything before
// the FIN had arrived). Urgent data cannot follow a FIN.
bool SpliceRelay::AtEof(const Side& side) { return side.rdhup && !side.urgent; }

// A bigger pipe moves more per system call, but pipes count against a
// per-user quota (fs.pipe-user-pages-soft; past it, new pipes get 2 pages) for
// any user without CAP_SYS_RESOURCE or CAP_SYS_ADMIN. So a pipe starts at the
// default size and only a bulk direction's grows: the pipe it holds when it
// becomes bulk, and then the pipes it borrows (a grown one of the same size
// from the pool when there is one, which costs nothing). When the kernel
// refuses (EPERM past the quota or fs.pipe-max-size), the direction stays
// with default pipes.
void SpliceRelay::Grow(Direction& d) {
  if (bulk_pipe_size_ == 0 || d.grow_refused) return;
  const bool done = d.grown_capacity != 0 ? d.pipe.capacity == d.grown_capacity : d.pipe.capacity == bulk_pipe_size_;
  if (done) return;
  const int capacity = ::fcntl(d.pipe.write_end.get(), F_SETPIPE_SZ, static_cast<int>(bulk_pipe_size_));
  if (capacity <= 0) {
    d.grow_refused = true;
    return;
  }
  d.pipe.capacity = static_cast<size_t>(capacity);
  d.pipe.grown = true;
  d.grown_capacity = d.pipe.capacity;
}

// splice() reads TCP through tcp_read_sock(), which stops in front of urgent
// (MSG_OOB) data and never passes it, while recv() skips the urgent byte. At
// that mark splice() says EAGAIN although the socket polls readable, or 0 (as
// at EOF) once the peer's FIN is in too. So both are checked with recv(), with
// nothing else buffered so that order is kept: it returns 0 at a true EOF, and
// otherwise bytes that are sent on like pending ones. Without this one urgent
// byte would make the relay spin or cut the stream short.
SpliceRelay::Step SpliceRelay::FillWithRecv(Direction& d) {
  // Usually this is the EOF check of every flow: read into the stack, so the
  // usual 0 costs no allocation (nor zeroing 64 KiB) and keeps no buffer.
  uint8_t chunk[kRecvChunk];
  ssize_t n;
  do {
    n = ::recv(d.from->fd.get(), chunk, sizeof chunk, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    // Only called with nothing buffered (see Fill), so these bytes are next.
    d.pending.assign(chunk, chunk + n);
    d.pending_sent = 0;
    Touch();
    return Step::kProgress;
  }
  if (n == 0) {
    d.eof = true;
    return Step::kProgress;
  }
  if (errno == EAGAIN) return Step::kIdle;  // a spurious wakeup
  Fail(*d.from, errno, "recv");
  return Step::kFailed;
}

SpliceRelay::Step SpliceRelay::Drain(Direction& d) {
  Step step = Step::kIdle;
  ssize_t n;
  while (d.pending_left() > 0) {
    do {
      n = ::send(d.to->fd.get(), d.pending.data() + d.pending_sent, d.pending_left(), MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN) return step;
      Fail(*d.to, errno, "send");
      return Step::kFailed;
    }
    d.pending_sent += static_cast<size_t>(n);
    d.delivered += static_cast<double>(n);
    d.stalled = false;
    step = Step::kProgress;
    Touch();
  }
  if (!d.pending.empty()) {
    std::vector<uint8_t>().swap(d.pending);  // the steady state holds no user-space buffer
    d.pending_sent = 0;
  }
  if (d.in_pipe == 0) return step;
  do {
    n = ::splice(d.pipe.read_end.get(), nullptr, d.to->fd.get(), nullptr, d.in_pipe, kSpliceFlags);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN) return step;
    Fail(*d.to, errno, "splice");
    return Step::kFailed;
  }
  if (n == 0) return step;
  d.in_pipe -= static_cast<size_t>(n);
  d.delivered += static_cast<double>(n);
  d.stalled = false;
  Touch();
  return Step::kProgress;
}

bool SpliceRelay::ShutIfDrained(Direction& d) {
  if (!d.eof || d.shut || d.buffered() > 0) return true;
  // Half-close: pass the EOF on once everything before it is delivered; the
  // other direction keeps running.
  d.shut = true;
  // The last direction to end: the relay closes both sockets right after
  // (OnFdEvents), and close() sends the same FIN, behind what is still queued.
  // Not a reset: each socket has read its peer's EOF, so nothing unread remains.
  const Direction& other = &d == &up_ ? down_ : up_;
  if (other.shut) return true;
  if (::shutdown(d.to->fd.get(), SHUT_WR) != 0) {
    Fail(*d.to, errno, "shutdown");
    return false;
  }
  return true;
}

void SpliceRelay::UpdateInterest(Side& side) {
  if (state_ != State::kRunning) return;
  const Direction& out = &side == &a_ ? up_ : down_;
  const Direction& in = &side == &a_ ? down_ : up_;
  uint32_t events = 0;
  // Backpressure: read only while the pipe has room (a direction without a
  // pipe borrows one when the socket turns readable), write only while there
  // is data.
  if (!out.eof && !out.stalled && (!out.pipe.valid() || out.in_pipe < out.pipe.capacity)) events |= EPOLLIN | EPOLLRDHUP | EPOLLPRI;
  if (in.buffered() > 0) events |= EPOLLOUT;
  if (events == side.events) return;  // each change is an epoll_ctl
  const int err = poller_->Watch(side.fd.get(), events, this);
  if (err != 0) {
    Fail(side, -err, "epoll_ctl");
    return;
  }
  side.events = events;
}

void SpliceRelay::Touch() { last_activity_ = uv_now(loop_); }

void SpliceRelay::OnIdleTimer(uv_timer_t* timer) {
  auto* self = static_cast<SpliceRelay*>(timer->data);
  const uint64_t idle = uv_now(self->loop_) - self->last_activity_;
  if (idle >= self->idle_ms_) {
    self->Finish("idle timeout");
    return;
  }
  // Activity only moves a timestamp; the timer wakes up once per period at most.
  uv_timer_start(timer, OnIdleTimer, self->idle_ms_ - idle, 0);
}

void SpliceRelay::Fail(const Side& side, int err, const char* syscall) {
  if (err == ENOTCONN || err == EPIPE) {
    // The call tripped over a reset socket: its pending error (ECONNRESET) says what happened.
    int pending = 0;
    socklen_t length = sizeof pending;
    if (::getsockopt(side.fd.get(), SOL_SOCKET, SO_ERROR, &pending, &length) == 0 && pending != 0) err = pending;
  }
  // EINVAL/ENOSYS from splice(): the fd type or the kernel does not support
  // it. Said apart from network errors so JavaScript can stop using splice.
  const bool unsupported = (err == EINVAL || err == ENOSYS) && strcmp(syscall, "splice") == 0;
  std::string error = std::string(side.name) + ": " + ErrnoName(err);
  if (unsupported) error += " (splice unsupported)";
  Finish(error, unsupported);
}

void SpliceRelay::Finish(const std::string& error, bool unsupported) {
  if (state_ != State::kRunning) return;
  state_ = State::kDelivering;
  error_ = error;
  unsupported_ = unsupported;
  CloseIo(!error.empty());
  // onDone runs from the loop, never inside abort(): callers may be iterating.
  uv_timer_start(timer_.get(), OnDeliver, 0, 0);
}

void SpliceRelay::CloseIo(bool reset) {
  for (Side* side : {&a_, &b_}) {
    // Stop polling before the fd closes: an adopted fd is the file's only one, so closing it leaves the set.
    if (side->fd.valid() && poller_) {
      poller_->Forget(side->fd.get(), adopted_ ? FdPoller::Release::kClose : FdPoller::Release::kDeregister);
    }
    side->events = 0;
    if (reset && side->fd.valid()) {
      // Close with a reset: a proxy passes a failed flow on as failed, not as a clean end.
      const linger hard{1, 0};
      (void)::setsockopt(side->fd.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    }
    side->fd.reset();
  }
  for (Direction* d : {&up_, &down_}) {
    if (!d->pipe.valid()) continue;
    // Bytes a failed flow leaves in a pipe die with it; the count is exact,
    // but this path is rare enough to ask the kernel too.
    if (d->in_pipe == 0 && BytesInPipe(d->pipe) == 0) {
      GiveBackPipe(*d);
    } else {
      d->last_capacity = d->pipe.capacity;
      pool_->Discard(std::move(d->pipe));
      d->pipe = Pipe();
    }
  }
}

void SpliceRelay::OnDeliver(uv_timer_t* timer) {
  auto* self = static_cast<SpliceRelay*>(timer->data);
  self->Release(false);
  self->state_ = State::kDone;
  Napi::Env env(self->env_);
  Napi::HandleScope scope(env);
  Napi::Object result = Napi::Object::New(env);
  result.Set("up", self->up_.delivered);
  result.Set("down", self->down_.delivered);
  if (!self->error_.empty()) result.Set("error", self->error_);
  if (self->unsupported_) result.Set("unsupported", true);
  // Moved out so the callback (and what its closure holds) is released right after it runs.
  Napi::FunctionReference on_done = std::move(self->on_done_);
  try {
    on_done.MakeCallback(self->Value(), {result}, *self->async_context_);
  } catch (const Napi::Error& error) {
    // Reported as any uncaught exception is ('uncaughtException', or exit).
    napi_value exception = error.Value();
    if (exception != nullptr) napi_fatal_exception(env, exception);
  }
  self->Unref();  // last: `self` may be collected any time after this
}

void SpliceRelay::Release(bool reset) {
  if (state_ == State::kRunning) {
    // Only on environment teardown (or destruction) of a running relay.
    state_ = State::kDelivering;
    CloseIo(reset);
  }
  timer_.reset();
  if (cleanup_hook_) {
    cleanup_hook_ = false;
    napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
  }
}

void SpliceRelay::OnEnvCleanup(void* self) {
  auto* relay = static_cast<SpliceRelay*>(self);
  relay->cleanup_hook_ = false;  // being run, so already on its way out
  // The environment (a worker, say) is going away: reset the flows rather than
  // leave the peers believing in a clean end.
  relay->Release(true);
}

Napi::Value SpliceRelay::Abort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != State::kRunning) return Napi::Boolean::New(env, false);
  std::string reason = "abort()";
  if (info.Length() > 0 && info[0].IsString()) reason = info[0].As<Napi::String>().Utf8Value();
  Finish("aborted: " + reason);
  return Napi::Boolean::New(env, true);
}

Napi::Value SpliceRelay::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool open = state_ == State::kRunning;
  Napi::Object stats = Napi::Object::New(env);
  stats.Set("up", up_.delivered);
  stats.Set("down", down_.delivered);
  stats.Set("bufferedUp", static_cast<double>(open ? up_.buffered() : 0));
  stats.Set("bufferedDown", static_cast<double>(open ? down_.buffered() : 0));
  stats.Set("pipeSizeUp", static_cast<double>(up_.pipe.valid() ? up_.pipe.capacity : up_.last_capacity));
  stats.Set("pipeSizeDown", static_cast<double>(down_.pipe.valid() ? down_.pipe.capacity : down_.last_capacity));
  stats.Set("pipes", static_cast<double>((up_.pipe.valid() ? 1 : 0) + (down_.pipe.valid() ? 1 : 0)));
  stats.Set("open", open);
  return stats;
}

Napi::Function SpliceRelay::DefineClass(Napi::Env env) {
  return ObjectWrap<SpliceRelay>::DefineClass(env, kClassName,
                                              {
                                                  InstanceMethod<&SpliceRelay::Abort>("abort"),
                                                  InstanceMethod<&SpliceRelay::Stats>("stats"),
                                              });
}

void InitSpliceRelay(Napi::Env env, Napi::Object exports) {
  exports.Set(kClassName, SpliceRelay::DefineClass(env));
  exports.Set("spliceSupported", Napi::Function::New(env, SpliceSupported, "spliceSupported"));
  exports.Set("splicePoolStats", Napi::Function::New(env, SplicePoolStats, "splicePoolStats"));
  exports.Set("splicePoolTrim", Napi::Function::New(env, SplicePoolTrim, "splicePoolTrim"));
}

}  // namespace sluice
