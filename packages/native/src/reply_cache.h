// The reply sockets of a UDP TPROXY socket: one transparent socket bound to
// each original destination ("from") that is answered, so replies leave with
// that exact source address and port. Least-recently used first out, with an
// idle expiry that is swept lazily.
#pragma once

#include <napi.h>

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "sockaddr.h"
#include "unique_fd.h"

namespace sluice {

class ReplyCache {
 public:
  using Clock = std::chrono::steady_clock;

  ReplyCache(size_t capacity, std::chrono::milliseconds idle, std::optional<uint32_t> mark);

  // The reply socket bound to `from`, opened (and the least recently used one
  // evicted) when missing. Throws a NativeError when it cannot be opened.
  // Shared: a native UDP session keeps its reply socket open even after the
  // cache has let it go.
  const std::shared_ptr<UniqueFd>& Acquire(Napi::Env env, const SockAddr& from, Clock::time_point now);
  // Closes sockets idle longer than the expiry; runs at most once a second
  // unless `force`.
  void Sweep(Clock::time_point now, bool force = false);
  void Clear();
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<UniqueFd> fd;
    Clock::time_point last_used;
  };
  UniqueFd Open(Napi::Env env, const SockAddr& from) const;

  size_t capacity_;
  std::chrono::milliseconds idle_;
  std::optional<uint32_t> mark_;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  Clock::time_point last_sweep_{};
};

}  // namespace sluice
