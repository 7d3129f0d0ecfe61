// PipePool: the kernel pipes of the splice relays of one environment (the
// main thread, or one worker thread), lent to a relay direction only while it
// has bytes in flight.
//
// A spliced flow moves bytes socket -> pipe -> socket, but needs the pipe
// only while bytes sit in it. A relay direction takes a pipe when its socket
// turns readable and gives it back as soon as everything spliced in has been
// spliced out, so an idle flow holds only its two sockets, and a short
// request/response takes the same pipe back again and again with neither
// pipe2() nor close(). The pool keeps at most kMaxFree empty pipes (at most
// kMaxFreeGrown of them grown past the default size) and closes those left
// unused for kIdleCloseMs; everything closes at environment teardown.
#pragma once

#include <node_api.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "unique_fd.h"
#include "uv_handle.h"

namespace sluice {

// One non-blocking, close-on-exec kernel pipe.
struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
  size_t capacity = 0;  // F_GETPIPE_SZ, or what F_SETPIPE_SZ granted
  bool grown = false;   // resized with F_SETPIPE_SZ: lent only for that capacity

  bool valid() const { return write_end.valid(); }
};

class PipePool {
 public:
  // Free pipes kept for reuse; beyond, the least recently returned closes.
  static constexpr size_t kMaxFree = 16;
  // Of those, grown ones: each holds (and counts against the per-user
  // fs.pipe-user-pages quota) its whole capacity, 1 MiB by default.
  static constexpr size_t kMaxFreeGrown = 4;
  // A free pipe unused for this long is closed: a quiet process holds no pipe.
  static constexpr uint64_t kIdleCloseMs = 5000;

  struct Stats {
    size_t free = 0;        // empty pipes waiting in the pool
    size_t free_grown = 0;  // of which grown
    size_t in_use = 0;      // pipes lent to relay directions now
    double opened = 0;      // pipe2() calls that succeeded, ever
    double reused = 0;      // loans served from the pool, without pipe2()
    double closed = 0;      // pipes closed: over the cap, unused, or with bytes left in them
    double failed = 0;      // pipe2() failures (EMFILE, ENFILE, ENOMEM)
  };

  // The pool of `env`, made on first use (its teardown hook then registered,
  // before that of the relay asking, so it runs after the relays'). Throws a
  // Napi::Error when Node refuses the cleanup hook.
  static std::shared_ptr<PipePool> ForEnv(napi_env env, uv_loop_t* loop);
  // The pool of `env` if one was made, else null.
  static PipePool* Find(napi_env env);

  explicit PipePool(uv_loop_t* loop);
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // Lends a pipe: with `grown_capacity` nonzero, a free pipe grown to exactly
  // that capacity if there is one; otherwise a free default-size pipe, or a
  // new one. Returns 0, or the errno of pipe2() (nothing lent).
  int Acquire(size_t grown_capacity, Pipe* out);
  // Takes back a lent pipe that holds no bytes (the caller knows: it counts
  // what it spliced in and out).
  void Release(Pipe&& pipe);
  // Closes a lent pipe that may hold bytes: never lent again.
  void Discard(Pipe&& pipe);
  // Closes every free pipe now; returns how many.
  size_t Trim();
  Stats GetStats() const;

 private:
  struct Free {
    Pipe pipe;
    uint64_t since;  // uv_now() when it was returned
  };

  static void OnTimer(uv_timer_t* timer);
  static void OnTeardown(void* self);
  void CloseAt(size_t index);
  void CloseIdle();

  uv_loop_t* loop_;
  // Oldest first: returns append, loans take from the back (the most recently
  // used pipe), so the front is always the longest unused.
  std::vector<Free> free_;
  UvHandle<uv_timer_t> timer_;  // closes idle free pipes; unref'ed
  bool closed_ = false;         // torn down: returned pipes are closed
  Stats stats_;
};

}  // namespace sluice
