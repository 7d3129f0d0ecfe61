#include "fast_accept.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "args.h"
#include "errors.h"
#include "modules.h"
#include "sockaddr.h"

namespace sluice {
namespace {

constexpr const char* kClassName = "FastAcceptor";
// Connections accepted per wakeup: one JS call each batch, yet a flood does not starve the loop.
constexpr int kMaxBatch = 64;
// After EMFILE/ENFILE: how long to stop accepting (the backlog keeps the rest).
constexpr uint64_t kBackoffMs = 100;

// resetFd(fd): closes a TCP socket with a reset (SO_LINGER {1, 0}), as socket.resetAndDestroy() does.
void ResetFd(const Napi::CallbackInfo& info) {
  const int fd = FdArg(info, "resetFd");
  const linger reset{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  if (::close(fd) != 0 && errno != EINTR) ThrowErrno(info.Env(), errno, "close", "fd " + std::to_string(fd));
}

}  // namespace

FastAcceptor::FastAcceptor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FastAcceptor>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  const int fd = static_cast<int>(IntArg(info, 0, kClassName, "listenFd", 0, INT32_MAX));
  if (!info[1].IsFunction()) ThrowInvalid(env, kClassName, "onBatch must be a function");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "FastAcceptor: no libuv event loop for this environment");
  }
  // As net.Server({ noDelay: true }), once: accepted sockets inherit TCP_NODELAY from the listener.
  const int one = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
    ThrowErrno(env, errno, "setsockopt(TCP_NODELAY)", "fd " + std::to_string(fd));
  }
  int error = 0;
  poll_ = MakePoll(loop, fd, &error);
  if (!poll_) ThrowErrno(env, -error, "uv_poll_init", "fd " + std::to_string(fd));
  poll_->data = this;
  auto* timer = new uv_timer_t{};
  uv_timer_init(loop, timer);
  timer->data = this;
  backoff_.reset(timer);
  async_context_ = std::make_unique<Napi::AsyncContext>(env, kClassName, info.This().As<Napi::Object>());
  // Nothing below throws.
  fd_.reset(fd);
  on_batch_ = Napi::Persistent(info[1].As<Napi::Function>());
  uv_poll_start(poll_.get(), UV_READABLE, OnPoll);
  Ref();  // a listening acceptor lives without a JS reference, as a server does
  napi_add_env_cleanup_hook(env_, OnEnvCleanup, this);
  cleanup_hook_ = true;
}

FastAcceptor::~FastAcceptor() { Release(); }

void FastAcceptor::Release() {
  poll_.Close();
  backoff_.Close();
  fd_.reset();
  if (cleanup_hook_) {
    cleanup_hook_ = false;
    napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
  }
}

void FastAcceptor::OnEnvCleanup(void* self) {
  auto* acceptor = static_cast<FastAcceptor*>(self);
  acceptor->cleanup_hook_ = false;
  acceptor->closed_ = true;
  acceptor->Release();
}

void FastAcceptor::OnPoll(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<FastAcceptor*>(handle->data);
  if (status < 0) return;  // a listening socket reports nothing worth stopping for; accept4 says the rest
  self->AcceptBatch();
}

void FastAcceptor::OnResume(uv_timer_t* timer) {
  auto* self = static_cast<FastAcceptor*>(timer->data);
  if (!self->closed_) uv_poll_start(self->poll_.get(), UV_READABLE, OnPoll);
}

void FastAcceptor::AcceptBatch() {
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  Napi::Array batch = Napi::Array::New(env);
  uint32_t n = 0;
  for (int i = 0; i < kMaxBatch && !closed_; ++i) {
    SockAddr peer;
    peer.length = sizeof peer.storage;
    const int fd = ::accept4(fd_.get(), peer.get(), &peer.length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        uv_poll_stop(poll_.get());
        uv_timer_start(backoff_.get(), OnResume, kBackoffMs, 0);
      }
      break;  // EAGAIN: the backlog is empty
    }
    SockAddr local;
    local.length = sizeof local.storage;
    if (::getsockname(fd, local.get(), &local.length) != 0) {
      ::close(fd);
      continue;
    }
    const Endpoint src = FormatSockAddr(peer.get());
    const Endpoint dst = FormatSockAddr(local.get());
    batch.Set(n++, Napi::Number::New(env, fd));
    batch.Set(n++, Napi::String::New(env, src.address));
    batch.Set(n++, Napi::Number::New(env, src.port));
    batch.Set(n++, Napi::String::New(env, dst.address));
    batch.Set(n++, Napi::Number::New(env, dst.port));
  }
  if (n == 0) return;
  try {
    on_batch_.MakeCallback(Value(), {batch}, *async_context_);
  } catch (const Napi::Error& error) {
    napi_value exception = error.Value();
    if (exception != nullptr) napi_fatal_exception(env, exception);
  }
}

Napi::Value FastAcceptor::Close(const Napi::CallbackInfo& info) {
  if (closed_) return Napi::Boolean::New(info.Env(), false);
  closed_ = true;
  Release();
  on_batch_.Reset();
  Unref();
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Function FastAcceptor::DefineClass(Napi::Env env) {
  return ObjectWrap<FastAcceptor>::DefineClass(env, kClassName, {InstanceMethod<&FastAcceptor::Close>("close")});
}

void InitFastAccept(Napi::Env env, Napi::Object exports) {
  exports.Set(kClassName, FastAcceptor::DefineClass(env));
  exports.Set("resetFd", Napi::Function::New(env, ResetFd, "resetFd"));
}

}  // namespace sluice
