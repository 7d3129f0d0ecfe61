#include "js_callback.h"

namespace sluice {

void ReportPendingException(napi_env env) {
  bool pending = false;
  napi_value exception = nullptr;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exception) == napi_ok && exception != nullptr) {
    napi_fatal_exception(env, exception);
  }
}

bool CanCallJs(napi_env env) {
  // Setting a property on a fresh object runs nothing, but like every call
  // that could run JavaScript it is refused (napi_pending_exception) once the
  // environment is being terminated.
  napi_value object = nullptr;
  napi_value undefined = nullptr;
  if (napi_create_object(env, &object) != napi_ok || napi_get_undefined(env, &undefined) != napi_ok) return false;
  return napi_set_named_property(env, object, "probe", undefined) == napi_ok;
}

bool CallJs(napi_env env, napi_async_context context, napi_value recv, napi_value fn,
            std::initializer_list<napi_value> args) {
  napi_value result = nullptr;
  // An initializer_list's elements are contiguous: no copy.
  if (napi_make_callback(env, context, recv, fn, args.size(), args.begin(), &result) == napi_ok) return true;
  ReportPendingException(env);
  return false;
}

}  // namespace sluice
