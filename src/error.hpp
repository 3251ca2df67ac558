// Internal error type. Core code reports a failure by throwing att::Error;
// only the C boundary (capi.cpp) catches, so no exception crosses the ABI.
#pragma once

#include <cstdarg>
#include <cstdio>

#include "dynattn.h"

namespace att {

// Room for a detail message, its terminating NUL included: att::Error's and
// the per-thread copy behind att_last_error() (boundary.cpp). Longer
// messages are cut.
constexpr int kMessageSize = 192;

struct Error {
  att_status status;
  char message[kMessageSize];
};

// Throws Error{status, printf-style message}. Formatting into a fixed buffer
// cannot allocate, so reporting a failure never fails itself.
[[noreturn]] __attribute__((format(printf, 2, 3))) inline void fail(att_status status,
                                                                    const char *fmt, ...) {
  Error e{status, {}};
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(e.message, sizeof e.message, fmt, args);
  va_end(args);
  throw e;
}

inline void check_index(const char *name, int64_t value, int64_t bound) {
  if (value < 0 || value >= bound)
    fail(ATT_E_INDEX, "%s=%lld is outside [0, %lld)", name, static_cast<long long>(value),
         static_cast<long long>(bound));
}

}  // namespace att
