#include "matrix_view.hpp"

#include <cmath>
#include <cstddef>
#include <vector>

#include "boundary.hpp"
#include "error.hpp"

namespace att {

bool row_major_of(const att_layout &layout) {
  const long long raw = raw_enum_value(layout);
  if (raw == ATT_ROW_MAJOR) return true;
  if (raw == ATT_COL_MAJOR) return false;
  fail(ATT_E_CONFIG, "layout %lld is neither ATT_ROW_MAJOR nor ATT_COL_MAJOR", raw);
}

void check_dimension(const char *name, int64_t value) {
  if (value < 1)
    fail(ATT_E_SIZE, "%s=%lld must be at least 1", name, static_cast<long long>(value));
  if (value > blas::kMaxDim)
    fail(ATT_E_SIZE, "%s=%lld exceeds INT32_MAX", name, static_cast<long long>(value));
}

int64_t checked_product(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r) || r > PTRDIFF_MAX / 16)
    fail(ATT_E_SIZE, "%lld x %lld doubles overflow", static_cast<long long>(a),
         static_cast<long long>(b));
  return r;
}

template <class T>
void check_view(const char *name, const MatrixView<T> &view) {
  require(view.data, name);
  const int64_t width = view.row_major ? view.cols : view.rows;
  const int64_t count = view.row_major ? view.rows : view.cols;
  if (view.ld < width || view.ld > blas::kMaxDim)
    fail(ATT_E_SIZE, "leading dimension %lld of %s is outside [%lld, INT32_MAX]",
         static_cast<long long>(view.ld), name, static_cast<long long>(width));
  int64_t extent = checked_product(count - 1, view.ld);
  if (__builtin_add_overflow(extent, width, &extent) || extent > PTRDIFF_MAX / 16)
    fail(ATT_E_SIZE, "the extent of %s overflows", name);
}

template void check_view<const double>(const char *, const ConstView &);
template void check_view<double>(const char *, const MutView &);

void check_entries(const char *name, const ConstView &view, double limit) {
  auto check = [&](int64_t i, int64_t j) {
    const double x = view(i, j);
    if (!std::isfinite(x))
      fail(ATT_E_NONFINITE, "%s[%lld][%lld] is not finite", name, static_cast<long long>(i),
           static_cast<long long>(j));
    if (std::fabs(x) > limit)
      fail(ATT_E_RANGE, "|%s[%lld][%lld]| = %g exceeds %g", name, static_cast<long long>(i),
           static_cast<long long>(j), std::fabs(x), limit);
  };
  // Storage order, so that a large input is read once, sequentially.
  if (view.row_major) {
    for (int64_t i = 0; i < view.rows; ++i)
      for (int64_t j = 0; j < view.cols; ++j) check(i, j);
  } else {
    for (int64_t j = 0; j < view.cols; ++j)
      for (int64_t i = 0; i < view.rows; ++i) check(i, j);
  }
}

long double max_row_norm(const ConstView &view) {
  long double largest = 0.0L;
  if (view.row_major) {
    for (int64_t i = 0; i < view.rows; ++i) {
      long double sum = 0.0L;
      for (int64_t j = 0; j < view.cols; ++j) {
        const long double x = view(i, j);
        sum += x * x;
      }
      if (sum > largest) largest = sum;
    }
  } else {
    std::vector<long double> sums(static_cast<size_t>(view.rows), 0.0L);
    for (int64_t j = 0; j < view.cols; ++j)
      for (int64_t i = 0; i < view.rows; ++i) {
        const long double x = view(i, j);
        sums[static_cast<size_t>(i)] += x * x;
      }
    for (long double sum : sums)
      if (sum > largest) largest = sum;
  }
  return std::sqrt(largest);
}

}  // namespace att
