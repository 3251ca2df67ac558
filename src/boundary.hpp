// The C boundary helper shared by every file that defines exported
// functions: guarded() runs an entry point's whole body, allocation
// included, and turns every C++ exception into a status code and the calling
// thread's detail message (att_last_error()).
#pragma once

#include <cstring>

#include "dynattn.h"

namespace att {

// The calling thread's detail message; "" until a call fails.
const char *last_error_message() noexcept;
void set_last_error(const char *message) noexcept;

// Maps the exception in flight to a status and records its message. Only
// called from inside a catch handler.
att_status status_of_current_exception() noexcept;

template <class Body>
att_status guarded(Body &&body) noexcept {
  try {
    body();
    return ATT_OK;
  } catch (...) {
    return status_of_current_exception();
  }
}

// The integer a C caller passed for an enum parameter. C allows any int
// there, but in C++ reading an enum object whose value lies outside the
// enumeration's range is undefined, so the bits are copied, never loaded as
// the enum type.
// The bits are read as a signed int, the type C gives enumeration constants,
// so that -1 reads as -1 whatever underlying type C++ picked.
template <class Enum>
long long raw_enum_value(const Enum &value) noexcept {
  int raw;
  static_assert(sizeof raw == sizeof value, "C enumerations are passed as int");
  std::memcpy(&raw, &value, sizeof raw);
  return raw;
}

// Throws ATT_E_NULL naming the argument when pointer is NULL.
void require(const void *pointer, const char *name);

}  // namespace att
