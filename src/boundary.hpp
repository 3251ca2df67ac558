// The C boundary helper shared by every file that defines exported
// functions: guarded() runs an entry point's whole body, allocation
// included, and turns every C++ exception into a status code and the calling
// thread's detail message (att_last_error()).
#pragma once

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

// Throws ATT_E_NULL naming the argument when pointer is NULL.
void require(const void *pointer, const char *name);

}  // namespace att
