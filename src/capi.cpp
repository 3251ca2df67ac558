// The C boundary. Every exported function is noexcept and runs its whole
// body, allocation included, inside guarded(), which turns every C++
// exception into a status code and a per-thread message (boundary.hpp).
#include <cmath>

#include "attention.hpp"
#include "boundary.hpp"
#include "config.hpp"
#include "dynattn.h"
#include "error.hpp"

struct att_state {
  att::DynamicAttention impl;
};

struct att_config {
  att::Config options;
};

using att::guarded;
using att::require;

extern "C" {

ATT_API int64_t att_version_number(void) { return ATT_VERSION_NUMBER; }

ATT_API const char *att_version_string(void) {
#define ATT_STR2(x) #x
#define ATT_STR(x) ATT_STR2(x)
  return ATT_STR(ATT_VERSION_MAJOR) "." ATT_STR(ATT_VERSION_MINOR) "." ATT_STR(ATT_VERSION_PATCH);
#undef ATT_STR
#undef ATT_STR2
}

ATT_API const char *att_status_string(att_status status) {
  switch (status) {
    case ATT_OK: return "success";
    case ATT_E_NULL: return "a required pointer argument is NULL";
    case ATT_E_SIZE: return "invalid size";
    case ATT_E_INDEX: return "index out of range";
    case ATT_E_NONFINITE: return "non-finite input";
    case ATT_E_NOMEM: return "out of memory";
    case ATT_E_CONFIG: return "invalid configuration";
    case ATT_E_INTERNAL: return "internal error";
    case ATT_E_RANGE: return "input magnitude out of the supported range";
    case ATT_E_APPROXIMATION: return "the approximation cannot be used for this input";
  }
  return "unknown status";
}

ATT_API const char *att_last_error(void) { return att::last_error_message(); }

ATT_API att_status att_config_create(att_config **out) {
  if (out != nullptr) *out = nullptr;
  return guarded([&] {
    require(out, "out");
    *out = new att_config{};
  });
}

ATT_API void att_config_free(att_config *cfg) { delete cfg; }

ATT_API att_status att_config_set_lazy_limit(att_config *cfg, int64_t k) {
  return guarded([&] {
    require(cfg, "cfg");
    if (k < 0 || k > att::Config::kMaxLazyLimit)
      att::fail(ATT_E_CONFIG, "lazy limit %lld is outside [0, %lld]", static_cast<long long>(k),
                static_cast<long long>(att::Config::kMaxLazyLimit));
    cfg->options.lazy_limit = k;
    cfg->options.lazy_exponent = 0.0;
  });
}

ATT_API att_status att_config_set_lazy_exponent(att_config *cfg, double a) {
  return guarded([&] {
    require(cfg, "cfg");
    if (!(a > 0.0 && a <= 1.0)) att::fail(ATT_E_CONFIG, "lazy exponent %g is outside (0, 1]", a);
    cfg->options.lazy_exponent = a;
    cfg->options.lazy_limit = 0;
  });
}

ATT_API att_status att_config_set_logit_scale(att_config *cfg, double scale) {
  return guarded([&] {
    require(cfg, "cfg");
    if (!(std::isfinite(scale) && scale > 0.0))
      att::fail(ATT_E_CONFIG, "logit scale %g is not a finite number > 0", scale);
    cfg->options.logit_scale = scale;
  });
}

ATT_API att_status att_init(att_state **out, int64_t n, int64_t d, const double *Q,
                            const double *K, const double *V, const att_config *cfg) {
  if (out != nullptr) *out = nullptr;
  return guarded([&] {
    require(out, "out");
    if (n < 1 || d < 1)
      att::fail(ATT_E_SIZE, "n=%lld and d=%lld must both be at least 1",
                static_cast<long long>(n), static_cast<long long>(d));
    require(Q, "Q");
    require(K, "K");
    require(V, "V");
    const att::Config options = cfg != nullptr ? cfg->options : att::Config{};
    *out = new att_state{att::DynamicAttention({n, n, d, d}, Q, K, V, options)};
  });
}

ATT_API void att_free(att_state *s) { delete s; }

ATT_API att_status att_update_k(att_state *s, int64_t i, int64_t j, double delta) {
  return guarded([&] {
    require(s, "state");
    s->impl.update_k(i, j, delta);
  });
}

ATT_API att_status att_update_v(att_state *s, int64_t i, int64_t j, double delta) {
  return guarded([&] {
    require(s, "state");
    s->impl.update_v(i, j, delta);
  });
}

ATT_API att_status att_query(const att_state *s, int64_t i, int64_t j, double *out) {
  return guarded([&] {
    require(s, "state");
    require(out, "out");
    *out = s->impl.query(i, j);
  });
}

}  // extern "C"
