#include "reply_cache.h"

#include <errno.h>
#include <sys/socket.h>

#include "socket_setup.h"

namespace sluice {

ReplyCache::ReplyCache(size_t capacity, std::chrono::milliseconds idle, std::optional<uint32_t> mark)
    : capacity_(capacity), idle_(idle), mark_(mark) {}

UniqueFd ReplyCache::Open(Napi::Env env, const SockAddr& from) const {
  UniqueFd fd = OpenSocket(env, from.family(), SOCK_DGRAM);
  SetTransparent(env, fd.get(), from.family(), false);
  // Several reply sockets (this process's, other workers') may share one
  // "from"; the listener itself may be bound to it too.
  SetIntOption(env, fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
  SetIntOption(env, fd.get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
  // Never read: keep the receive queue as small as the kernel allows.
  SetIntOption(env, fd.get(), SOL_SOCKET, SO_RCVBUF, 1, "SO_RCVBUF");
  if (mark_) SetMark(env, fd.get(), *mark_);
  // Bound but NOT connected: a connected transparent socket would match the
  // client's later datagrams as an established flow and steal them from the
  // TPROXY listener.
  Bind(env, fd.get(), from);
  // Marks the socket read-shut; on an unconnected UDP socket the kernel
  // reports ENOTCONN but still records the shutdown.
  ::shutdown(fd.get(), SHUT_RD);
  return fd;
}

const std::shared_ptr<UniqueFd>& ReplyCache::Acquire(Napi::Env env, const SockAddr& from, Clock::time_point now) {
  const std::string key = from.Key();
  const auto found = index_.find(key);
  if (found != index_.end()) {
    entries_.splice(entries_.begin(), entries_, found->second);
    found->second->last_used = now;
    return found->second->fd;
  }
  auto fd = std::make_shared<UniqueFd>(Open(env, from));
  while (!entries_.empty() && entries_.size() >= capacity_) {
    index_.erase(entries_.back().key);
    entries_.pop_back();
  }
  entries_.push_front(Entry{key, std::move(fd), now});
  index_[key] = entries_.begin();
  return entries_.front().fd;
}

void ReplyCache::Sweep(Clock::time_point now, bool force) {
  if (!force && now - last_sweep_ < std::chrono::seconds(1)) return;
  last_sweep_ = now;
  // Least recently used at the back: stop at the first one still fresh.
  while (!entries_.empty() && now - entries_.back().last_used > idle_) {
    index_.erase(entries_.back().key);
    entries_.pop_back();
  }
}

void ReplyCache::Clear() {
  index_.clear();
  entries_.clear();
}

}  // namespace sluice
