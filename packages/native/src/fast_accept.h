// FastAcceptor: accepts on a (transparent) listening socket in C++, with an
// accept4() loop driven by uv_poll, and reports each batch of accepted
// connections to JavaScript in one call, as fds with their source (the peer)
// and original destination (getsockname(): TPROXY keeps it as the local
// address). No libuv stream or net.Socket is made for a connection unless
// JavaScript adopts the fd (new net.Socket({ fd })).
#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>

#include "unique_fd.h"
#include "uv_handle.h"

namespace sluice {

class FastAcceptor : public Napi::ObjectWrap<FastAcceptor> {
 public:
  static Napi::Function DefineClass(Napi::Env env);

  // new FastAcceptor(listenFd, onBatch). Takes ownership of listenFd (closed
  // by close()). onBatch(batch) gets a flat array, five entries per
  // connection: fd, srcAddress, srcPort, dstAddress, dstPort.
  explicit FastAcceptor(const Napi::CallbackInfo& info);
  ~FastAcceptor() override;

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnResume(uv_timer_t* timer);
  static void OnEnvCleanup(void* self);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void AcceptBatch();
  void Release();

  napi_env env_;
  UniqueFd fd_;
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_timer_t> backoff_;  // out of fds: wait, then accept again
  std::unique_ptr<Napi::AsyncContext> async_context_;
  Napi::FunctionReference on_batch_;
  bool cleanup_hook_ = false;
  bool closed_ = false;
};

}  // namespace sluice
