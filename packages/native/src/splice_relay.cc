#include "splice_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <initializer_list>
#include <optional>
#include <utility>

#include "args.h"
#include "errno_name.h"
#include "errors.h"
#include "js_callback.h"
#include "modules.h"
#include "tcp_connect.h"

namespace sluice {
namespace {

constexpr const char* kClassName = "SpliceRelay";

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

}  // namespace

SpliceRelay::SpliceRelay(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<SpliceRelay>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  const int fd_a = static_cast<int>(IntArg(info, 0, kClassName, "fdA", 0, INT32_MAX));
  const OptionReader options(env, kClassName, info[2]);
  const Napi::Value connect = info[2].As<Napi::Object>().Get("connect");
  connect_mode_ = !connect.IsUndefined();
  // `adopt`: the caller hands over fds nothing else polls (native accept and dial), so no copy is needed.
  const bool adopt = info[2].As<Napi::Object>().Get("adopt").ToBoolean().Value();
  int fd_b = -1;
  if (connect_mode_) {
    if (!info[1].IsNull()) ThrowInvalid(env, kClassName, "fdB must be null when options.connect is given");
    if (!adopt) ThrowInvalid(env, kClassName, "options.connect needs options.adopt (the client fd is handed over)");
  } else {
    fd_b = static_cast<int>(IntArg(info, 1, kClassName, "fdB", 0, INT32_MAX));
    if (fd_a == fd_b) ThrowInvalid(env, kClassName, "fdA and fdB are the same fd");
  }
  idle_ms_ = static_cast<uint64_t>(options.OptionalInt("idleMs", 0, INT32_MAX).value_or(0));
  const auto bulk_pipe_size = static_cast<size_t>(options.OptionalInt("pipeSize", 0, INT32_MAX).value_or(0));
  up_.SetPending(BufferOption(env, info[2].As<Napi::Object>(), "pendingA"));
  down_.SetPending(BufferOption(env, info[2].As<Napi::Object>(), "pendingB"));
  std::optional<TcpConnectPlan> plan;
  if (connect_mode_) {
    plan = ReadTcpConnectPlan(env, "SpliceRelay options.connect", connect);
    connect_timeout_ms_ = static_cast<uint64_t>(
        OptionReader(env, "SpliceRelay options.connect", connect).OptionalInt("timeoutMs", 0, INT32_MAX).value_or(0));
    connect_endpoint_ = plan->endpoint;
  }
  if (!info[3].IsFunction()) ThrowInvalid(env, kClassName, "onDone must be a function");

  if (napi_get_uv_event_loop(env, &loop_) != napi_ok || loop_ == nullptr) {
    throw Napi::Error::New(env, "SpliceRelay: no libuv event loop for this environment");
  }
  // Before this relay's cleanup hook is added: the pool's then runs after it.
  pool_ = PipePool::ForEnv(env, loop_);
  up_.Configure(pool_.get(), bulk_pipe_size);
  down_.Configure(pool_.get(), bulk_pipe_size);
  if (connect_mode_) {
    // Before the client fd is taken: a setup failure (EPERM for a mark…) throws owning nothing.
    // A connect() that fails at once is reported through onDone, as a later failure is.
    b_.fd = StartTcpConnect(env, *plan, &connect_errno_);
  }
  if (adopt) {
    for (const int fd : {fd_a, fd_b}) {
      if (fd < 0) continue;
      const int flags = ::fcntl(fd, F_GETFL);
      if (flags < 0) ThrowErrno(env, errno, "fcntl(F_GETFL)", "fd " + std::to_string(fd));
      if ((flags & O_NONBLOCK) == 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        ThrowErrno(env, errno, "fcntl(O_NONBLOCK)", "fd " + std::to_string(fd));
      }
    }
    a_.fd.reset(fd_a);
    if (!connect_mode_) b_.fd.reset(fd_b);
  } else {
    a_.fd = DupTcpSocket(env, fd_a);
    b_.fd = DupTcpSocket(env, fd_b);
  }
  try {
    poller_ = FdPoller::ForEnv(env, loop_);
    // Runs before the pool's and the poller's (hooks run last-in first-out).
    if (napi_add_env_cleanup_hook(env_, OnEnvCleanup, this) != napi_ok) {
      throw Napi::Error::New(env, "SpliceRelay: cannot register an environment cleanup hook");
    }
  } catch (...) {
    // A throwing constructor owns nothing: adopted fds go back to the caller.
    if (adopt) {
      a_.fd.release();
      if (!connect_mode_) b_.fd.release();  // a socket the relay made closes with it
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
  cleanup_hook_ = true;
  if (!connect_mode_) {
    StartRunning();
    return;
  }
  state_ = State::kConnecting;
  if (connect_errno_ != 0) {
    OnConnected(connect_errno_);
    return;
  }
  // Writability says the connect completed; the client is not polled until then (its bytes wait in the kernel).
  const int err = poller_->Watch(b_.fd.get(), EPOLLOUT, this);
  if (err != 0) {
    OnConnected(-err);
    return;
  }
  b_.events = EPOLLOUT;
  if (connect_timeout_ms_ > 0) uv_timer_start(timer_.get(), OnConnectTimer, connect_timeout_ms_, 0);
}

void SpliceRelay::StartRunning() {
  state_ = State::kRunning;
  OnPumpActivity();
  if (idle_ms_ > 0) {
    uv_timer_start(timer_.get(), OnIdleTimer, idle_ms_, 0);
  } else {
    uv_timer_stop(timer_.get());  // the connect timer, if any
  }
  UpdateInterest(a_);
  UpdateInterest(b_);
}

void SpliceRelay::OnConnected(int err) {
  if (state_ != State::kConnecting) return;
  if (err != 0) {
    connect_errno_ = err;
    Finish(std::string("upstream: connect ") + ErrnoName(err));
    return;
  }
  connected_ = true;
  StartRunning();
}

void SpliceRelay::OnConnectTimer(uv_timer_t* timer) {
  auto* self = static_cast<SpliceRelay*>(timer->data);
  if (self->state_ != State::kConnecting) return;
  self->connect_timed_out_ = true;
  self->Finish("upstream: connect timeout");
}

SpliceRelay::~SpliceRelay() { Release(false); }

void SpliceRelay::OnFdEvents(int fd, uint32_t events) {
  if (state_ == State::kConnecting) {
    // Only B is watched while connecting.
    OnConnected(TcpConnectResult(fd, events));
    return;
  }
  const bool is_a = fd == a_.fd.get();
  SpliceSide& side = is_a ? a_ : b_;
  if ((events & EPOLLERR) != 0) {
    // As libuv's uv_poll did (UV_EBADF): the socket's own pending error says
    // what happened (ECONNRESET, ETIMEDOUT…).
    int err = 0;
    socklen_t length = sizeof err;
    if (::getsockopt(side.fd.get(), SOL_SOCKET, SO_ERROR, &err, &length) != 0 || err == 0) err = EBADF;
    OnPumpFailure(side, err, "poll");
    return;
  }
  // Only a poll that asked for EPOLLPRI can say there is no urgent data (before the line below adds it).
  side.urgent = (events & EPOLLPRI) != 0 || (side.events & EPOLLPRI) == 0;
  // A hang-up alone is reported as what was asked for, so the calls below meet the EOF or the error.
  if ((events & EPOLLHUP) != 0) events |= side.events;
  SplicePump& out = is_a ? up_ : down_;
  SplicePump& in = is_a ? down_ : up_;
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLPRI)) != 0) {
    side.readable_hint = true;
    side.drained = false;
    if ((events & EPOLLRDHUP) != 0) side.rdhup = true;
    if (!out.Run(in.shut())) return;
  }
  if ((events & EPOLLOUT) != 0 && !in.Run(out.shut())) return;
  if (up_.shut() && down_.shut()) {
    Finish("");  // both ends finished in order: a clean close
    return;
  }
  UpdateInterest(a_);
  UpdateInterest(b_);
}

void SpliceRelay::UpdateInterest(SpliceSide& side) {
  if (state_ != State::kRunning) return;
  const SplicePump& out = &side == &a_ ? up_ : down_;
  const SplicePump& in = &side == &a_ ? down_ : up_;
  uint32_t events = 0;
  // Backpressure: read only while the pipe has room (a direction without a
  // pipe borrows one when the socket turns readable), write only while there
  // is data.
  if (out.WantsRead()) events |= EPOLLIN | EPOLLRDHUP | EPOLLPRI;
  if (in.WantsWrite()) events |= EPOLLOUT;
  if (events == side.events) return;  // each change is an epoll_ctl
  const int err = poller_->Watch(side.fd.get(), events, this);
  if (err != 0) {
    OnPumpFailure(side, -err, "epoll_ctl");
    return;
  }
  side.events = events;
}

void SpliceRelay::OnPumpActivity() { last_activity_ = uv_now(loop_); }

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

void SpliceRelay::OnPumpFailure(const SpliceSide& side, int err, const char* syscall) {
  if (err == ENOTCONN || err == EPIPE) {
    // The call tripped over a reset socket: its pending error (ECONNRESET) says what happened.
    int pending = 0;
    socklen_t length = sizeof pending;
    if (::getsockopt(side.fd.get(), SOL_SOCKET, SO_ERROR, &pending, &length) == 0 && pending != 0) err = pending;
  }
  (void)syscall;  // the error string names the side and the errno, as JavaScript logs it
  Finish(std::string(side.name) + ": " + ErrnoName(err));
}

void SpliceRelay::Finish(const std::string& error) {
  if (state_ != State::kRunning && state_ != State::kConnecting) return;
  state_ = State::kDelivering;
  error_ = error;
  CloseIo(!error.empty());
  // onDone runs from the loop, never inside abort(): callers may be iterating.
  uv_timer_start(timer_.get(), OnDeliver, 0, 0);
}

void SpliceRelay::CloseIo(bool reset) {
  for (SpliceSide* side : {&a_, &b_}) {
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
  up_.ReleasePipe();
  down_.ReleasePipe();
}

void SpliceRelay::OnDeliver(uv_timer_t* timer) {
  auto* self = static_cast<SpliceRelay*>(timer->data);
  self->Release(false);
  self->state_ = State::kDone;
  Napi::Env env(self->env_);
  Napi::HandleScope scope(env);
  // Moved out so the callback (and what its closure holds) is released right after it runs.
  Napi::FunctionReference on_done = std::move(self->on_done_);
  napi_value result = nullptr;
  try {
    Napi::Object object = Napi::Object::New(env);
    object.Set("up", self->up_.delivered());
    object.Set("down", self->down_.delivered());
    if (!self->error_.empty()) object.Set("error", self->error_);
    if (self->splice_refused_) object.Set("spliceRefused", true);
    if (self->connect_mode_) {
      object.Set("connected", self->connected_);
      if (self->connect_errno_ != 0) {
        object.Set("connectError", ErrnoError(env, self->connect_errno_, "connect", self->connect_endpoint_).Value());
      }
      if (self->connect_timed_out_) object.Set("connectTimedOut", true);
    }
    result = object;
  } catch (const Napi::Error&) {
    // Only when JavaScript cannot run (teardown) or memory is short: every fd is closed already.
  }
  if (result != nullptr) {
    CallJs(env, static_cast<napi_async_context>(*self->async_context_), self->Value(), on_done.Value(), {result});
  }
  self->Unref();  // last: `self` may be collected any time after this
}

void SpliceRelay::Release(bool reset) {
  if (state_ == State::kRunning || state_ == State::kConnecting) {
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
  if (state_ != State::kRunning && state_ != State::kConnecting) return Napi::Boolean::New(env, false);
  std::string reason = "abort()";
  if (info.Length() > 0 && info[0].IsString()) reason = info[0].As<Napi::String>().Utf8Value();
  Finish("aborted: " + reason);
  return Napi::Boolean::New(env, true);
}

Napi::Value SpliceRelay::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool open = state_ == State::kRunning || state_ == State::kConnecting;
  Napi::Object stats = Napi::Object::New(env);
  stats.Set("up", up_.delivered());
  stats.Set("down", down_.delivered());
  stats.Set("bufferedUp", static_cast<double>(open ? up_.buffered() : 0));
  stats.Set("bufferedDown", static_cast<double>(open ? down_.buffered() : 0));
  stats.Set("pipeSizeUp", static_cast<double>(up_.pipe_capacity()));
  stats.Set("pipeSizeDown", static_cast<double>(down_.pipe_capacity()));
  stats.Set("pipes", static_cast<double>((up_.holds_pipe() ? 1 : 0) + (down_.holds_pipe() ? 1 : 0)));
  stats.Set("open", open);
  return stats;
}

// Polled every second for every live flow by the control API, so it writes
// into the caller's array instead of allocating an object like Stats().
Napi::Value SpliceRelay::ReadBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    Napi::TypeError::New(env, "readBytes(out): out must be a Float64Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto out = info[0].As<Napi::Float64Array>();
  size_t offset = 0;
  if (info.Length() > 1 && info[1].IsNumber()) offset = info[1].As<Napi::Number>().Uint32Value();
  if (offset + 2 > out.ElementLength()) {
    Napi::RangeError::New(env, "readBytes(out, offset): out has no room for two counters at offset").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  out[offset] = up_.delivered();
  out[offset + 1] = down_.delivered();
  return env.Undefined();
}

Napi::Function SpliceRelay::DefineClass(Napi::Env env) {
  return ObjectWrap<SpliceRelay>::DefineClass(env, kClassName,
                                              {
                                                  InstanceMethod<&SpliceRelay::Abort>("abort"),
                                                  InstanceMethod<&SpliceRelay::Stats>("stats"),
                                                  InstanceMethod<&SpliceRelay::ReadBytes>("readBytes"),
                                              });
}

void InitSpliceRelay(Napi::Env env, Napi::Object exports) {
  exports.Set(kClassName, SpliceRelay::DefineClass(env));
  exports.Set("spliceSupported", Napi::Function::New(env, SpliceSupported, "spliceSupported"));
  exports.Set("splicePoolStats", Napi::Function::New(env, SplicePoolStats, "splicePoolStats"));
  exports.Set("splicePoolTrim", Napi::Function::New(env, SplicePoolTrim, "splicePoolTrim"));
}

}  // namespace sluice
