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

// The raw exponentials a key column's change needs, relative to the rows'
// shifts: e_old[i] = exp(m[i] - shift[i]) for the old logits m and e_new[i] =
// exp(min(logits[i] - shift[i], num::kShiftHeadroom)) for the new ones, both
// unclamped (any value where the argument lies below num::kExpFloor;
// key_column applies the floor).
void key_exps(const double *m, const double *logits, const double *shift, double *e_old,
              double *e_new, int64_t n);

// logits[i] = m[i] + s * q[i] as axpy() forms and checks them, and with them
// key_exps(m, logits, shift, e_old, e_new), in one pass that overlaps the
// exponentials with the read of m and q (a key column kept in memory).
// Returns true when some logits[i] is NaN or exceeds `limit` in magnitude
// (then e_old and e_new are meaningless).
bool key_propose(const double *m, double s, const double *q, const double *shift, double *logits,
                 double *e_old, double *e_new, double limit, int64_t n);

// A key column's logits change from m to `logits` (both relative to the
// rows' shifts), for rows whose normalizer is D = hi + lo, given key_exps'
// e_old and e_new for them, which it overwrites in place (one pair of
// arrays fewer for a pass whose speed is that of the cache). For every row:
//   e_new[i] becomes a_new = exp(min(logits[i] - shift[i], kShiftHeadroom))
//   and e_old[i] becomes delta = a_new - a_old, a_old = exp(m[i] - shift[i])
//   (each zero below the exponent floor, and bit for bit what exp_shifted
//   gives for the same argument), then m[i] = logits[i];
//   D absorbs delta exactly (TwoSum);
//   err[i] grows by charge * (a_old + a_new) (the two entries' masses) plus
//   recompute * norm[i] * a_old (a store's rounding in recomputing m; 0 for
//   a store that kept it) plus drift * (|m[i]| + |logits[i]|) * a_new (the
//   rounding that forming the new logit from the old one leaves in a logit
//   the store keeps; 0 for a store that keeps none);
//   flagged[i] is set when the headroom was exceeded (the row must be
//   re-shifted) or err exceeds tol * D (or D is no longer positive).
// Returns the number of rows this call flagged that were not flagged before.
int64_t key_column(double *m, const double *logits, const double *shift, double *e_old,
                   double *e_new, const double *norm, double recompute, double drift, double *hi,
                   double *lo, double *err, unsigned char *flagged, double charge, double tol,
                   int64_t n);

// a[i] = exp_clamped(x[i] - shift[i]).
void exp_shifted(const double *x, const double *shift, double *a, int64_t n);

// The largest x[i]; *bad is set when some x[i] is NaN or exceeds `limit` in
// magnitude (and left alone otherwise).
double max_of(const double *x, double limit, bool *bad, int64_t n);

// a[i] = exp_clamped(x[i] - shift) for one shift, and returns sum_i a[i]
// with compensated (TwoSum) accumulation. a may alias x.
double exp_sum(const double *x, double shift, double *a, int64_t n);

// y[i] += x[i].
void add(const double *x, double *y, int64_t n);

}  // namespace att::kern
