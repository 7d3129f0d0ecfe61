#include "errors.h"

#include <errno.h>
#include <string.h>

#include "errno_name.h"

namespace sluice {
namespace {

const char kCapSentence[] =
    " needs the CAP_NET_ADMIN capability: run Sluice as root, or grant it "
    "(setcap cap_net_admin+ep on the node binary, or "
    "AmbientCapabilities=CAP_NET_ADMIN in a systemd unit)";

// strerror_r comes in two kinds: GNU (glibc with _GNU_SOURCE, which g++
// defines) returns the message, which may or may not live in buf; XSI (musl)
// returns 0 and fills buf. Overloads on the return type take either.
[[maybe_unused]] std::string StrerrorResult(const char* message, const char*) { return message; }
[[maybe_unused]] std::string StrerrorResult(int status, const char* buf) {
  return status == 0 ? std::string(buf) : "unknown error";
}

std::string Describe(int err) {
  char buf[128] = "";
  return StrerrorResult(strerror_r(err, buf, sizeof buf), buf);
}

// "setsockopt(IP_TRANSPARENT)" -> "IP_TRANSPARENT"; anything else unchanged.
std::string OptionName(const std::string& syscall) {
  const auto open = syscall.find('(');
  const auto close = syscall.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close <= open) {
    return syscall;
  }
  return syscall.substr(open + 1, close - open - 1);
}

bool Contains(const std::string& haystack, const char* needle) {
  return haystack.find(needle) != std::string::npos;
}

// The sentence a user can act on; falls back to strerror.
std::string Sentence(int err, const std::string& syscall, const std::string& subject) {
  const std::string option = OptionName(syscall);
  const bool isBind = syscall == "bind";
  switch (err) {
    case EPERM:
    case EACCES:
      if (Contains(syscall, "TRANSPARENT") || Contains(syscall, "SO_MARK")) {
        return option + kCapSentence;
      }
      if (Contains(syscall, "SO_BINDTODEVICE")) {
        return "SO_BINDTODEVICE needs the CAP_NET_RAW capability on this kernel: run Sluice as "
               "root, or grant it (setcap cap_net_raw+ep on the node binary, or "
               "AmbientCapabilities=CAP_NET_RAW in a systemd unit)";
      }
      if (isBind) {
        return "binding " + subject +
               " needs the CAP_NET_BIND_SERVICE capability (ports below 1024), or a higher port";
      }
      if (Contains(syscall, "send")) {
        return "sending to " + subject + " was refused by the firewall (a netfilter rule dropped it)";
      }
      break;
    case EADDRINUSE:
      if (isBind || syscall == "listen") {
        return subject + " is already in use by another socket (another Sluice, or another service)";
      }
      break;
    case EADDRNOTAVAIL:
      if (isBind) {
        return subject + " is not an address of this host; binding a foreign address needs "
                         "IP_TRANSPARENT (the transparent option)";
      }
      break;
    case ENODEV:
      if (Contains(syscall, "SO_BINDTODEVICE")) {
        return "no network interface named \"" + subject + "\"";
      }
      break;
    case ENOENT:
      if (Contains(syscall, "ORIGINAL_DST")) {
        return subject + " has no original destination: the connection was not redirected by a "
                         "nat rule (REDIRECT or DNAT); TPROXY connections carry it as their local address";
      }
      break;
    case ENOPROTOOPT:
      if (Contains(syscall, "ORIGINAL_DST")) {
        return option + " is unavailable: connection tracking (nf_conntrack) is not loaded for this "
                        "address family";
      }
      break;
    case EBADF:
      return subject + " is not an open file descriptor";
    case ENOTSOCK:
      return subject + " is not a socket";
    case EMFILE:
      return "this process has too many open files: raise the soft limit (ulimit -n, or "
             "LimitNOFILE= in a systemd unit) up to the hard limit";
    case ENFILE:
      return "the system-wide limit on open files is reached (fs.file-max)";
    case EAFNOSUPPORT:
      return "this address family is not supported by the kernel (is IPv6 disabled?)";
    case ENETUNREACH:
      return "no route to " + subject;
    default:
      break;
  }
  std::string text = Describe(err);
  if (!subject.empty()) text += " (" + subject + ")";
  return text;
}

}  // namespace

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall,
                       const std::string& subject) {
  const std::string code = ErrnoName(err);
  Napi::Error error =
      Napi::Error::New(env, syscall + " " + code + ": " + Sentence(err, syscall, subject));
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

void ThrowErrno(Napi::Env env, int err, const std::string& syscall, const std::string& subject) {
  throw ErrnoError(env, err, syscall, subject);
}

void ThrowInvalid(Napi::Env env, const std::string& where, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, where + " EINVAL: " + message);
  error.Set("code", Napi::String::New(env, "EINVAL"));
  error.Set("errno", Napi::Number::New(env, EINVAL));
  error.Set("syscall", Napi::String::New(env, where));
  throw error;
}

}  // namespace sluice
