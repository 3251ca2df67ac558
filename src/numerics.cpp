#include "numerics.hpp"

#include <cmath>

namespace att::num {

void exp_clamped(const double *x, double *y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) y[i] = x[i] < kExpFloor ? 0.0 : std::exp(x[i]);
}

}  // namespace att::num
