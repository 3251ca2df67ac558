// Kernels for CPUs with AVX-512F, built with -mavx512f only: SLEEF's 1-ulp
// vector exp, eight doubles at a time.
#include <immintrin.h>
#include <sleef.h>

#include <cstdint>

namespace att::kern {
namespace {

void exp_block(const double *x, double *y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm512_storeu_pd(y + i, Sleef_expd8_u10avx512f(_mm512_loadu_pd(x + i)));
  if (i < n) {
    // The tail goes through the same vector routine, masked.
    const __mmask8 tail = static_cast<__mmask8>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_pd(y + i, tail, Sleef_expd8_u10avx512f(_mm512_maskz_loadu_pd(tail, x + i)));
  }
}

}  // namespace
}  // namespace att::kern

#include "kernels_isa.hpp"

namespace att::kern {
ATT_DEFINE_KERNEL_TABLE(kAvx512Table);
}
