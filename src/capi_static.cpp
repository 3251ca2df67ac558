// The C boundary of the one-shot functions (static attention, the
// polynomial method, sparsification). Same rules as capi.cpp: every entry
// point runs its whole body inside guarded() (boundary.hpp), and all
// arguments are validated before any output is written.
#include <cmath>

#include "boundary.hpp"
#include "dynattn.h"
#include "error.hpp"
#include "matrix_view.hpp"
#include "polynomial_attention.hpp"
#include "sparsify.hpp"
#include "static_attention.hpp"

struct att_poly_config {
  att::PolyOptions options;
};

using att::guarded;
using att::require;

namespace {

// The four matrices of a static attention call, with the shapes of the C
// signature.
struct AttentionArgs {
  att::ConstView Q, K, V;
  att::MutView out;
};

AttentionArgs attention_args(int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v, const double *Q,
                             int64_t ldq, const double *K, int64_t ldk, const double *V,
                             int64_t ldv, const att_layout &layout, double *out, int64_t ldo) {
  const bool row_major = att::row_major_of(layout);
  return {{Q, n_q, d_k, ldq, row_major},
          {K, n_kv, d_k, ldk, row_major},
          {V, n_kv, d_v, ldv, row_major},
          {out, n_q, d_v, ldo, row_major}};
}

void set_if(int64_t *target, int64_t value) {
  if (target != nullptr) *target = value;
}

}  // namespace

extern "C" {

ATT_API att_status att_attention(int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v,
                                 const double *Q, int64_t ldq, const double *K, int64_t ldk,
                                 const double *V, int64_t ldv, double scale, att_mask mask,
                                 att_layout layout, double *out, int64_t ldo) {
  return guarded([&] {
    const long long raw_mask = att::raw_enum_value(mask);
    if (raw_mask != ATT_MASK_NONE && raw_mask != ATT_MASK_CAUSAL)
      att::fail(ATT_E_CONFIG, "mask %lld is neither ATT_MASK_NONE nor ATT_MASK_CAUSAL", raw_mask);
    const AttentionArgs a =
        attention_args(n_q, n_kv, d_k, d_v, Q, ldq, K, ldk, V, ldv, layout, out, ldo);
    const bool causal = raw_mask == ATT_MASK_CAUSAL;
    att::check_attention_arguments(a.Q, a.K, a.V, scale, causal, a.out);
    att::static_attention(a.Q, a.K, a.V, scale, causal, a.out);
  });
}

ATT_API att_status att_poly_config_create(att_poly_config **out) {
  if (out != nullptr) *out = nullptr;
  return guarded([&] {
    require(out, "out");
    *out = new att_poly_config{};
  });
}

ATT_API void att_poly_config_free(att_poly_config *cfg) { delete cfg; }

ATT_API att_status att_poly_config_set_tolerance(att_poly_config *cfg, double tol) {
  return guarded([&] {
    require(cfg, "cfg");
    if (!(tol >= att::PolyOptions::kMinTolerance && tol < 1.0))
      att::fail(ATT_E_CONFIG, "tolerance %g is outside [1e-15, 1)", tol);
    cfg->options.tolerance = tol;
  });
}

ATT_API att_status att_poly_config_set_degree(att_poly_config *cfg, int64_t degree) {
  return guarded([&] {
    require(cfg, "cfg");
    if (degree < -1 || degree > att::PolyOptions::kMaxDegree)
      att::fail(ATT_E_CONFIG, "degree %lld is neither -1 nor in [0, %d]",
                static_cast<long long>(degree), att::PolyOptions::kMaxDegree);
    cfg->options.degree = degree;
  });
}

ATT_API att_status att_poly_config_set_max_rank(att_poly_config *cfg, int64_t max_rank) {
  return guarded([&] {
    require(cfg, "cfg");
    if (max_rank < 0 || max_rank > att::blas::kMaxDim)
      att::fail(ATT_E_CONFIG, "rank limit %lld is outside [0, INT32_MAX]",
                static_cast<long long>(max_rank));
    cfg->options.max_rank = max_rank;
  });
}

ATT_API att_status att_poly_config_set_basis(att_poly_config *cfg, att_poly_basis basis) {
  return guarded([&] {
    require(cfg, "cfg");
    const long long raw = att::raw_enum_value(basis);
    if (raw != ATT_POLY_CHEBYSHEV && raw != ATT_POLY_TAYLOR)
      att::fail(ATT_E_CONFIG, "basis %lld is neither ATT_POLY_CHEBYSHEV nor ATT_POLY_TAYLOR", raw);
    cfg->options.taylor = raw == ATT_POLY_TAYLOR;
  });
}

ATT_API att_status att_poly_plan(int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v,
                                 double logit_bound, const att_poly_config *cfg, int64_t *degree,
                                 int64_t *rank, double *error_bound) {
  return guarded([&] {
    att::check_dimension("n_q", n_q);
    att::check_dimension("n_kv", n_kv);
    att::check_dimension("d_k", d_k);
    att::check_dimension("d_v", d_v);
    if (!(std::isfinite(logit_bound) && logit_bound >= 0.0))
      att::fail(ATT_E_CONFIG, "logit bound %g is not a finite number >= 0", logit_bound);
    const att::PolyOptions options = cfg != nullptr ? cfg->options : att::PolyOptions{};
    const att::PolyPlan plan = att::plan_polynomial(n_q, n_kv, d_k, d_v, logit_bound, options);
    set_if(degree, plan.degree);
    set_if(rank, plan.rank);
    if (plan.refusal[0] != '\0') att::fail(ATT_E_APPROXIMATION, "%s", plan.refusal);
    if (error_bound != nullptr) *error_bound = plan.error_bound;
  });
}

ATT_API att_status att_attention_poly(int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v,
                                      const double *Q, int64_t ldq, const double *K, int64_t ldk,
                                      const double *V, int64_t ldv, double scale, att_layout layout,
                                      const att_poly_config *cfg, double *out, int64_t ldo,
                                      int64_t *degree, int64_t *rank, double *error_bound) {
  return guarded([&] {
    const AttentionArgs a =
        attention_args(n_q, n_kv, d_k, d_v, Q, ldq, K, ldk, V, ldv, layout, out, ldo);
    const double logit_bound = att::check_attention_arguments(a.Q, a.K, a.V, scale, false, a.out);
    const att::PolyOptions options = cfg != nullptr ? cfg->options : att::PolyOptions{};
    const att::PolyPlan plan = att::plan_polynomial(n_q, n_kv, d_k, d_v, logit_bound, options);
    set_if(degree, plan.degree);
    set_if(rank, plan.rank);
    if (plan.refusal[0] != '\0') att::fail(ATT_E_APPROXIMATION, "%s", plan.refusal);
    const double bound = att::polynomial_attention(a.Q, a.K, a.V, scale, plan, options, a.out);
    if (error_bound != nullptr) *error_bound = bound;
  });
}

ATT_API att_status att_sketch_width(int64_t n, double delta, int64_t *m) {
  return guarded([&] {
    require(m, "m");
    att::check_dimension("n", n);
    if (!(delta > 0.0 && delta < 1.0)) att::fail(ATT_E_CONFIG, "delta %g is outside (0, 1)", delta);
    *m = att::sketch_width(n, delta);
  });
}

ATT_API att_status att_sparsify_gaussian(int64_t n, int64_t d, const double *X, int64_t ldx,
                                         att_layout layout, int64_t m, uint64_t seed, double *Y,
                                         int64_t ldy) {
  return guarded([&] {
    const bool row_major = att::row_major_of(layout);
    att::check_dimension("n", n);
    att::check_dimension("d", d);
    att::check_dimension("m", m);
    if (m > d)
      att::fail(ATT_E_SIZE, "m=%lld exceeds d=%lld: a sketch cannot widen X",
                static_cast<long long>(m), static_cast<long long>(d));
    const att::ConstView x{X, n, d, ldx, row_major};
    const att::MutView y{Y, n, m, ldy, row_major};
    att::check_view("X", x);
    att::check_view("Y", y);
    att::check_entries("X", x, ATT_MAX_VALUE);
    att::sparsify_gaussian(x, seed, y);
  });
}

ATT_API att_status att_sparsify_lq(int64_t n, int64_t d, const double *X, int64_t ldx,
                                   att_layout layout, double *Y, int64_t ldy) {
  return guarded([&] {
    const bool row_major = att::row_major_of(layout);
    att::check_dimension("n", n);
    att::check_dimension("d", d);
    const att::ConstView x{X, n, d, ldx, row_major};
    const att::MutView y{Y, n, n < d ? n : d, ldy, row_major};
    att::check_view("X", x);
    att::check_view("Y", y);
    att::check_entries("X", x, ATT_MAX_VALUE);
    att::sparsify_lq(x, y);
  });
}

}  // extern "C"
