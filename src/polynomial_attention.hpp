// Approximate static attention by the polynomial method of Alman and Song
// ("Fast Attention Requires Bounded Entries", arXiv 2302.13214): exp on the
// range [-R, R] of the logits is replaced by a polynomial P of degree g, and
// P(s <q, k>) by an inner product of symmetric-tensor-power features, so that
// D~^-1 U1 (U2^T V) costs O(n r d) with r = C(d_k + g, g).
#pragma once

#include <cstdint>
#include <vector>

#include "matrix_view.hpp"

namespace att {

struct PolyOptions {
  static constexpr double kMinTolerance = 1e-15;
  static constexpr int kMaxDegree = 64;
  double tolerance = 1e-6;
  int64_t degree = -1;   // -1: the smallest degree that meets the tolerance
  int64_t max_rank = 0;  // 0: the break-even rank against the exact method
  bool taylor = false;   // false: Chebyshev interpolation
};

struct PolyPlan {
  int64_t degree = 0;
  int64_t rank = 0;                  // C(d_k + degree, degree), saturated at INT64_MAX
  double eta = 0.0;                  // max relative error |P/exp - 1| on [-R, R], with margin
  double error_bound = 0.0;          // 2 eta / (1 - eta)
  std::vector<double> coefficients;  // P(x) = sum_k coefficients[k] x^k
  char refusal[160] = "";            // non-empty: the plan cannot be used, and why
};

// Degree, rank and polynomial for logits in [-logit_bound, logit_bound].
PolyPlan plan_polynomial(int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v, double logit_bound,
                         const PolyOptions &options);

// out ~ D~^-1 U1 (U2^T V) for an accepted plan; returns the error bound (the
// plan's plus the rounding estimate). Throws ATT_E_APPROXIMATION, leaving out
// untouched, when a normalizer is not safely positive or (automatic degree)
// the bound exceeds the tolerance. Arguments already validated.
double polynomial_attention(const ConstView &Q, const ConstView &K, const ConstView &V,
                            double scale, const PolyPlan &plan, const PolyOptions &options,
                            const MutView &out);

}  // namespace att
