// Reading and validating arguments and option objects from JavaScript. Every
// failure throws a TypeError with code EINVAL naming the function and option.
#pragma once

#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>

namespace sluice {

// Reads options of one API function; `fn` prefixes every error message.
class OptionReader {
 public:
  OptionReader(Napi::Env env, const char* fn, const Napi::Value& options);

  std::string RequiredString(const char* key) const;
  std::optional<std::string> OptionalString(const char* key) const;
  // An integer in [min, max].
  std::optional<int64_t> OptionalInt(const char* key, int64_t min, int64_t max) const;
  int64_t RequiredInt(const char* key, int64_t min, int64_t max) const;
  bool Bool(const char* key, bool fallback) const;

 private:
  Napi::Value Get(const char* key) const;
  [[noreturn]] void Invalid(const char* key, const std::string& expected) const;

  Napi::Env env_;
  const char* fn_;
  Napi::Object options_;
};

// An integer argument in [min, max] at position `index`.
int64_t IntArg(const Napi::CallbackInfo& info, size_t index, const char* fn, const char* name,
               int64_t min, int64_t max);
// A string argument at position `index`.
std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* fn, const char* name);
// An fd argument (non-negative integer) at position 0.
int FdArg(const Napi::CallbackInfo& info, const char* fn);

}  // namespace sluice
