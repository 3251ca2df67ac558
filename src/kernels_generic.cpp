// Kernels for any x86-64 (and any other target): glibc's scalar exp.
#include <math.h>

#include <cstdint>

namespace att::kern {
namespace {

void exp_block(const double *x, double *y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = exp(x[i]);
}

}  // namespace
}  // namespace att::kern

#include "kernels_isa.hpp"

namespace att::kern {
ATT_DEFINE_KERNEL_TABLE(kGenericTable);
}
