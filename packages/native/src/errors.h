// Errors that cross into JavaScript: an `Error` with `code` (errno name),
// `errno` (positive number), `syscall`, and a message that says what to do.
#pragma once

#include <napi.h>

#include <string>

namespace sluice {

// The JS error for a failed system call. `subject` names what the call was
// about (an endpoint such as "127.0.0.1:15001", an interface, an fd) and is
// woven into the message.
Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall,
                       const std::string& subject = "");

// Throws ErrnoError as a C++ exception (node-addon-api turns it into a JS throw).
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const std::string& syscall,
                             const std::string& subject = "");

// Throws a TypeError with code EINVAL for a bad argument (an address string
// that is not an IP literal, a port out of range, a missing option). `where`
// is the API function or system call that rejected it.
[[noreturn]] void ThrowInvalid(Napi::Env env, const std::string& where,
                               const std::string& message);

}  // namespace sluice
