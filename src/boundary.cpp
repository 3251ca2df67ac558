#include "boundary.hpp"

#include <cstdio>
#include <exception>
#include <new>

#include "error.hpp"

namespace att {
namespace {
thread_local char last_error[kMessageSize] = "";
}  // namespace

const char *last_error_message() noexcept { return last_error; }

void set_last_error(const char *message) noexcept {
  std::snprintf(last_error, sizeof last_error, "%s", message);
}

att_status status_of_current_exception() noexcept {
  try {
    throw;
  } catch (const Error &e) {
    set_last_error(e.message);
    return e.status;
  } catch (const std::bad_alloc &) {
    set_last_error("out of memory");
    return ATT_E_NOMEM;
  } catch (const std::exception &e) {
    std::snprintf(last_error, sizeof last_error, "internal error: %s", e.what());
    return ATT_E_INTERNAL;
  } catch (...) {
    set_last_error("internal error: unknown exception");
    return ATT_E_INTERNAL;
  }
}

void require(const void *pointer, const char *name) {
  if (pointer == nullptr) fail(ATT_E_NULL, "%s is NULL", name);
}

}  // namespace att
