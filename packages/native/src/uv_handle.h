// RAII ownership of a libuv handle.
//
// Closing a uv handle is asynchronous: its memory must outlive uv_close()
// until the close callback, which frees it. That callback is code of this
// addon, and tearing down a worker thread's environment unloads addons; so a
// handle can also be guarded (GuardTeardown) with an async cleanup hook that
// makes the teardown wait for its close callback, and lets the owner release
// its resources first. (binding.gyp also links with -z nodelete as a safety net.)
#pragma once

#include <node_api.h>
#include <uv.h>

#include <utility>

namespace sluice {

template <typename T>
class UvHandle {
 public:
  // Called when the environment is torn down while the handle is open; the
  // owner releases what it holds (and may Close() the handle itself).
  using TeardownFn = void (*)(void* owner);

  UvHandle() = default;
  // Adopts a handle allocated with `new` on which uv_*_init succeeded.
  explicit UvHandle(T* initialised) : handle_(initialised) {}
  UvHandle(UvHandle&& other) noexcept { *this = std::move(other); }
  UvHandle& operator=(UvHandle&& other) noexcept {
    if (this != &other) {
      Close();
      handle_ = other.handle_;
      guard_ = other.guard_;
      other.handle_ = nullptr;
      other.guard_ = nullptr;
    }
    return *this;
  }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  ~UvHandle() { Close(); }

  T* get() const { return handle_; }
  T* operator->() const { return handle_; }
  explicit operator bool() const { return handle_ != nullptr; }

  // Registers an async cleanup hook on `env` for this handle: at teardown
  // `on_teardown(owner)` runs (if the handle is still open), the handle is
  // closed, and the teardown waits for the close callback. Returns false if
  // Node refused the hook.
  bool GuardTeardown(napi_env env, TeardownFn on_teardown, void* owner) {
    if (handle_ == nullptr || guard_ != nullptr) return false;
    auto* guard = new Guard{handle_, nullptr, on_teardown, owner, false};
    if (napi_add_async_cleanup_hook(env, OnEnvTeardown, guard, &guard->hook) != napi_ok) {
      delete guard;
      return false;
    }
    guard_ = guard;
    return true;
  }

  // Starts uv_close() (which stops the handle at once); the memory is freed,
  // and the cleanup hook released, in the close callback. Idempotent.
  void Close() {
    if (handle_ == nullptr) return;
    if (guard_ != nullptr) {
      guard_->on_teardown = nullptr;  // the owner may be gone before the callback
      if (!guard_->closing) StartClose(handle_, guard_);
    } else {
      StartClose(handle_, nullptr);
    }
    handle_ = nullptr;
    guard_ = nullptr;
  }

  // unique_ptr-style spelling: closes the current handle, adopts `initialised`.
  void reset(T* initialised = nullptr) {
    Close();
    handle_ = initialised;
  }

 private:
  struct Guard {
    T* handle;
    napi_async_cleanup_hook_handle hook;
    TeardownFn on_teardown;
    void* owner;
    bool closing;
  };

  static void StartClose(T* handle, Guard* guard) {
    if (guard != nullptr) guard->closing = true;
    // After uv_close() libuv calls nothing but the close callback, so `data`
    // can carry the guard there.
    handle->data = guard;
    uv_close(reinterpret_cast<uv_handle_t*>(handle), OnClosed);
  }

  static void OnClosed(uv_handle_t* handle) {
    auto* guard = static_cast<Guard*>(handle->data);
    delete reinterpret_cast<T*>(handle);
    if (guard == nullptr) return;
    napi_async_cleanup_hook_handle hook = guard->hook;
    delete guard;
    // Unregisters the hook or, when teardown already started it, tells the
    // environment this handle is done.
    napi_remove_async_cleanup_hook(hook);
  }

  static void OnEnvTeardown(napi_async_cleanup_hook_handle, void* arg) {
    auto* guard = static_cast<Guard*>(arg);
    if (guard->on_teardown != nullptr) guard->on_teardown(guard->owner);  // may Close()
    if (!guard->closing) StartClose(guard->handle, guard);
  }

  T* handle_ = nullptr;
  Guard* guard_ = nullptr;
};

// uv_poll_init on `fd`; an empty handle, with *error set (a negative libuv
// error), when libuv refuses, for example UV_EEXIST when this loop already
// polls the fd.
inline UvHandle<uv_poll_t> MakePoll(uv_loop_t* loop, int fd, int* error) {
  auto* handle = new uv_poll_t{};
  *error = uv_poll_init(loop, handle, fd);
  if (*error != 0) {
    delete handle;  // never initialised, so no uv_close()
    return UvHandle<uv_poll_t>();
  }
  return UvHandle<uv_poll_t>(handle);
}

}  // namespace sluice
