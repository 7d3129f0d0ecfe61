// The native UDP sessions of a TPROXY socket. Once JavaScript has routed a
// session (client endpoint + original destination) to an outbound that is a
// plain connected UDP socket, its datagrams no longer enter JavaScript: the
// TPROXY socket's receive loop sends them on that upstream socket, and the
// upstream socket's replies are received in batches and sent back to the
// client with sendmmsg() from the original destination's reply socket.
// JavaScript opens and closes sessions; idle expiry and the size cap live here
// and are reported back as closed sessions with their byte counts.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "datagram_batch.h"
#include "sockaddr.h"
#include "unique_fd.h"
#include "uv_handle.h"

namespace sluice {

// A client endpoint and an original destination, IPv4-mapped IPv6 folded into
// IPv4, as bytes: the same session whichever socket family carried it.
struct SessionKey {
  uint8_t bytes[2 * 23];
  uint8_t size = 0;
  // False for a family other than AF_INET / AF_INET6.
  static bool Make(const sockaddr* client, const sockaddr* destination, SessionKey* out);
  bool operator==(const SessionKey& other) const;
};

struct SessionKeyHash {
  size_t operator()(const SessionKey& key) const;
};

class UdpSessions {
 public:
  using Clock = std::chrono::steady_clock;

  // A session that ended natively (idle, evicted) or was removed.
  struct Closed {
    double id;
    double up;    // payload bytes sent upstream by the native path
    double down;  // payload bytes sent back to the client
    const char* reason;
  };

  struct Counters {
    double forwarded = 0;        // datagrams sent upstream natively
    double forward_calls = 0;    // sendmmsg() calls that sent them
    double forward_dropped = 0;  // ... that the upstream socket refused (EAGAIN, ENOBUFS, ICMP errors)
    double replied = 0;          // replies sent to clients
    double reply_dropped = 0;    // ... that could not be sent, or were truncated
  };

  // `batch` is shared with the TPROXY socket's receive loop (never in use by
  // both at once: each runs to completion in the loop thread).
  UdpSessions(uv_loop_t* loop, DatagramBatch* batch, size_t capacity, std::chrono::milliseconds idle);
  ~UdpSessions();
  UdpSessions(const UdpSessions&) = delete;
  UdpSessions& operator=(const UdpSessions&) = delete;

  // Adds a session that owns `upstream` (a connected, non-blocking UDP
  // socket). Replies go to `client` through `reply_fd`, which `reply_owner`
  // keeps open (null when the fd outlives every session). A session with the
  // same key is replaced; sessions past the capacity are evicted, least
  // recently active first, into `evicted`. Returns 0, or a negative libuv
  // error when the upstream socket cannot be polled (nothing added).
  int Add(double id, const SockAddr& client, const SockAddr& destination, UniqueFd upstream, int reply_fd,
          std::shared_ptr<UniqueFd> reply_owner, Clock::time_point now, std::vector<Closed>* evicted);

  // Queues datagram `index` of the shared batch for its session's upstream
  // socket if `client` -> `destination` is a native session. Returns false
  // (nothing done) when it is not. Flush() sends what is queued.
  bool Forward(const sockaddr* client, const sockaddr* destination, size_t index, Clock::time_point now);

  // Sends the datagrams Forward() queued, one sendmmsg() per session, in
  // order. Must run before the shared batch receives again.
  void Flush();

  // Sends a datagram on session `id`'s upstream socket without counting it
  // (datagrams JavaScript queued, and counted, while the session was dialled).
  void SendQueued(double id, const uint8_t* data, size_t size);

  // Removes session `id` (closing its upstream socket). False if unknown.
  bool Remove(double id, const char* reason, Closed* out);

  // Closes sessions the remote refused (see SetFailureHandler) and sessions
  // idle past the timeout into `out`.
  void Sweep(Clock::time_point now, std::vector<Closed>* out);

  // Called (from the loop, never from inside a JavaScript call) when a
  // session's upstream socket reports an ICMP error: port, host or network
  // unreachable. Such a session is finished: the next Sweep() closes it with
  // `upstream: <errno name>` as its reason, so the owner should sweep soon.
  void SetFailureHandler(std::function<void()> handler) { on_failure_ = std::move(handler); }

  // Closes every session into `out` (which may be null).
  void Clear(const char* reason, std::vector<Closed>* out);

  // The least recently active session: its id and when it was last active.
  // False when there is none. JavaScript keeps one session cap for all
  // inbounds and both tables, and asks each table for its oldest to choose
  // what to close at the cap.
  bool Oldest(double* id, Clock::time_point* last_active) const;

  // The payload bytes session `id` has relayed so far, each way (what its
  // Closed record will carry). False, leaving `up` and `down`, when unknown.
  bool Bytes(double id, double* up, double* down) const;

  size_t size() const { return by_key_.size(); }
  const Counters& counters() const { return counters_; }
  std::chrono::milliseconds idle() const { return idle_; }

 private:
  struct Session {
    double id = 0;
    SessionKey key;
    SockAddr client;
    UdpSessions* owner = nullptr;
    int reply_fd = -1;
    std::shared_ptr<UniqueFd> reply_owner;
    Clock::time_point last_active;
    double up = 0;
    double down = 0;
    // Datagrams Forward() queued for this session since the last Flush(): a
    // chain through queued_ (kNone: none), so Flush() visits each once.
    size_t first_queued = kNone;
    size_t last_queued = kNone;
    // Set once the remote answered with an ICMP error: the close reason.
    const char* failure = nullptr;
    // Declared after the fd it polls, so it is closed first.
    UniqueFd upstream;
    UvHandle<uv_poll_t> poll;
  };
  using List = std::list<Session>;
  static constexpr size_t kNone = static_cast<size_t>(-1);
  // A datagram Forward() queued: its index in the batch, and the next one of the same session.
  struct Queued {
    size_t index;
    size_t next;
  };

  static void OnUpstream(uv_poll_t* handle, int status, int events);
  // sendmmsg() of the first `count` prepared headers on `s`'s upstream socket.
  void SendUpstream(Session* s, size_t count);
  // Receives the upstream socket's replies and sends them to the client.
  void Relay(Session* session);
  void Touch(List::iterator it, Clock::time_point now);
  // Marks `s` as ended by `error` (an errno from the upstream socket) and tells the owner.
  void Fail(Session* s, int error);
  Closed Erase(List::iterator it, const char* reason);

  uv_loop_t* loop_;
  DatagramBatch* batch_;
  size_t capacity_;
  std::chrono::milliseconds idle_;
  List lru_;  // most recently active first
  std::unordered_map<SessionKey, List::iterator, SessionKeyHash> by_key_;
  std::unordered_map<double, List::iterator> by_id_;
  std::vector<mmsghdr> out_headers_;
  std::vector<iovec> out_iovecs_;
  // What Forward() queued, in batch order, chained per session; and the
  // sessions that have some, in order of their first datagram. Both reserved
  // to the batch's capacity: Forward() and Flush() allocate nothing.
  std::vector<Queued> queued_;
  std::vector<Session*> flushing_;
  Counters counters_;
  // Ids of the sessions Fail() marked since the last Sweep().
  std::vector<double> failed_;
  std::function<void()> on_failure_;
};

}  // namespace sluice
