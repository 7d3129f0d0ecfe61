// FdPoller: one epoll set per environment for the sockets of the TCP fast
// path (TcpDial, SpliceRelay), watched by a single uv_poll on its epoll fd.
//
// A uv_poll per socket costs, per flow and socket, uv_poll_init's probe
// (epoll_ctl ADD + DEL and ioctl(FIONBIO)), an epoll_ctl DEL at every
// uv_poll_start (uv__platform_invalidate_fd) before the deferred ADD/MOD, and
// a DEL at stop and close.
// Here a socket costs an ADD when first watched, a MOD when its interest
// changes, a DEL when it drops to none (a shut socket reports EPOLLHUP even
// then), and nothing at close: closing the only fd of a file takes it out of
// the set. A dialled socket stays registered (disabled, EPOLLONESHOT) when the
// relay takes it over, which then re-arms it with one MOD.
//
// Events name the fd and a generation (epoll_event.data), looked up in a
// table indexed by fd: a socket closed or handed over while its events are in
// the batch being dispatched is skipped, never delivered to a freed owner or to
// the next owner of the fd number.
#pragma once

#include <napi.h>
#include <sys/epoll.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "unique_fd.h"
#include "uv_handle.h"

namespace sluice {

class FdPoller {
 public:
  class Watcher {
   public:
    // `events`: epoll bits (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP).
    virtual void OnFdEvents(int fd, uint32_t events) = 0;

   protected:
    ~Watcher() = default;
  };

  // This environment's poller, made on first use. Throws a Napi::Error when
  // epoll or the cleanup hook cannot be had.
  static std::shared_ptr<FdPoller> ForEnv(napi_env env, uv_loop_t* loop);

  explicit FdPoller(uv_loop_t* loop, UniqueFd epoll_fd);
  ~FdPoller();
  FdPoller(const FdPoller&) = delete;
  FdPoller& operator=(const FdPoller&) = delete;

  // Delivers `events` of `fd` to `owner` from now on; events == 0 takes the
  // fd out of the set (the owner keeps it). 0, or a negative errno.
  int Watch(int fd, uint32_t events, Watcher* owner);
  // How an owner lets go of an fd (see Forget).
  enum class Release {
    // The owner closes the fd now and it is the file's only one: closing
    // takes it out of the set, no system call needed.
    kClose,
    // Out of the set now (epoll_ctl DEL): the file stays open elsewhere (a
    // dup, a socket Node still holds).
    kDeregister,
    // Left in the set as it is: a disabled EPOLLONESHOT registration that the
    // next owner re-arms with one MOD.
    kPark,
  };
  // The owner lets go of `fd` (before closing it or handing it over): no
  // more events for it reach the owner.
  void Forget(int fd, Release how);

  // Watched sockets (for tests and stats).
  size_t watching() const { return owners_; }

 private:
  struct Slot {
    Watcher* owner = nullptr;
    uint32_t generation = 0;
    uint32_t events = 0;       // as registered (0 when not in the set)
    bool registered = false;  // believed to be in the set (it may have been closed since)
  };

  static void OnReady(uv_poll_t* handle, int status, int events);
  static void OnTeardown(void* self);
  void Dispatch();
  Slot& SlotFor(int fd);
  int Control(int op, int fd, uint32_t events, uint32_t generation);

  uv_loop_t* loop_;
  UniqueFd epoll_fd_;
  UvHandle<uv_poll_t> poll_;
  std::vector<Slot> slots_;
  size_t owners_ = 0;  // slots with an owner: while > 0 the poll keeps the loop alive
};

}  // namespace sluice
