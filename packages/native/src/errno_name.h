// The symbolic name of an errno value ("ECONNRESET"), the `code` of every
// NativeError and the tail of SpliceRelay's error strings.
#pragma once

#include <string>

namespace sluice {

// "E" followed by the number for a value this table does not know. The table
// is our own rather than glibc's strerrorname_np(), which exists only in
// glibc 2.32 and later: musl (Alpine, OpenWrt) has no such function.
std::string ErrnoName(int err);

}  // namespace sluice
