// The one way this addon calls into JavaScript from the event loop (a poll
// or timer callback, never a JS call): safe while a worker thread is being
// terminated.
//
// Once Worker.terminate() has begun, the environment refuses to run
// JavaScript, and it can begin at any moment, from another thread. Calls then
// fail with napi_pending_exception but no exception is pending; node-addon-api
// turns such a failure into a C++ throw, and reporting it
// (napi_fatal_exception) in a dying environment aborts the process. So the
// call itself is raw N-API, and its failure is reported only when there is
// an exception to report.
#pragma once

#include <node_api.h>

#include <initializer_list>

namespace sluice {

// Calls `fn` with `args` and `recv` as `this`, in `context`. Returns true when
// it returned normally; false when it threw (the exception is then reported as
// any uncaught exception: 'uncaughtException', or exit) or when JavaScript
// cannot run any more (environment teardown: nothing is reported).
bool CallJs(napi_env env, napi_async_context context, napi_value recv, napi_value fn,
            std::initializer_list<napi_value> args);

// Whether JavaScript can run in `env` now (false once worker termination has
// begun). Asked before handing JavaScript something it must not lose (an
// fd): what it cannot receive stays the caller's to close. Termination can
// still begin right after; an fd is then lost to a dying worker at worst.
bool CanCallJs(napi_env env);

// Reports the pending exception, if any, as uncaught (after a node-addon-api
// call threw while building a callback's arguments). Never throws.
void ReportPendingException(napi_env env);

}  // namespace sluice
