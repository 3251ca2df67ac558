// The kernels' loop bodies, included once by each instruction-set unit after
// it has defined
//   void exp_block(const double *x, double *y, int64_t n);   // n <= kBlock
// returning exp(x) (any value for x below the floor; the caller clamps).
// Everything here has internal linkage and calls no library templates: an
// inline function instantiated in an AVX-512 unit must never be picked by the
// linker for a caller that runs on a CPU without AVX-512.
#pragma once

#include <cstdint>

#include "kernels_table.hpp"
#include "numerics.hpp"

namespace att::kern {
namespace {

// Elements per pass through exp_block: small enough for the stack and L1.
constexpr int64_t kBlock = 256;

inline int64_t block_length(int64_t n, int64_t i0) { return n - i0 < kBlock ? n - i0 : kBlock; }

void isa_exp_offset(const double *x, double shift, double *a, int64_t n) {
  double t[kBlock], e[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t len = block_length(n, i0);
    for (int64_t i = 0; i < len; ++i) t[i] = x[i0 + i] - shift;
    exp_block(t, e, len);
    for (int64_t i = 0; i < len; ++i) a[i0 + i] = t[i] < num::kExpFloor ? 0.0 : e[i];
  }
}

void isa_axpy(const double *m, double s, const double *q, double *out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = m[i] + s * q[i];
}

bool isa_running_max(const double *m, double *shift, double limit, int64_t n) {
  unsigned bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = m[i];
    bad |= !(__builtin_fabs(v) <= limit);
    shift[i] = v > shift[i] ? v : shift[i];
  }
  return bad != 0;
}

void isa_exp_accumulate(const double *m, const double *shift, double *a, double *hi, double *lo,
                        int64_t n) {
  double x[kBlock], e[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t len = block_length(n, i0);
    for (int64_t i = 0; i < len; ++i) x[i] = m[i0 + i] - shift[i0 + i];
    exp_block(x, e, len);
    for (int64_t i = 0; i < len; ++i) {
      const double v = x[i] < num::kExpFloor ? 0.0 : e[i];
      a[i0 + i] = v;
      // TwoSum(hi, v), written out so it vectorizes.
      const double h = hi[i0 + i];
      const double s = h + v;
      const double vv = s - h;
      lo[i0 + i] += (h - (s - vv)) + (v - vv);
      hi[i0 + i] = s;
    }
  }
}

int64_t isa_exp_column(const double *logits, const double *shift, double *a,
                       unsigned char *exceeded, int64_t n) {
  double x[kBlock], e[kBlock];
  int64_t count = 0;
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t len = block_length(n, i0);
    for (int64_t i = 0; i < len; ++i) {
      const double v = logits[i0 + i] - shift[i0 + i];
      const bool over = v > num::kShiftHeadroom;
      exceeded[i0 + i] = over ? 1 : 0;
      count += over ? 1 : 0;
      x[i] = over ? num::kShiftHeadroom : v;
    }
    exp_block(x, e, len);
    for (int64_t i = 0; i < len; ++i) a[i0 + i] = x[i] < num::kExpFloor ? 0.0 : e[i];
  }
  return count;
}

int64_t isa_absorb_column(const double *a_new, const double *delta, double *hi, double *lo,
                          double *err, unsigned char *flagged, double charge, double tol,
                          int64_t n) {
  // Two passes: the arithmetic (vectorizes on doubles), then the flags.
  for (int64_t i = 0; i < n; ++i) {
    const double d = delta[i];
    const double h = hi[i];
    const double s = h + d;
    const double dd = s - h;
    lo[i] += (h - (s - dd)) + (d - dd);
    hi[i] = s;
    err[i] += charge * (2.0 * a_new[i] - d);
  }
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    // Also catches D = 0 (the row's mass fell below the exponent floor).
    const bool drifted = !(err[i] <= tol * (hi[i] + lo[i]));
    if (drifted && !flagged[i]) {
      flagged[i] = 1;
      ++count;
    }
  }
  return count;
}

void isa_exp_shifted(const double *x, const double *shift, double *a, int64_t n) {
  double t[kBlock], e[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t len = block_length(n, i0);
    for (int64_t i = 0; i < len; ++i) t[i] = x[i0 + i] - shift[i0 + i];
    exp_block(t, e, len);
    for (int64_t i = 0; i < len; ++i) a[i0 + i] = t[i] < num::kExpFloor ? 0.0 : e[i];
  }
}

// Reductions keep kLanes independent accumulators so they vectorize; the
// lanes are combined at the end.
constexpr int64_t kLanes = 8;

double isa_max_of(const double *x, double limit, bool *bad, int64_t n) {
  double best[kLanes];
  unsigned flags[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) {
    best[l] = -__builtin_inf();
    flags[l] = 0;
  }
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) {
      const double v = x[i + l];
      flags[l] |= !(__builtin_fabs(v) <= limit);
      best[l] = v > best[l] ? v : best[l];
    }
  }
  for (; i < n; ++i) {
    flags[0] |= !(__builtin_fabs(x[i]) <= limit);
    best[0] = x[i] > best[0] ? x[i] : best[0];
  }
  double result = best[0];
  unsigned any = flags[0];
  for (int64_t l = 1; l < kLanes; ++l) {
    result = best[l] > result ? best[l] : result;
    any |= flags[l];
  }
  if (any) *bad = true;
  return result;
}

double isa_exp_sum(const double *x, double shift, double *a, int64_t n) {
  double t[kBlock], e[kBlock];
  double hi[kLanes], lo[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) hi[l] = lo[l] = 0.0;
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t len = block_length(n, i0);
    for (int64_t i = 0; i < len; ++i) t[i] = x[i0 + i] - shift;
    exp_block(t, e, len);
    for (int64_t i = 0; i < len; ++i) e[i] = t[i] < num::kExpFloor ? 0.0 : e[i];
    for (int64_t i = 0; i < len; ++i) a[i0 + i] = e[i];
    int64_t i = 0;
    for (; i + kLanes <= len; i += kLanes) {
      for (int64_t l = 0; l < kLanes; ++l) {
        const double v = e[i + l];
        const double s = hi[l] + v;
        const double vv = s - hi[l];
        lo[l] += (hi[l] - (s - vv)) + (v - vv);
        hi[l] = s;
      }
    }
    for (; i < len; ++i) {
      const double v = e[i];
      const double s = hi[0] + v;
      const double vv = s - hi[0];
      lo[0] += (hi[0] - (s - vv)) + (v - vv);
      hi[0] = s;
    }
  }
  double sum = 0.0, comp = 0.0;
  for (int64_t l = 0; l < kLanes; ++l) {
    const double s = sum + hi[l];
    const double vv = s - sum;
    comp += ((sum - (s - vv)) + (hi[l] - vv)) + lo[l];
    sum = s;
  }
  return sum + comp;
}

void isa_replace(const double *a_new, double *a, double *delta, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    delta[i] = a_new[i] - a[i];
    a[i] = a_new[i];
  }
}

void isa_add(const double *x, double *y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace
}  // namespace att::kern

// Defines the unit's table.
#define ATT_DEFINE_KERNEL_TABLE(table)                                                       \
  const ::att::kern::Table table = {::att::kern::isa_exp_offset,                           \
                                    ::att::kern::isa_axpy,                                 \
                                    ::att::kern::isa_running_max,                          \
                                    ::att::kern::isa_exp_accumulate,                       \
                                    ::att::kern::isa_exp_column,                           \
                                    ::att::kern::isa_absorb_column,                        \
                                    ::att::kern::isa_exp_shifted,                          \
                                    ::att::kern::isa_max_of,                               \
                                    ::att::kern::isa_exp_sum,                              \
                                    ::att::kern::isa_replace,                              \
                                    ::att::kern::isa_add}
