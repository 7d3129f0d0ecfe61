#include "tcp_acceptor.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <string>

#include "args.h"
#include "errors.h"
#include "js_callback.h"
#include "modules.h"
#include "sockaddr.h"

namespace sluice {
namespace {

constexpr const char* kClassName = "TcpAcceptor";
// Connections accepted per wakeup: one JS call each batch, yet a flood does not starve the loop.
constexpr int kMaxBatch = 64;
// After EMFILE/ENFILE: how long to stop accepting (the backlog keeps the rest).
constexpr uint64_t kBackoffMs = 100;

struct Accepted {
  int fd;
  Endpoint src;
  Endpoint dst;
};

}  // namespace

void ResetAndClose(int fd) {
  const linger reset{1, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(fd);
}

TcpAcceptor::TcpAcceptor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TcpAcceptor>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  const int fd = static_cast<int>(IntArg(info, 0, kClassName, "listenFd", 0, INT32_MAX));
  if (!info[1].IsFunction()) ThrowInvalid(env, kClassName, "onBatch must be a function");
  const std::string subject = "fd " + std::to_string(fd);
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "TcpAcceptor: no libuv event loop for this environment");
  }
  // As net.Server({ noDelay: true }), once: accepted sockets inherit TCP_NODELAY from the listener.
  const int one = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
    ThrowErrno(env, errno, "setsockopt(TCP_NODELAY)", subject);
  }
  int error = 0;
  UvHandle<uv_poll_t> poll = MakePoll(loop, fd, &error);
  if (!poll) ThrowErrno(env, -error, "uv_poll_init", subject);
  poll->data = this;
  // A worker's teardown releases the acceptor and waits for the poll's close callback.
  if (!poll.GuardTeardown(env, OnEnvTeardown, this)) {
    throw Napi::Error::New(env, "TcpAcceptor: cannot register an environment cleanup hook");
  }
  error = uv_poll_start(poll.get(), UV_READABLE, OnPoll);
  if (error != 0) ThrowErrno(env, -error, "uv_poll_start", subject);  // `poll` closes, and its hook goes
  auto* timer = new uv_timer_t{};
  uv_timer_init(loop, timer);  // cannot fail
  timer->data = this;
  backoff_.reset(timer);
  async_context_ = std::make_unique<Napi::AsyncContext>(env, kClassName, info.This().As<Napi::Object>());
  // Nothing below throws.
  poll_ = std::move(poll);
  fd_.reset(fd);
  on_batch_ = Napi::Persistent(info[1].As<Napi::Function>());
  Ref();  // a listening acceptor lives without a JS reference, as a server does
}

TcpAcceptor::~TcpAcceptor() { Release(); }

void TcpAcceptor::Release() {
  closed_ = true;
  backoff_.Close();
  poll_.Close();  // before the fd: never close an fd that epoll still watches
  fd_.reset();
}

// The environment (a worker thread, or the main thread at exit) is going away:
// release everything; no JS may run now.
void TcpAcceptor::OnEnvTeardown(void* self) { static_cast<TcpAcceptor*>(self)->Release(); }

void TcpAcceptor::OnPoll(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<TcpAcceptor*>(handle->data);
  if (status < 0) return;  // a listening socket reports nothing worth stopping for; accept4 says the rest
  self->AcceptBatch();
}

void TcpAcceptor::OnResume(uv_timer_t* timer) {
  auto* self = static_cast<TcpAcceptor*>(timer->data);
  if (self->closed_) return;
  // Fails only for want of memory: wait another period rather than stop for good.
  if (uv_poll_start(self->poll_.get(), UV_READABLE, OnPoll) != 0) self->Pause();
}

void TcpAcceptor::Pause() {
  uv_poll_stop(poll_.get());
  uv_timer_start(backoff_.get(), OnResume, kBackoffMs, 0);
}

void TcpAcceptor::AcceptBatch() {
  Accepted accepted[kMaxBatch];
  int count = 0;
  while (count < kMaxBatch && !closed_) {
    SockAddr peer;
    peer.length = sizeof peer.storage;
    const int fd = ::accept4(fd_.get(), peer.get(), &peer.length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) Pause();
      break;  // EAGAIN: the backlog is empty
    }
    SockAddr local;
    local.length = sizeof local.storage;
    if (::getsockname(fd, local.get(), &local.length) != 0) {
      ResetAndClose(fd);
      continue;
    }
    accepted[count++] = Accepted{fd, FormatSockAddr(peer.get()), FormatSockAddr(local.get())};
  }
  if (count == 0) return;
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  napi_value fds = nullptr;
  napi_value endpoints = nullptr;
  napi_value batch = nullptr;
  if (!CanCallJs(env)) {
    // Worker teardown: nobody can take these.
    for (int i = 0; i < count; ++i) ResetAndClose(accepted[i].fd);
    return;
  }
  try {
    // The fds in an Int32Array: JavaScript marks each one it takes (-1), and
    // this side reads the marks from memory, which works also when JavaScript
    // can no longer run (worker teardown).
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, static_cast<size_t>(count) * sizeof(int32_t));
    auto* slots = static_cast<int32_t*>(buffer.Data());
    for (int i = 0; i < count; ++i) slots[i] = accepted[i].fd;
    fds = Napi::Int32Array::New(env, static_cast<size_t>(count), buffer, 0);
    Napi::Array list = Napi::Array::New(env, static_cast<size_t>(count) * 4);
    for (int i = 0; i < count; ++i) {
      const auto base = static_cast<uint32_t>(i) * 4;
      list.Set(base, Napi::String::New(env, accepted[i].src.address));
      list.Set(base + 1, Napi::Number::New(env, accepted[i].src.port));
      list.Set(base + 2, Napi::String::New(env, accepted[i].dst.address));
      list.Set(base + 3, Napi::Number::New(env, accepted[i].dst.port));
    }
    endpoints = list;
    Napi::Object object = Napi::Object::New(env);
    object.Set("fds", fds);
    object.Set("endpoints", endpoints);
    batch = object;
  } catch (const Napi::Error&) {
    // Only when JavaScript cannot run (teardown) or memory is short: nobody can take these.
    for (int i = 0; i < count; ++i) ResetAndClose(accepted[i].fd);
    return;
  }
  // Keeps this object (and so `this`) alive while the callback runs, even if it closes the acceptor.
  [[maybe_unused]] Napi::Object keep_alive = Value();
  if (CallJs(env, static_cast<napi_async_context>(*async_context_), Value(), on_batch_.Value(), {batch})) return;
  // The callback threw part-way (or could not run): what it did not take would be lost.
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value arraybuffer = nullptr;
  size_t offset = 0;
  // No JavaScript runs in this call, so it also works during teardown. A
  // detached buffer (transferred by the callback) reads as length 0: taken.
  if (napi_get_typedarray_info(env, fds, &type, &length, &data, &arraybuffer, &offset) != napi_ok) return;
  const auto* slots = static_cast<const int32_t*>(data);
  for (size_t i = 0; i < length && i < static_cast<size_t>(count); ++i) {
    if (slots[i] == accepted[i].fd) ResetAndClose(accepted[i].fd);
  }
}

Napi::Value TcpAcceptor::Close(const Napi::CallbackInfo& info) {
  if (closed_) return Napi::Boolean::New(info.Env(), false);
  Release();
  on_batch_.Reset();
  Unref();
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Function TcpAcceptor::DefineClass(Napi::Env env) {
  return ObjectWrap<TcpAcceptor>::DefineClass(env, kClassName, {InstanceMethod<&TcpAcceptor::Close>("close")});
}

void InitTcpAcceptor(Napi::Env env, Napi::Object exports) { exports.Set(kClassName, TcpAcceptor::DefineClass(env)); }

}  // namespace sluice
