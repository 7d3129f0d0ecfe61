#include "udp_sessions.h"

#include <errno.h>
#include <sys/socket.h>

#include <cstring>
#include <string_view>

namespace sluice {
namespace {

// How many recvmmsg() batches one upstream wakeup may take before the loop
// gets a turn (as for the TPROXY socket itself).
constexpr int kMaxBatchesPerWakeup = 16;

// Appends one endpoint: 4, address (4 bytes), port; or 6, address (16), port, scope (4).
uint8_t* AppendEndpoint(const sockaddr* addr, uint8_t* out) {
  if (addr->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(addr);
    *out++ = 4;
    std::memcpy(out, &v4->sin_addr, 4);
    std::memcpy(out + 4, &v4->sin_port, 2);
    return out + 6;
  }
  if (addr->sa_family != AF_INET6) return nullptr;
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(addr);
  if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
    *out++ = 4;
    std::memcpy(out, &v6->sin6_addr.s6_addr[12], 4);
    std::memcpy(out + 4, &v6->sin6_port, 2);
    return out + 6;
  }
  *out++ = 6;
  std::memcpy(out, &v6->sin6_addr, 16);
  std::memcpy(out + 16, &v6->sin6_port, 2);
  std::memcpy(out + 18, &v6->sin6_scope_id, 4);
  return out + 22;
}

// The ICMP errors a connected UDP socket reports for an earlier datagram.
bool IsRemoteRefusal(int error) { return error == ECONNREFUSED || error == EHOSTUNREACH || error == ENETUNREACH; }

// The close reason of a session the remote refused (a static string: Closed keeps the pointer).
const char* RefusalReason(int error) {
  switch (error) {
    case ECONNREFUSED:
      return "upstream: ECONNREFUSED (port unreachable)";
    case EHOSTUNREACH:
      return "upstream: EHOSTUNREACH (host unreachable)";
    default:
      return "upstream: ENETUNREACH (network unreachable)";
  }
}

ssize_t SendRetrying(int fd, const uint8_t* data, size_t size) {
  ssize_t sent;
  int attempts = 0;
  do {
    sent = ::send(fd, data, size, MSG_DONTWAIT);
    // A connected UDP socket reports an earlier datagram's ICMP error on the
    // next send, which then did not go out: that error is consumed, so retry
    // once, as the client's own datagram deserves to be sent.
  } while (sent < 0 && (errno == EINTR || (errno == ECONNREFUSED && ++attempts == 1)));
  return sent;
}

}  // namespace

bool SessionKey::Make(const sockaddr* client, const sockaddr* destination, SessionKey* out) {
  uint8_t* end = AppendEndpoint(client, out->bytes);
  if (end == nullptr) return false;
  end = AppendEndpoint(destination, end);
  if (end == nullptr) return false;
  out->size = static_cast<uint8_t>(end - out->bytes);
  return true;
}

bool SessionKey::operator==(const SessionKey& other) const {
  return size == other.size && std::memcmp(bytes, other.bytes, size) == 0;
}

size_t SessionKeyHash::operator()(const SessionKey& key) const {
  return std::hash<std::string_view>()(std::string_view(reinterpret_cast<const char*>(key.bytes), key.size));
}

UdpSessions::UdpSessions(uv_loop_t* loop, DatagramBatch* batch, size_t capacity, std::chrono::milliseconds idle)
    : loop_(loop),
      batch_(batch),
      capacity_(capacity),
      idle_(idle),
      out_headers_(batch->capacity()),
      out_iovecs_(batch->capacity()) {
  queued_.reserve(batch->capacity());
  flushing_.reserve(batch->capacity());
}

UdpSessions::~UdpSessions() { Clear("closed", nullptr); }

int UdpSessions::Add(double id, const SockAddr& client, const SockAddr& destination, UniqueFd upstream,
                     int reply_fd, std::shared_ptr<UniqueFd> reply_owner, Clock::time_point now,
                     std::vector<Closed>* evicted) {
  SessionKey key;
  if (!SessionKey::Make(client.get(), destination.get(), &key)) return UV_EINVAL;
  int error = 0;
  UvHandle<uv_poll_t> poll = MakePoll(loop_, upstream.get(), &error);
  if (!poll) return error;

  const auto existing = by_key_.find(key);
  if (existing != by_key_.end()) evicted->push_back(Erase(existing->second, "replaced"));
  const auto same_id = by_id_.find(id);
  if (same_id != by_id_.end()) evicted->push_back(Erase(same_id->second, "replaced"));
  while (!lru_.empty() && lru_.size() >= capacity_) evicted->push_back(Erase(std::prev(lru_.end()), "session limit"));

  lru_.emplace_front();
  Session& s = lru_.front();
  s.id = id;
  s.key = key;
  s.client = client;
  s.owner = this;
  s.reply_fd = reply_fd;
  s.reply_owner = std::move(reply_owner);
  s.last_active = now;
  s.upstream = std::move(upstream);
  s.poll = std::move(poll);
  s.poll->data = &s;
  error = uv_poll_start(s.poll.get(), UV_READABLE, OnUpstream);
  if (error != 0) {
    lru_.pop_front();
    return error;
  }
  by_key_.emplace(key, lru_.begin());
  by_id_.emplace(id, lru_.begin());
  return 0;
}

bool UdpSessions::Forward(const sockaddr* client, const sockaddr* destination, size_t index, Clock::time_point now) {
  if (by_key_.empty()) return false;
  SessionKey key;
  if (!SessionKey::Make(client, destination, &key)) return false;
  const auto found = by_key_.find(key);
  if (found == by_key_.end()) return false;
  Session& session = *found->second;
  const size_t slot = queued_.size();
  queued_.push_back(Queued{index, kNone});
  if (session.last_queued == kNone) {
    session.first_queued = slot;
    flushing_.push_back(&session);
  } else {
    queued_[session.last_queued].next = slot;
  }
  session.last_queued = slot;
  Touch(found->second, now);
  return true;
}

void UdpSessions::Flush() {
  // Each session's datagrams, batch order kept, by following its chain: every
  // queued datagram is visited once (linear in the batch), nothing allocated.
  for (Session* s : flushing_) {
    size_t count = 0;
    for (size_t slot = s->first_queued; slot != kNone; slot = queued_[slot].next) {
      const size_t index = queued_[slot].index;
      out_iovecs_[count] = iovec{const_cast<uint8_t*>(batch_->data(index)), batch_->size(index)};
      out_headers_[count].msg_hdr = msghdr{};
      out_headers_[count].msg_hdr.msg_iov = &out_iovecs_[count];
      out_headers_[count].msg_hdr.msg_iovlen = 1;
      ++count;
    }
    s->first_queued = kNone;
    s->last_queued = kNone;
    SendUpstream(s, count);
  }
  flushing_.clear();
  queued_.clear();
}

void UdpSessions::SendUpstream(Session* s, size_t count) {
  size_t sent = 0;
  bool retried = false;
  while (sent < count) {
    const int n = ::sendmmsg(s->upstream.get(), &out_headers_[sent], static_cast<unsigned>(count - sent), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      // An earlier datagram's ICMP error is reported (and consumed) here,
      // without sending: try once more. Otherwise (EAGAIN, ENOBUFS) this
      // datagram is lost, as on a full link; the rest may still go.
      if (IsRemoteRefusal(errno) && !retried) {
        Fail(s, errno);
        retried = true;
        continue;
      }
      ++counters_.forward_dropped;
      ++sent;
      continue;
    }
    for (int k = 0; k < n; ++k) s->up += static_cast<double>(out_iovecs_[sent + k].iov_len);
    counters_.forwarded += n;
    ++counters_.forward_calls;
    sent += static_cast<size_t>(n);
  }
}

void UdpSessions::SendQueued(double id, const uint8_t* data, size_t size) {
  const auto found = by_id_.find(id);
  if (found == by_id_.end()) return;
  if (SendRetrying(found->second->upstream.get(), data, size) < 0) ++counters_.forward_dropped;
  else ++counters_.forwarded;
}

void UdpSessions::OnUpstream(uv_poll_t* handle, int status, int events) {
  auto* session = static_cast<Session*>(handle->data);
  if (status < 0) {
    // libuv reports a pending socket error (POLLERR) as UV_EBADF and stops
    // polling. On a connected UDP socket that is an ICMP error for an earlier
    // datagram; reading SO_ERROR consumes it.
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(session->upstream.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
      uv_poll_stop(handle);  // the fd really is bad: the idle sweep ends the session
      return;
    }
    if (IsRemoteRefusal(error)) {
      session->owner->Fail(session, error);
      return;
    }
    // Another error (say EMSGSIZE from a too-big ICMP), now consumed: keep relaying.
    if (uv_poll_start(handle, UV_READABLE, OnUpstream) != 0) uv_poll_stop(handle);
    return;
  }
  if ((events & UV_READABLE) != 0) session->owner->Relay(session);
}

void UdpSessions::Relay(Session* s) {
  const auto it = by_id_.find(s->id);
  for (int round = 0; round < kMaxBatchesPerWakeup; ++round) {
    const int count = batch_->Receive(s->upstream.get());
    // ICMP port unreachable (and the like) for an earlier datagram: the
    // remote has nothing listening there, so the session is over, with that
    // error in its access line rather than a clean idle timeout later.
    if (count < 0 && IsRemoteRefusal(-count)) {
      Fail(s, -count);
      break;
    }
    if (count <= 0) break;
    size_t ready = 0;
    for (size_t i = 0; i < static_cast<size_t>(count); ++i) {
      if (batch_->truncated(i)) {
        ++counters_.reply_dropped;
        continue;
      }
      out_iovecs_[ready] = iovec{const_cast<uint8_t*>(batch_->data(i)), batch_->size(i)};
      msghdr& header = out_headers_[ready].msg_hdr;
      header = msghdr{};
      header.msg_name = s->client.get();
      header.msg_namelen = s->client.length;
      header.msg_iov = &out_iovecs_[ready];
      header.msg_iovlen = 1;
      ++ready;
    }
    size_t sent = 0;
    while (sent < ready) {
      const int n = ::sendmmsg(s->reply_fd, &out_headers_[sent], static_cast<unsigned>(ready - sent), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        // The first unsent datagram failed (EAGAIN, ENOBUFS, a route gone):
        // it is lost, the rest may still go.
        ++counters_.reply_dropped;
        ++sent;
        continue;
      }
      for (int i = 0; i < n; ++i) s->down += static_cast<double>(out_iovecs_[sent + i].iov_len);
      counters_.replied += n;
      sent += static_cast<size_t>(n);
    }
    if (static_cast<size_t>(count) < batch_->capacity()) break;
  }
  if (it != by_id_.end()) Touch(it->second, Clock::now());
}

void UdpSessions::Fail(Session* s, int error) {
  if (s->failure != nullptr) return;
  s->failure = RefusalReason(error);
  failed_.push_back(s->id);
  if (on_failure_) on_failure_();
}

void UdpSessions::Touch(List::iterator it, Clock::time_point now) {
  it->last_active = now;
  if (it != lru_.begin()) lru_.splice(lru_.begin(), lru_, it);
}

UdpSessions::Closed UdpSessions::Erase(List::iterator it, const char* reason) {
  const Closed closed{it->id, it->up, it->down, reason};
  by_key_.erase(it->key);
  by_id_.erase(it->id);
  lru_.erase(it);  // closes the poll, then the upstream socket
  return closed;
}

bool UdpSessions::Bytes(double id, double* up, double* down) const {
  const auto found = by_id_.find(id);
  if (found == by_id_.end()) return false;
  *up = found->second->up;
  *down = found->second->down;
  return true;
}

bool UdpSessions::Remove(double id, const char* reason, Closed* out) {
  const auto found = by_id_.find(id);
  if (found == by_id_.end()) return false;
  *out = Erase(found->second, reason);
  return true;
}

void UdpSessions::Sweep(Clock::time_point now, std::vector<Closed>* out) {
  for (const double id : failed_) {
    const auto found = by_id_.find(id);
    // Gone already (removed, evicted), or the id reused by a fresh session.
    if (found == by_id_.end() || found->second->failure == nullptr) continue;
    out->push_back(Erase(found->second, found->second->failure));
  }
  failed_.clear();
  // Least recently active at the back: stop at the first one still fresh.
  while (!lru_.empty() && now - lru_.back().last_active >= idle_) {
    out->push_back(Erase(std::prev(lru_.end()), "idle timeout"));
  }
}

bool UdpSessions::Oldest(double* id, Clock::time_point* last_active) const {
  if (lru_.empty()) return false;
  *id = lru_.back().id;
  *last_active = lru_.back().last_active;
  return true;
}

void UdpSessions::Clear(const char* reason, std::vector<Closed>* out) {
  failed_.clear();
  while (!lru_.empty()) {
    const Closed closed = Erase(lru_.begin(), reason);
    if (out != nullptr) out->push_back(closed);
  }
}

}  // namespace sluice
