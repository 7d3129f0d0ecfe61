#include "args.h"

#include <cmath>

#include "errors.h"

namespace sluice {
namespace {

bool IsIntegerIn(const Napi::Value& value, int64_t min, int64_t max) {
  if (!value.IsNumber()) return false;
  const double number = value.As<Napi::Number>().DoubleValue();
  return std::isfinite(number) && std::trunc(number) == number && number >= static_cast<double>(min) &&
         number <= static_cast<double>(max);
}

// A string with an embedded NUL would be cut short by every C API it reaches
// ("127.0.0.1\0x" would bind 127.0.0.1): refused as a whole.
std::string CheckedString(Napi::Env env, const char* fn, const std::string& what, const Napi::Value& value) {
  std::string text = value.As<Napi::String>().Utf8Value();
  if (text.find('\0') != std::string::npos) ThrowInvalid(env, fn, what + " must not contain a NUL character");
  return text;
}

std::string Range(int64_t min, int64_t max) {
  return "an integer from " + std::to_string(min) + " to " + std::to_string(max);
}

}  // namespace

OptionReader::OptionReader(Napi::Env env, const char* fn, const Napi::Value& options)
    : env_(env), fn_(fn) {
  if (!options.IsObject()) ThrowInvalid(env, fn, "the options argument must be an object");
  options_ = options.As<Napi::Object>();
}

Napi::Value OptionReader::Get(const char* key) const { return options_.Get(key); }

void OptionReader::Invalid(const char* key, const std::string& expected) const {
  ThrowInvalid(env_, fn_, std::string("options.") + key + " must be " + expected);
}

std::string OptionReader::RequiredString(const char* key) const {
  const Napi::Value value = Get(key);
  if (!value.IsString()) Invalid(key, "a string");
  return CheckedString(env_, fn_, std::string("options.") + key, value);
}

std::optional<std::string> OptionReader::OptionalString(const char* key) const {
  const Napi::Value value = Get(key);
  if (value.IsUndefined()) return std::nullopt;
  if (!value.IsString()) Invalid(key, "a string");
  return CheckedString(env_, fn_, std::string("options.") + key, value);
}

std::optional<int64_t> OptionReader::OptionalInt(const char* key, int64_t min, int64_t max) const {
  const Napi::Value value = Get(key);
  if (value.IsUndefined()) return std::nullopt;
  if (!IsIntegerIn(value, min, max)) Invalid(key, Range(min, max));
  return static_cast<int64_t>(value.As<Napi::Number>().DoubleValue());
}

int64_t OptionReader::RequiredInt(const char* key, int64_t min, int64_t max) const {
  const auto value = OptionalInt(key, min, max);
  if (!value) Invalid(key, Range(min, max));
  return *value;
}

bool OptionReader::Bool(const char* key, bool fallback) const {
  const Napi::Value value = Get(key);
  if (value.IsUndefined()) return fallback;
  if (!value.IsBoolean()) Invalid(key, "a boolean");
  return value.As<Napi::Boolean>().Value();
}

int64_t IntArg(const Napi::CallbackInfo& info, size_t index, const char* fn, const char* name,
               int64_t min, int64_t max) {
  if (!IsIntegerIn(info[index], min, max)) {
    ThrowInvalid(info.Env(), fn, std::string(name) + " must be " + Range(min, max));
  }
  return static_cast<int64_t>(info[index].As<Napi::Number>().DoubleValue());
}

std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* fn, const char* name) {
  if (!info[index].IsString()) ThrowInvalid(info.Env(), fn, std::string(name) + " must be a string");
  return CheckedString(info.Env(), fn, name, info[index]);
}

int FdArg(const Napi::CallbackInfo& info, const char* fn) {
  return static_cast<int>(IntArg(info, 0, fn, "fd", 0, INT32_MAX));
}

}  // namespace sluice
