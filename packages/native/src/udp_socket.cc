#include "udp_socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"
#include "js_callback.h"
#include "modules.h"
#include "sockaddr.h"
#include "socket_setup.h"

namespace sluice {
namespace {
constexpr const char* kClassName = "UdpTransparentSocket";

// [{ id, up, down, reason }] for JavaScript's access log.
Napi::Array ClosedToJs(Napi::Env env, const std::vector<UdpSessions::Closed>& closed) {
  Napi::Array out = Napi::Array::New(env, closed.size());
  for (size_t i = 0; i < closed.size(); ++i) {
    Napi::Object record = Napi::Object::New(env);
    record.Set("id", closed[i].id);
    record.Set("up", closed[i].up);
    record.Set("down", closed[i].down);
    record.Set("reason", closed[i].reason);
    out.Set(static_cast<uint32_t>(i), record);
  }
  return out;
}
}  // namespace

// Options of the constructor, with the defaults documented in lib/index.ts.
struct UdpTransparentSocket::Settings {
  SockAddr bind;
  bool reuse_port = false;
  bool v6_only = true;
  size_t batch_size = 64;
  size_t max_datagram_size = 65535;
  int receive_buffer_size = 0;
  size_t reply_cache_size = 1024;
  int64_t reply_idle_ms = 60000;
  std::optional<uint32_t> mark;
  int max_batches = 16;
  size_t max_sessions = 10000;
  int64_t session_idle_ms = 60000;
};

UdpTransparentSocket::Settings UdpTransparentSocket::ReadSettings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const OptionReader options(env, kClassName, info[0]);
  Settings s;
  const std::string address = options.RequiredString("address");
  const auto port = static_cast<uint16_t>(options.RequiredInt("port", 0, 65535));
  s.bind = ParseSockAddrOrThrow(env, kClassName, address, port);
  s.reuse_port = options.Bool("reusePort", s.reuse_port);
  s.v6_only = options.Bool("v6Only", s.v6_only);
  // UIO_MAXIOV (1024) is the most recvmmsg() takes at once.
  s.batch_size = static_cast<size_t>(options.OptionalInt("batchSize", 1, 1024).value_or(s.batch_size));
  s.max_datagram_size = static_cast<size_t>(
      options.OptionalInt("maxDatagramSize", 1, 65535).value_or(s.max_datagram_size));
  s.receive_buffer_size =
      static_cast<int>(options.OptionalInt("receiveBufferSize", 0, INT32_MAX).value_or(0));
  s.reply_cache_size =
      static_cast<size_t>(options.OptionalInt("replyCacheSize", 1, INT32_MAX).value_or(s.reply_cache_size));
  s.reply_idle_ms = options.OptionalInt("replyIdleMs", 0, INT32_MAX).value_or(s.reply_idle_ms);
  if (const auto mark = options.OptionalInt("mark", 0, UINT32_MAX)) s.mark = static_cast<uint32_t>(*mark);
  s.max_batches = static_cast<int>(options.OptionalInt("maxBatchesPerWakeup", 1, INT32_MAX).value_or(s.max_batches));
  s.max_sessions =
      static_cast<size_t>(options.OptionalInt("maxSessions", 1, INT32_MAX).value_or(s.max_sessions));
  s.session_idle_ms = options.OptionalInt("sessionIdleMs", 1, INT32_MAX).value_or(s.session_idle_ms);
  if (!info[1].IsFunction()) ThrowInvalid(env, kClassName, "onBatch must be a function");
  if (!info[2].IsUndefined() && !info[2].IsFunction()) {
    ThrowInvalid(env, kClassName, "onSessionsClosed must be a function when given");
  }
  return s;
}

UniqueFd UdpTransparentSocket::OpenReceiver(Napi::Env env, const Settings& s) {
  const int family = s.bind.family();
  const bool dual_stack = family == AF_INET6 && !s.v6_only;
  UniqueFd fd = OpenSocket(env, family, SOCK_DGRAM);
  SetIntOption(env, fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
  if (family == AF_INET6) {
    SetIntOption(env, fd.get(), SOL_IPV6, IPV6_V6ONLY, s.v6_only ? 1 : 0, "IPV6_V6ONLY");
  }
  SetTransparent(env, fd.get(), family, dual_stack);
  // IPv4 datagrams (on a dual-stack socket too) report IP_ORIGDSTADDR; IPv6 ones IPV6_ORIGDSTADDR.
  if (family == AF_INET || dual_stack) {
    SetIntOption(env, fd.get(), SOL_IP, IP_RECVORIGDSTADDR, 1, "IP_RECVORIGDSTADDR");
  }
  if (family == AF_INET6) {
    SetIntOption(env, fd.get(), SOL_IPV6, IPV6_RECVORIGDSTADDR, 1, "IPV6_RECVORIGDSTADDR");
  }
  if (s.reuse_port) SetIntOption(env, fd.get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
  if (s.receive_buffer_size > 0) {
    SetIntOption(env, fd.get(), SOL_SOCKET, SO_RCVBUF, s.receive_buffer_size, "SO_RCVBUF");
  }
  Bind(env, fd.get(), s.bind);
  return fd;
}

UdpTransparentSocket::UdpTransparentSocket(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<UdpTransparentSocket>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  const Settings settings = ReadSettings(info);
  UniqueFd fd = OpenReceiver(env, settings);

  // The loop of the calling thread (a worker's own loop in worker_threads).
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "UdpTransparentSocket: no libuv event loop for this environment");
  }
  int error = 0;
  UvHandle<uv_poll_t> poll = MakePoll(loop, fd.get(), &error);
  if (!poll) ThrowErrno(env, -error, "uv_poll_init", EndpointString(settings.bind));
  // A worker's teardown closes the socket and waits for the poll's close callback.
  if (!poll.GuardTeardown(env, OnEnvTeardown, this)) {
    throw Napi::Error::New(env, "UdpTransparentSocket: cannot register an environment cleanup hook");
  }

  batch_ = std::make_unique<DatagramBatch>(settings.batch_size, settings.max_datagram_size);
  replies_ = std::make_unique<ReplyCache>(settings.reply_cache_size,
                                          std::chrono::milliseconds(settings.reply_idle_ms), settings.mark);
  sessions_ = std::make_unique<UdpSessions>(loop, batch_.get(), settings.max_sessions,
                                            std::chrono::milliseconds(settings.session_idle_ms));
  // A quarter of the idle timeout (between 250 ms and 5 s): sessions end at
  // most that late.
  sweep_interval_ms_ = static_cast<uint64_t>(std::clamp<int64_t>(settings.session_idle_ms / 4, 250, 5000));
  // A session the remote refused ends now, not at the next regular sweep.
  sessions_->SetFailureHandler([this] { SweepSoon(); });
  async_context_ = std::make_unique<Napi::AsyncContext>(env, kClassName, info.This().As<Napi::Object>());
  max_batches_ = settings.max_batches;

  poll->data = this;
  error = uv_poll_start(poll.get(), UV_READABLE, OnPoll);
  if (error != 0) ThrowErrno(env, -error, "uv_poll_start", EndpointString(settings.bind));

  local_.length = sizeof local_.storage;
  if (::getsockname(fd.get(), local_.get(), &local_.length) != 0) ThrowErrno(env, errno, "getsockname");

  // Nothing below throws: from here on the socket is open.
  on_batch_ = Napi::Persistent(info[1].As<Napi::Function>());
  if (info[2].IsFunction()) on_sessions_closed_ = Napi::Persistent(info[2].As<Napi::Function>());
  fd_ = std::move(fd);
  poll_ = std::move(poll);
  open_ = true;
  // An open socket stays alive without a JS reference, like a listening
  // net.Server. The poll handle's cleanup hook closes it at env teardown.
  Ref();
}

UdpTransparentSocket::~UdpTransparentSocket() { Release(); }

void UdpTransparentSocket::Release() {
  if (!open_) return;
  open_ = false;
  poll_.Close();  // uv_close stops polling now; the memory goes in the close callback
  fd_.reset();    // after the poll: never close an fd that epoll still watches
  sweep_timer_.Close();
  sessions_.reset();  // closes each session's poll, then its upstream socket
  replies_->Clear();
  batch_.reset();
}

// The environment (a worker thread, or the main thread at exit) is going away
// with the socket still open: release everything; no JS may run now.
void UdpTransparentSocket::OnEnvTeardown(void* self) { static_cast<UdpTransparentSocket*>(self)->Release(); }

void UdpTransparentSocket::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<UdpTransparentSocket*>(handle->data);
  if (status < 0) {
    // Only when the fd went bad under us: stop, and say so rather than spin.
    uv_poll_stop(handle);
    Napi::Env env(self->env_);
    Napi::HandleScope scope(env);
    napi_fatal_exception(env, ErrnoError(env, -status, "uv_poll", "the UdpTransparentSocket fd").Value());
    return;
  }
  if ((events & UV_READABLE) != 0) self->Drain();
}

void UdpTransparentSocket::Drain() {
  Napi::Env env(env_);
  Napi::HandleScope outer(env);
  // A handle on our own JS object keeps it (and so `this`) alive while the
  // callback runs, even if the callback closes the socket.
  [[maybe_unused]] Napi::Object keep_alive = Value();
  for (int round = 0; round < max_batches_ && open_; ++round) {
    const int count = batch_->Receive(fd_.get());
    // -EAGAIN: drained. Other errors cannot be pending on an unconnected UDP
    // socket without IP_RECVERR; level-triggered polling retries anyway.
    if (count <= 0) return;
    const bool full = static_cast<size_t>(count) == batch_->capacity();
    Napi::HandleScope scope(env);
    if (!Deliver(env, count) || !full) return;
  }
}

bool UdpTransparentSocket::Deliver(Napi::Env env, int count) {
  Napi::Array datagrams;
  uint32_t delivered = 0;
  bool js_failed = false;
  const auto now = UdpSessions::Clock::now();
  for (size_t i = 0; i < static_cast<size_t>(count); ++i) {
    const sockaddr* destination = batch_->original_destination(i);
    if (batch_->truncated(i) || destination == nullptr) {
      ++counters_.receive_dropped;
      continue;
    }
    // A session JavaScript handed over: straight to its upstream socket.
    if (sessions_->Forward(batch_->source(i), destination, i, now)) continue;
    if (js_failed) continue;
    try {
      if (datagrams.IsEmpty()) datagrams = Napi::Array::New(env);
      const Endpoint src = FormatSockAddr(batch_->source(i));
      const Endpoint dst = FormatSockAddr(destination);
      Napi::Object datagram = Napi::Object::New(env);
      datagram.Set("data", Napi::Buffer<uint8_t>::Copy(env, batch_->data(i), batch_->size(i)));
      datagram.Set("srcAddress", Napi::String::New(env, src.address));
      datagram.Set("srcPort", Napi::Number::New(env, src.port));
      datagram.Set("dstAddress", Napi::String::New(env, dst.address));
      datagram.Set("dstPort", Napi::Number::New(env, dst.port));
      datagrams.Set(delivered++, datagram);
    } catch (const Napi::Error&) {
      // Only when JavaScript cannot run (teardown) or memory is short; the
      // attached sessions' datagrams below still go.
      js_failed = true;
    }
  }
  // The attached sessions' datagrams, one sendmmsg() per session.
  sessions_->Flush();
  if (js_failed) return false;
  if (delivered == 0) return true;
  counters_.received += delivered;
  ++counters_.batches;
  // Counters and buffers are already consistent: after an exception the next
  // wakeup carries on with what is left in the socket.
  return CallJs(env, on_batch_, datagrams);
}

bool UdpTransparentSocket::CallJs(Napi::Env env, const Napi::FunctionReference& fn, Napi::Value arg) {
  return sluice::CallJs(env, static_cast<napi_async_context>(*async_context_), Value(), fn.Value(), {arg});
}

Napi::Value UdpTransparentSocket::Fd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), open_ ? fd_.get() : -1);
}

std::pair<SockAddr, SockAddr> UdpTransparentSocket::ReadEndpoints(const Napi::CallbackInfo& info, size_t index,
                                                                   const char* fn, const char* address_a,
                                                                   const char* port_a, const char* address_b,
                                                                   const char* port_b) {
  Napi::Env env = info.Env();
  const std::string a_text = StringArg(info, index, fn, address_a);
  const auto a_port = static_cast<uint16_t>(IntArg(info, index + 1, fn, port_a, 1, 65535));
  const std::string b_text = StringArg(info, index + 2, fn, address_b);
  const auto b_port = static_cast<uint16_t>(IntArg(info, index + 3, fn, port_b, 1, 65535));
  std::pair<SockAddr, SockAddr> out{ParseSockAddrOrThrow(env, fn, a_text, a_port),
                                    ParseSockAddrOrThrow(env, fn, b_text, b_port)};
  if (out.first.family() != out.second.family()) {
    ThrowInvalid(env, fn, std::string(address_a) + " \"" + a_text + "\" and " + address_b + " \"" + b_text +
                              "\" are of different address families");
  }
  return out;
}

std::pair<int, std::shared_ptr<UniqueFd>> UdpTransparentSocket::ReplySocket(Napi::Env env, const SockAddr& from) {
  // A reply socket bound to the listener's own address would take the
  // listener's later datagrams (the newest bind wins): answer through the
  // listener itself, which is bound to exactly `from`.
  if (SameEndpoint(from, local_)) return {fd_.get(), nullptr};
  const auto now = ReplyCache::Clock::now();
  replies_->Sweep(now);
  std::shared_ptr<UniqueFd> owner = replies_->Acquire(env, from, now);
  const int fd = owner->get();
  return {fd, std::move(owner)};
}

Napi::Value UdpTransparentSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "send";
  if (!info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowInvalid(env, fn, "data must be a Buffer or Uint8Array");
  }
  const auto data = info[0].As<Napi::Uint8Array>();
  const auto [from, to] = ReadEndpoints(info, 1, fn, "fromAddress", "fromPort", "toAddress", "toPort");
  if (!open_) ThrowErrno(env, EBADF, "sendto", "the closed UdpTransparentSocket");

  const int fd = ReplySocket(env, from).first;
  ssize_t sent;
  do {
    sent = ::sendto(fd, data.Data(), data.ByteLength(), MSG_DONTWAIT, to.get(), to.length);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
      ++counters_.send_dropped;
      return Napi::Boolean::New(env, false);
    }
    ThrowErrno(env, errno, "sendto", EndpointString(to));
  }
  ++counters_.sent;
  return Napi::Boolean::New(env, true);
}

Napi::Value UdpTransparentSocket::AttachSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "attachSession";
  // The fd is ours from here on, also when this throws.
  UniqueFd upstream(static_cast<int>(IntArg(info, 5, fn, "upstreamFd", 0, INT32_MAX)));
  const double id = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(id >= 0)) ThrowInvalid(env, fn, "id must be a non-negative number");
  const auto [client, destination] =
      ReadEndpoints(info, 1, fn, "clientAddress", "clientPort", "dstAddress", "dstPort");
  if (!info[6].IsUndefined() && !info[6].IsArray()) ThrowInvalid(env, fn, "queued must be an array of Buffers");
  if (!open_) ThrowErrno(env, EBADF, fn, "the closed UdpTransparentSocket");

  auto [reply_fd, reply_owner] = ReplySocket(env, destination);
  std::vector<UdpSessions::Closed> evicted;
  const int error = sessions_->Add(id, client, destination, std::move(upstream), reply_fd, std::move(reply_owner),
                                   UdpSessions::Clock::now(), &evicted);
  if (error != 0) ThrowErrno(env, -error, "uv_poll_init", "the upstream socket of a UDP session");
  if (info[6].IsArray()) {
    const auto queued = info[6].As<Napi::Array>();
    for (uint32_t i = 0; i < queued.Length(); ++i) {
      const Napi::Value item = queued.Get(i);
      if (!item.IsTypedArray()) continue;
      const auto bytes = item.As<Napi::Uint8Array>();
      sessions_->SendQueued(id, bytes.Data(), bytes.ByteLength());
    }
  }
  EnsureSweeping();
  return ClosedToJs(env, evicted);
}

Napi::Value UdpTransparentSocket::DetachSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowInvalid(env, "detachSession", "id must be a number");
  UdpSessions::Closed closed;
  if (!open_ || !sessions_->Remove(info[0].As<Napi::Number>().DoubleValue(), "closed", &closed)) {
    return env.Undefined();
  }
  return ClosedToJs(env, {closed}).Get(0u);
}

Napi::Value UdpTransparentSocket::OldestSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double id = 0;
  UdpSessions::Clock::time_point last_active;
  if (!open_ || !sessions_->Oldest(&id, &last_active)) return env.Undefined();
  // Idle time rather than a time point: the steady clock means nothing to JavaScript.
  const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(UdpSessions::Clock::now() - last_active);
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", id);
  out.Set("idleMs", static_cast<double>(std::max<int64_t>(0, idle.count())));
  return out;
}

Napi::Value UdpTransparentSocket::ReadSessionBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowInvalid(env, "readSessionBytes", "id must be a number");
  if (info.Length() < 2 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    ThrowInvalid(env, "readSessionBytes", "out must be a Float64Array");
  }
  auto out = info[1].As<Napi::Float64Array>();
  size_t offset = 0;
  if (info.Length() > 2 && info[2].IsNumber()) offset = info[2].As<Napi::Number>().Uint32Value();
  if (offset + 2 > out.ElementLength()) ThrowInvalid(env, "readSessionBytes", "out has no room for two counters at offset");
  // Written in place: cheap enough to read every live session each second, as /traffic does.
  double up = 0;
  double down = 0;
  if (!open_ || !sessions_->Bytes(info[0].As<Napi::Number>().DoubleValue(), &up, &down)) return Napi::Boolean::New(env, false);
  out[offset] = up;
  out[offset + 1] = down;
  return Napi::Boolean::New(env, true);
}

void UdpTransparentSocket::EnsureSweeping() {
  if (sweep_timer_) return;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env_, &loop) != napi_ok || loop == nullptr) return;
  auto* timer = new uv_timer_t{};
  uv_timer_init(loop, timer);
  sweep_timer_.reset(timer);
  timer->data = this;
  // Sessions alone do not keep the process alive; the socket's poll does.
  uv_unref(reinterpret_cast<uv_handle_t*>(timer));
  uv_timer_start(timer, OnSweep, sweep_interval_ms_, sweep_interval_ms_);
}

void UdpTransparentSocket::SweepSoon() {
  EnsureSweeping();
  if (!sweep_timer_) return;
  uv_timer_start(sweep_timer_.get(), OnSweep, 0, sweep_interval_ms_);
}

void UdpTransparentSocket::OnSweep(uv_timer_t* handle) { static_cast<UdpTransparentSocket*>(handle->data)->SweepSessions(); }

void UdpTransparentSocket::SweepSessions() {
  if (!open_) return;
  std::vector<UdpSessions::Closed> closed;
  sessions_->Sweep(UdpSessions::Clock::now(), &closed);
  replies_->Sweep(ReplyCache::Clock::now());
  if (closed.empty() || on_sessions_closed_.IsEmpty()) return;
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  [[maybe_unused]] Napi::Object keep_alive = Value();
  Napi::Array records;
  try {
    records = ClosedToJs(env, closed);
  } catch (const Napi::Error&) {
    return;  // only when JavaScript cannot run (teardown) or memory is short
  }
  CallJs(env, on_sessions_closed_, records);
}

Napi::Value UdpTransparentSocket::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!open_) return Napi::Array::New(env);
  // The sessions' last byte counts, for the access log.
  std::vector<UdpSessions::Closed> closed;
  sessions_->Clear("shutdown", &closed);
  Release();
  on_batch_.Reset();  // drop the closures (and whatever they hold) now, not at GC
  on_sessions_closed_.Reset();
  Unref();
  return ClosedToJs(env, closed);
}

Napi::Value UdpTransparentSocket::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object stats = Napi::Object::New(env);
  stats.Set("received", counters_.received);
  stats.Set("batches", counters_.batches);
  stats.Set("sent", counters_.sent);
  stats.Set("sendDropped", counters_.send_dropped);
  stats.Set("receiveDropped", counters_.receive_dropped);
  stats.Set("replySockets", static_cast<double>(open_ ? replies_->size() : 0));
  const UdpSessions::Counters none;
  const UdpSessions::Counters& relayed = open_ ? sessions_->counters() : none;
  stats.Set("sessions", static_cast<double>(open_ ? sessions_->size() : 0));
  stats.Set("forwarded", relayed.forwarded);
  stats.Set("forwardCalls", relayed.forward_calls);
  stats.Set("forwardDropped", relayed.forward_dropped);
  stats.Set("replied", relayed.replied);
  stats.Set("replyDropped", relayed.reply_dropped);
  return stats;
}

Napi::Function UdpTransparentSocket::DefineClass(Napi::Env env) {
  return ObjectWrap<UdpTransparentSocket>::DefineClass(
      env, kClassName,
      {
          InstanceAccessor<&UdpTransparentSocket::Fd>("fd"),
          InstanceMethod<&UdpTransparentSocket::Send>("send"),
          InstanceMethod<&UdpTransparentSocket::Close>("close"),
          InstanceMethod<&UdpTransparentSocket::Stats>("stats"),
          InstanceMethod<&UdpTransparentSocket::AttachSession>("attachSession"),
          InstanceMethod<&UdpTransparentSocket::DetachSession>("detachSession"),
          InstanceMethod<&UdpTransparentSocket::OldestSession>("oldestSession"),
          InstanceMethod<&UdpTransparentSocket::ReadSessionBytes>("readSessionBytes"),
      });
}

void InitUdpSocket(Napi::Env env, Napi::Object exports) {
  exports.Set(kClassName, UdpTransparentSocket::DefineClass(env));
}

}  // namespace sluice
