// Numerics of shifted exponentials and of the running error bound
// (docs/NUMERICS.md explains the model). Every constant that decides when a
// row must be recomputed lives here.
#pragma once

#include <cstdint>

#if defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__ != 0
#error \
    "dynattn must not be built with -ffast-math / -ffinite-math-only: it relies on isfinite and on exact rounding"
#endif

namespace att::num {

// Unit roundoff of double, 2^-53.
constexpr double kUnitRoundoff = 0x1p-53;

// exp(x) for x below this is flushed to 0: exp(-708) is the smallest normal
// result we produce, so BLAS never meets subnormals (they can be very slow)
// and we never touch the caller's floating-point control word.
constexpr double kExpFloor = -708.0;

// The smallest non-zero entry of A, exp(kExpFloor): a kept entry that a key
// update scales below it is flushed to 0 like an exponential.
constexpr double kMinEntry = 0x1.7c8ab2288c9abp-1022;

// A row is kept as A[i,:] = exp(M[i,:] - shift_i). An update may push an
// entry up to exp(kShiftHeadroom) before the row is re-shifted; this bounds
// A by e^64 and D by n e^64, so sums of values up to ATT_MAX_VALUE cannot
// overflow.
constexpr double kShiftHeadroom = 64.0;
// exp(kShiftHeadroom), the largest entry a row keeps before it is re-shifted.
constexpr double kMaxEntry = 0x1.425982cf597cdp+92;

// Largest magnitude accepted for a logit when rows the updates have already
// validated are recomputed (the sweep, flagged rows), and for a logit or
// shift in a saved state. Init and updates check logits against
// ATT_MAX_LOGIT (2^664), but a matrix product may round a recomputed logit
// above the value an update checked, by far when the dot product cancels
// large terms; a recomputed row must never fail. 2^1000 leaves room for the
// error charges' sums and products of logits. See
// DynamicAttention::refresh_rows.
constexpr double kRecomputedLogitLimit = 0x1p1000;

// A key update in a store that keeps A forms no logits. When the norms of
// Q's rows and of the new key bound its logits below this in magnitude, it
// needs no check against ATT_MAX_LOGIT (2^664): the margin of 2^64 is far
// beyond the rounding of the norms and of the logits' dot products.
// Otherwise it computes the key's logits afresh to check them.
constexpr double kCertainLogit = 0x1p600;

// A row is recomputed from Q K^T when its accumulated error bound exceeds
// this fraction of its normalizer D_i (about 9.1e-13).
constexpr double kRowTolerance = 0x1p-40;

// Charges to the per-row error bound, in units of u times a mass of A:
//  - a freshly computed row (compensated row sum, one rounding of C0);
constexpr double kFreshCharge = 2.0;
//  - a row computed in key tiles with a running maximum (SoftmaxTiles) takes
//    one more, for the additions of its compensated sum's low part (every
//    weight enters the sum by TwoSum; they round far less than this), and
//    kRescaleCharge for each time a later tile
//    raised the maximum and the partial D and C0 were multiplied by
//    exp(old - new) (rounding of the factor and of the products);
constexpr double kTileCharge = 1.0;
constexpr double kRescaleCharge = 3.0;
//  - each entry change a_old -> a_new (rounding of exp, of the difference,
//    and its share of the fold's dot products), charged on a_old + a_new;
constexpr double kUpdateCharge = 4.0;
//  - each key update of an entry the dense store keeps, which it scales by
//    exp(x) with x = scale * delta * q_i, delta the rounded difference of
//    the key's new and old entry: the roundings of delta, of its two
//    products and of exp(x) a_old stay in the entry until its row is
//    recomputed (exp turns an absolute error of x into a relative error of
//    the entry), charged on (1 + |x|) * a_new;
constexpr double kDriftCharge = 3.0;
//  A change of several entries of a key row scales by the sum of their
//  increments, whose roundings are bounded by a multiple of u times the sum
//  of the increments' magnitudes, not of their sum: when they can cancel
//  far enough to leave a logit error above this (about 5.7e-14, a
//  sixteenth of kRowTolerance), the dense store computes the column afresh
//  from the new key's logits instead.
constexpr double kIncrementErrorLimit = 0x1p-44;
//  - each pass of a fold over C0, charged on D_i: one rounding of every
//    entry of C0's row (|C0[i, j]| <= D_i max |V[:, j]|). A fold makes one
//    pass for its product and one for its sparse value rows, whose terms each
//    column of C0 takes summed, at once;
constexpr double kFoldCharge = 1.0;
//  - each value row gathered into a fold, charged on its kernel column
//    (the roundings of its terms, a_ir (V - V0)_rj, and of their sums).
constexpr double kGatherCharge = 2.0;

// The background sweep recomputes every row at least once per this many
// passes of folds over C0: half the number of pass charges a fresh row can
// take before it reaches kRowTolerance, so rows are rarely recomputed
// because of the bound.
constexpr double kSweepPasses = kRowTolerance / (kFoldCharge * kUnitRoundoff) / 2;

}  // namespace att::num
