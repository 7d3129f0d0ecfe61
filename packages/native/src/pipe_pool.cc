#include "pipe_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

namespace sluice {
namespace {

struct Entry {
  napi_env env;
  std::shared_ptr<PipePool> pool;
};

// The pools of the environments of this thread (one, but for embedders), so
// no lock: an environment lives on one thread. A plain pointer, never freed
// by the thread's exit, because a thread_local with a destructor could run
// after the loop is gone; entries leave at their environment's teardown.
thread_local std::vector<Entry>* registry = nullptr;

}  // namespace

std::shared_ptr<PipePool> PipePool::ForEnv(napi_env env, uv_loop_t* loop) {
  if (registry == nullptr) registry = new std::vector<Entry>();
  for (const Entry& entry : *registry) {
    if (entry.env == env) return entry.pool;
  }
  auto pool = std::make_shared<PipePool>(loop);
  // Teardown closes the free pipes (OnTeardown) and waits for the timer's
  // close callback. Registered now, before the hook of the relay asking for
  // the pool, and hooks run last-in first-out: the relays of this
  // environment let go of their pipes first.
  if (!pool->timer_.GuardTeardown(env, OnTeardown, pool.get())) {
    throw Napi::Error::New(Napi::Env(env), "SpliceRelay: cannot register an environment cleanup hook");
  }
  registry->push_back({env, pool});
  return pool;
}

PipePool* PipePool::Find(napi_env env) {
  if (registry == nullptr) return nullptr;
  for (const Entry& entry : *registry) {
    if (entry.env == env) return entry.pool.get();
  }
  return nullptr;
}

PipePool::PipePool(uv_loop_t* loop) : loop_(loop) {
  free_.reserve(kMaxFree + 1);
  auto timer = std::make_unique<uv_timer_t>();
  uv_timer_init(loop_, timer.get());  // cannot fail
  timer->data = this;
  // The pool never keeps its loop alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(timer.get()));
  timer_.reset(timer.release());
}

PipePool::~PipePool() = default;  // the pipes close with free_, the timer with timer_

int PipePool::Acquire(size_t grown_capacity, Pipe* out) {
  // Newest first: the pipe a direction just gave back is the one it gets
  // again. A grown pipe only for its own capacity, never for a direction that
  // asks for the default (which keeps the growth policy: small first).
  for (int pass = grown_capacity != 0 ? 0 : 1; pass < 2; ++pass) {
    for (size_t i = free_.size(); i-- > 0;) {
      const Pipe& pipe = free_[i].pipe;
      const bool match = pass == 0 ? pipe.grown && pipe.capacity == grown_capacity : !pipe.grown;
      if (!match) continue;
      *out = std::move(free_[i].pipe);
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
      if (free_.empty()) uv_timer_stop(timer_.get());
      ++stats_.reused;
      ++stats_.in_use;
      return 0;
    }
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    const int err = errno;
    ++stats_.failed;
    return err;
  }
  Pipe pipe;
  pipe.read_end.reset(fds[0]);
  pipe.write_end.reset(fds[1]);
  // 64 KiB normally; 2 pages for a user past fs.pipe-user-pages-soft.
  const int capacity = ::fcntl(fds[1], F_GETPIPE_SZ);
  if (capacity <= 0) {
    const int err = capacity < 0 ? errno : EINVAL;
    ++stats_.failed;
    return err;  // the fds close with `pipe`
  }
  pipe.capacity = static_cast<size_t>(capacity);
  *out = std::move(pipe);
  ++stats_.opened;
  ++stats_.in_use;
  return 0;
}

void PipePool::Release(Pipe&& pipe) {
  if (!pipe.valid()) return;
  if (stats_.in_use > 0) --stats_.in_use;
  if (closed_) {
    Pipe doomed = std::move(pipe);
    ++stats_.closed;
    return;
  }
  const bool grown = pipe.grown;
  free_.push_back({std::move(pipe), uv_now(loop_)});
  if (grown) {
    const auto grown_count = static_cast<size_t>(
        std::count_if(free_.begin(), free_.end(), [](const Free& f) { return f.pipe.grown; }));
    if (grown_count > kMaxFreeGrown) {
      const auto oldest = std::find_if(free_.begin(), free_.end(), [](const Free& f) { return f.pipe.grown; });
      CloseAt(static_cast<size_t>(oldest - free_.begin()));
    }
  }
  if (free_.size() > kMaxFree) CloseAt(0);
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(timer_.get())) == 0) {
    uv_timer_start(timer_.get(), OnTimer, kIdleCloseMs, 0);
  }
}

void PipePool::Discard(Pipe&& pipe) {
  if (!pipe.valid()) return;
  if (stats_.in_use > 0) --stats_.in_use;
  Pipe doomed = std::move(pipe);
  ++stats_.closed;
}

size_t PipePool::Trim() {
  const size_t count = free_.size();
  stats_.closed += static_cast<double>(count);
  free_.clear();
  if (timer_) uv_timer_stop(timer_.get());
  return count;
}

PipePool::Stats PipePool::GetStats() const {
  Stats stats = stats_;
  stats.free = free_.size();
  stats.free_grown = static_cast<size_t>(
      std::count_if(free_.begin(), free_.end(), [](const Free& f) { return f.pipe.grown; }));
  return stats;
}

void PipePool::CloseAt(size_t index) {
  free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(index));
  ++stats_.closed;
}

void PipePool::CloseIdle() {
  const uint64_t now = uv_now(loop_);
  while (!free_.empty() && now - free_.front().since >= kIdleCloseMs) CloseAt(0);
  if (!free_.empty()) uv_timer_start(timer_.get(), OnTimer, free_.front().since + kIdleCloseMs - now, 0);
}

void PipePool::OnTimer(uv_timer_t* timer) { static_cast<PipePool*>(timer->data)->CloseIdle(); }

void PipePool::OnTeardown(void* self) {
  auto* pool = static_cast<PipePool*>(self);
  // Out of the registry, but alive until this returns (and longer if a relay
  // still holds it: what it gives back then is closed).
  std::shared_ptr<PipePool> keep;
  if (registry != nullptr) {
    for (auto it = registry->begin(); it != registry->end(); ++it) {
      if (it->pool.get() != pool) continue;
      keep = std::move(it->pool);
      registry->erase(it);
      break;
    }
    if (registry->empty()) {
      delete registry;
      registry = nullptr;
    }
  }
  pool->closed_ = true;
  pool->Trim();
  pool->timer_.Close();  // the guard then waits for its close callback
}

}  // namespace sluice
