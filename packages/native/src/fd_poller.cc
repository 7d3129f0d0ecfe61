#include "fd_poller.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <string.h>

#include <string>
#include <utility>

namespace sluice {
namespace {

struct Entry {
  napi_env env;
  std::shared_ptr<FdPoller> poller;
};

// As PipePool's registry: the pollers of this thread's environments, no lock.
thread_local std::vector<Entry>* registry = nullptr;

// Events taken per epoll_wait; more wait for the next loop iteration.
constexpr int kBatch = 256;

uint64_t Pack(int fd, uint32_t generation) { return (static_cast<uint64_t>(generation) << 32) | static_cast<uint32_t>(fd); }

}  // namespace

std::shared_ptr<FdPoller> FdPoller::ForEnv(napi_env env, uv_loop_t* loop) {
  if (registry == nullptr) registry = new std::vector<Entry>();
  for (const Entry& entry : *registry) {
    if (entry.env == env) return entry.poller;
  }
  UniqueFd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd.valid()) throw Napi::Error::New(Napi::Env(env), std::string("epoll_create1: ") + strerror(errno));
  auto poller = std::make_shared<FdPoller>(loop, std::move(epoll_fd));
  if (!poller->poll_) throw Napi::Error::New(Napi::Env(env), "FdPoller: uv_poll_init or uv_poll_start on the epoll fd failed");
  // Hooks run last-in first-out: the owners registered after this one let go first.
  if (!poller->poll_.GuardTeardown(env, OnTeardown, poller.get())) {
    throw Napi::Error::New(Napi::Env(env), "FdPoller: cannot register an environment cleanup hook");
  }
  registry->push_back({env, poller});
  return poller;
}

FdPoller::FdPoller(uv_loop_t* loop, UniqueFd epoll_fd) : loop_(loop), epoll_fd_(std::move(epoll_fd)) {
  int error = 0;
  poll_ = MakePoll(loop_, epoll_fd_.get(), &error);
  if (!poll_) return;
  poll_->data = this;
  if (uv_poll_start(poll_.get(), UV_READABLE, OnReady) != 0) {
    poll_.Close();  // ForEnv sees no poll and throws
    return;
  }
  // Only watched sockets keep the loop alive, as their own uv_polls did.
  uv_unref(reinterpret_cast<uv_handle_t*>(poll_.get()));
}

FdPoller::~FdPoller() = default;  // the poll closes with poll_, then the epoll fd with epoll_fd_

void FdPoller::OnTeardown(void* self) {
  auto* poller = static_cast<FdPoller*>(self);
  // Out of the registry, but alive until this returns (and longer while an
  // owner still holds it; nothing is dispatched any more).
  std::shared_ptr<FdPoller> keep;
  if (registry != nullptr) {
    for (auto it = registry->begin(); it != registry->end(); ++it) {
      if (it->poller.get() != poller) continue;
      keep = std::move(it->poller);
      registry->erase(it);
      break;
    }
    if (registry->empty()) {
      delete registry;
      registry = nullptr;
    }
  }
  poller->poll_.Close();  // the guard then waits for its close callback
}

FdPoller::Slot& FdPoller::SlotFor(int fd) {
  if (static_cast<size_t>(fd) >= slots_.size()) slots_.resize(static_cast<size_t>(fd) + 64);
  return slots_[static_cast<size_t>(fd)];
}

int FdPoller::Control(int op, int fd, uint32_t events, uint32_t generation) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = Pack(fd, generation);
  return ::epoll_ctl(epoll_fd_.get(), op, fd, &ev) == 0 ? 0 : -errno;
}

int FdPoller::Watch(int fd, uint32_t events, Watcher* owner) {
  if (fd < 0) return -EBADF;
  Slot& slot = SlotFor(fd);
  if (slot.owner != owner) {
    // A new owner: events still queued for the previous one must not reach it.
    ++slot.generation;
    if (slot.owner == nullptr) {
      if (owners_++ == 0 && poll_) uv_ref(reinterpret_cast<uv_handle_t*>(poll_.get()));
    }
    slot.owner = owner;
    slot.events = slot.registered ? ~0u : 0;  // force a MOD with the new generation
  }
  if (events == 0) {
    if (slot.registered) {
      const int err = Control(EPOLL_CTL_DEL, fd, 0, slot.generation);
      if (err != 0 && err != -ENOENT && err != -EBADF) return err;
    }
    slot.registered = false;
    slot.events = 0;
    return 0;
  }
  if (slot.registered && slot.events == events) return 0;
  int err;
  if (slot.registered) {
    err = Control(EPOLL_CTL_MOD, fd, events, slot.generation);
    // Closed (and maybe reopened as another socket) since it was registered.
    if (err == -ENOENT) err = Control(EPOLL_CTL_ADD, fd, events, slot.generation);
  } else {
    err = Control(EPOLL_CTL_ADD, fd, events, slot.generation);
    if (err == -EEXIST) err = Control(EPOLL_CTL_MOD, fd, events, slot.generation);
  }
  if (err != 0) {
    slot.registered = false;
    slot.events = 0;
    return err;
  }
  slot.registered = true;
  slot.events = events;
  return 0;
}

void FdPoller::Forget(int fd, Release how) {
  if (fd < 0 || static_cast<size_t>(fd) >= slots_.size()) return;
  Slot& slot = slots_[static_cast<size_t>(fd)];
  if (how == Release::kDeregister && slot.registered) (void)Control(EPOLL_CTL_DEL, fd, 0, slot.generation);
  if (how != Release::kPark) slot.registered = false;
  if (slot.owner != nullptr) {
    slot.owner = nullptr;
    if (--owners_ == 0 && poll_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_.get()));
  }
  ++slot.generation;
  slot.events = slot.registered ? ~0u : 0;
}

void FdPoller::OnReady(uv_poll_t* handle, int status, int) {
  if (status < 0) return;  // an epoll fd reports no errors worth stopping for
  static_cast<FdPoller*>(handle->data)->Dispatch();
}

void FdPoller::Dispatch() {
  epoll_event events[kBatch];
  int n;
  do {
    n = ::epoll_wait(epoll_fd_.get(), events, kBatch, 0);
  } while (n < 0 && errno == EINTR);
  for (int i = 0; i < n; ++i) {
    const int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
    const auto generation = static_cast<uint32_t>(events[i].data.u64 >> 32);
    // By index every time: an owner's callback may watch new fds (and grow the table).
    if (static_cast<size_t>(fd) >= slots_.size()) continue;
    const Slot& slot = slots_[static_cast<size_t>(fd)];
    if (slot.owner == nullptr || slot.generation != generation) continue;
    slot.owner->OnFdEvents(fd, events[i].events);
  }
}

}  // namespace sluice
