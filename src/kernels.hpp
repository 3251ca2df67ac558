// Array kernels of the hot paths: exponentials and the element-wise loops
// around them. Each is compiled once per instruction set (kernels_isa.hpp,
// kernels_{generic,avx2,avx512}.cpp) and the best one the CPU supports is
// chosen once at run time, so the default build runs on any x86-64 and still
// uses the vector units. Every element goes through the same code path,
// tails included, so a value never depends on its position.
#pragma once

#include <cstdint>

namespace att::kern {

// a[i] = exp(x[i] - shift) when that argument is >= num::kExpFloor, else 0,
// for one shift. x may alias a.
void exp_offset(const double *x, double shift, double *a, int64_t n);

// out[i] = m[i] + s * q[i] (one rounding each for the product and the sum);
// returns true when some out[i] is NaN or exceeds `limit` in magnitude.
bool axpy(const double *m, double s, const double *q, double *out, double limit, int64_t n);

// shift[i] = max(shift[i], m[i]); returns true when some m[i] is NaN or
// exceeds `limit` in magnitude.
bool running_max(const double *m, double *shift, double limit, int64_t n);

// a[i] = exp_clamped(m[i] - shift[i]) and (hi[i], lo[i]) += a[i] with TwoSum,
// so hi + lo carries no accumulated rounding. a may alias m.
void exp_accumulate(const double *m, const double *shift, double *a, double *hi, double *lo,
                    int64_t n);

// One key column's change (paper Algorithm 2 for the rows that see the key),
// for rows whose normalizer is D = hi + lo. Every pointer addresses the
// column's first row; `norm` is read only when `recompute` is not 0.
struct KeyColumn {
  double *m;             // the old logits; they become the new ones
  const double *logits;  // the new logits, finite and within ATT_MAX_LOGIT
  const double *shift;
  const double *norm;
  double recompute;
  double drift;
  double *hi, *lo, *err;
  unsigned char *flagged;
  double *delta;    // receives a_new - a_old: stored, or added when accumulate
  bool accumulate;  // (a key row already pending adds its change to its term)
  double charge, tol;
};

// For every row i of the column, in one pass (the exponentials of a block
// stay in cache):
//   a_old = exp(m[i] - shift[i]) and a_new = exp(min(logits[i] - shift[i],
//   kShiftHeadroom)) (each 0 below the exponent floor, and bit for bit what
//   exp_shifted gives for the same argument);
//   delta[i] = (or +=) a_new - a_old, and m[i] = logits[i];
//   D absorbs a_new - a_old exactly (TwoSum);
//   err[i] grows by charge * (a_old + a_new) (the two entries' masses) plus
//   recompute * norm[i] * a_old (a store's rounding in recomputing m; 0 for
//   a store that kept it) plus drift * (|m[i]| + |logits[i]|) * a_new (the
//   rounding that forming the new logit from the old one leaves in a logit
//   the store keeps; 0 for a store that keeps none);
//   flagged[i] is set when the headroom was exceeded (the row must be
//   re-shifted) or err exceeds tol * D (or D is no longer positive).
// Returns the number of rows this call flagged that were not flagged before.
int64_t key_column(const KeyColumn &k, int64_t n);

// a[i] = exp_clamped(x[i] - shift[i]).
void exp_shifted(const double *x, const double *shift, double *a, int64_t n);

// The largest x[i]; *bad is set when some x[i] is NaN or exceeds `limit` in
// magnitude (and left alone otherwise).
double max_of(const double *x, double limit, bool *bad, int64_t n);

// a[i] = exp_clamped(x[i] - shift) for one shift, and returns sum_i a[i]
// with compensated (TwoSum) accumulation. a may alias x.
double exp_sum(const double *x, double shift, double *a, int64_t n);

}  // namespace att::kern
