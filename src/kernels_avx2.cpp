// Kernels for CPUs with AVX2 and FMA, built with -mavx2 -mfma only: SLEEF's
// 1-ulp vector exp, four doubles at a time.
#include <immintrin.h>
#include <sleef.h>

#include <cstdint>

namespace att::kern {
namespace {

void exp_block(const double *x, double *y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) _mm256_storeu_pd(y + i, Sleef_expd4_u10avx2(_mm256_loadu_pd(x + i)));
  if (i < n) {
    // The tail goes through the same vector routine, padded with zeros.
    double in[4] = {0.0, 0.0, 0.0, 0.0}, out[4];
    for (int64_t t = 0; t < n - i; ++t) in[t] = x[i + t];
    _mm256_storeu_pd(out, Sleef_expd4_u10avx2(_mm256_loadu_pd(in)));
    for (int64_t t = 0; t < n - i; ++t) y[i + t] = out[t];
  }
}

}  // namespace
}  // namespace att::kern

#include "kernels_isa.hpp"

namespace att::kern {
ATT_DEFINE_KERNEL_TABLE(kAvx2Table);
}
