#include "tcp_dial.h"

#include "args.h"
#include "errors.h"
#include "js_callback.h"
#include "modules.h"
#include "tcp_connect.h"

namespace sluice {
namespace {
constexpr const char* kClassName = "TcpDial";
}  // namespace

TcpDial::TcpDial(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TcpDial>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  const TcpConnectPlan plan = ReadTcpConnectPlan(env, kClassName, info[0]);
  if (!info[1].IsFunction()) ThrowInvalid(env, kClassName, "callback must be a function");
  endpoint_ = plan.endpoint;
  int connect_err = 0;
  UniqueFd fd = StartTcpConnect(env, plan, &connect_err);
  if (connect_err != 0) ThrowErrno(env, connect_err, "connect", endpoint_);
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "TcpDial: no libuv event loop for this environment");
  }
  poller_ = FdPoller::ForEnv(env, loop);
  async_context_ = std::make_unique<Napi::AsyncContext>(env, kClassName, info.This().As<Napi::Object>());
  const int err = poller_->Watch(fd.get(), EPOLLOUT | EPOLLONESHOT, this);
  if (err != 0) {
    poller_->Forget(fd.get(), FdPoller::Release::kClose);
    ThrowErrno(env, -err, "epoll_ctl", endpoint_);  // the socket closes with `fd`
  }
  // Runs before the poller's (hooks run last-in first-out): the dial lets go of its socket first.
  if (napi_add_env_cleanup_hook(env_, OnEnvCleanup, this) != napi_ok) {
    poller_->Forget(fd.get(), FdPoller::Release::kClose);
    throw Napi::Error::New(env, "TcpDial: cannot register an environment cleanup hook");
  }
  cleanup_hook_ = true;
  // Nothing below throws.
  fd_ = std::move(fd);
  callback_ = Napi::Persistent(info[1].As<Napi::Function>());
  pending_ = true;
  Ref();  // a pending dial lives without a JS reference, as a connecting socket does
}

TcpDial::~TcpDial() { Release(); }

void TcpDial::Release() {
  if (fd_.valid()) {
    if (poller_) poller_->Forget(fd_.get(), FdPoller::Release::kClose);
    fd_.reset();
  }
  if (cleanup_hook_) {
    cleanup_hook_ = false;
    napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
  }
}

void TcpDial::OnEnvCleanup(void* self) {
  auto* dial = static_cast<TcpDial*>(self);
  dial->cleanup_hook_ = false;
  dial->pending_ = false;
  dial->Release();
}

void TcpDial::OnFdEvents(int, uint32_t events) { Complete(TcpConnectResult(fd_.get(), events)); }

void TcpDial::Complete(int err) {
  if (!pending_) return;
  pending_ = false;
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  if (!CanCallJs(env)) {
    // Worker teardown: nobody can take the socket; Release() closes it.
    Release();
    callback_.Reset();
    Unref();
    return;
  }
  napi_value args[2];
  try {
    if (err != 0) {
      args[0] = ErrnoError(env, err, "connect", endpoint_).Value();
      args[1] = env.Undefined();  // Release() closes the socket
    } else {
      args[0] = env.Null();
      args[1] = Napi::Number::New(env, fd_.get());
    }
  } catch (const Napi::Error&) {
    // Only when JavaScript cannot run (teardown) or memory is short: Release() closes the socket.
    Release();
    callback_.Reset();
    Unref();
    return;
  }
  if (err == 0) {
    // EPOLLONESHOT has disabled it: it stays registered for the relay to re-arm.
    poller_->Forget(fd_.get(), FdPoller::Release::kPark);
    (void)fd_.release();  // JavaScript's from here on, even if the callback throws
  }
  Release();
  Napi::FunctionReference callback = std::move(callback_);
  CallJs(env, static_cast<napi_async_context>(*async_context_), Value(), callback.Value(), {args[0], args[1]});
  Unref();  // last
}

Napi::Value TcpDial::Cancel(const Napi::CallbackInfo& info) {
  if (!pending_) return Napi::Boolean::New(info.Env(), false);
  pending_ = false;
  Release();
  callback_.Reset();
  Unref();
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Function TcpDial::DefineClass(Napi::Env env) {
  return ObjectWrap<TcpDial>::DefineClass(env, kClassName, {InstanceMethod<&TcpDial::Cancel>("cancel")});
}

void InitTcpDial(Napi::Env env, Napi::Object exports) { exports.Set(kClassName, TcpDial::DefineClass(env)); }

}  // namespace sluice
