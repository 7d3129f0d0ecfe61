// TcpDial: one outgoing TCP connection made in C++ (non-blocking connect()
// with SO_MARK, SO_BINDTODEVICE, a local address, IP_TRANSPARENT, completed
// by uv_poll writability and SO_ERROR), handed to JavaScript as a connected
// fd. Lets a flow that the splice relay carries skip the net.Socket that would
// otherwise be built, connected and destroyed for the upstream. Polled by the
// environment's FdPoller, whose registration the relay then takes over.
#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>
#include <string>

#include "fd_poller.h"
#include "unique_fd.h"

namespace sluice {

class TcpDial : public Napi::ObjectWrap<TcpDial>, private FdPoller::Watcher {
 public:
  static Napi::Function DefineClass(Napi::Env env);

  // new TcpDial({ address, port, mark?, device?, localAddress?, transparent? }, callback).
  // Throws (synchronously) when the socket cannot be set up or connect()
  // fails at once; otherwise calls callback(null, fd) once connected, or
  // callback(error) with the connect error (code ECONNREFUSED…). The fd is
  // then the caller's. cancel() closes the socket and suppresses the callback.
  explicit TcpDial(const Napi::CallbackInfo& info);
  ~TcpDial() override;

 private:
  void OnFdEvents(int fd, uint32_t events) override;
  static void OnEnvCleanup(void* self);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  // Stops polling and drops the env hook; closes the fd unless it was handed over.
  void Release();
  void Complete(int err);

  napi_env env_;
  UniqueFd fd_;
  // Polls the connecting socket (EPOLLONESHOT); on success the socket stays
  // registered, disabled, for the relay that takes it to re-arm.
  std::shared_ptr<FdPoller> poller_;
  std::string endpoint_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  Napi::FunctionReference callback_;
  bool pending_ = false;
  bool cleanup_hook_ = false;
};

}  // namespace sluice
