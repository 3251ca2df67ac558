// The exponentials of the benchmark. Its floor and its baselines use the
// library's own exponential kernel (src/kernels.hpp, the table the CPU and
// DYNATTN_MAX_CPU_ISA select), the fastest vector exp on hand, so that
// neither the floor nor a baseline is slowed by a slower exp than the
// library's. SLEEF's and glibc's are timed once more for orientation. The
// SLEEF kernels sit in functions compiled for their own target, so the
// program as a whole stays baseline x86-64 (never -march=native).
#include <immintrin.h>

#include <cmath>
#include <string>

#include "common.hpp"
#include "kernels.hpp"
#include "kernels_table.hpp"

#ifdef DYNATTN_BENCH_HAVE_SLEEF
#include <sleef.h>
// sleef.h declares its AVX2 and AVX-512F entry points only when the whole
// translation unit targets those extensions, which this program must not do.
// These are its declarations, with the target they pass their vectors in
// (Clang rejects the call otherwise); they are called only from functions
// compiled for the matching target, after the CPU has been checked.
extern "C" {
__attribute__((target("avx512f"))) __m512d Sleef_expd8_u10avx512f(__m512d);
__attribute__((target("avx2,fma"))) __m256d Sleef_expd4_u10avx2(__m256d);
}
#endif

namespace bench {

const char *exp_kernel_name() {
  static const std::string name =
      std::string("dynattn's ") + att::kern::isa_name(att::kern::active_isa()) + " kernel";
  return name.c_str();
}

void exp_clamped(const double *x, double *y, size_t count) {
  att::kern::exp_offset(x, 0.0, y, static_cast<int64_t>(count));
}

void exp_clamped_scalar(const double *x, double *y, size_t count) {
  for (size_t i = 0; i < count; ++i) y[i] = x[i] < kExpFloor ? 0.0 : std::exp(x[i]);
}

#ifdef DYNATTN_BENCH_HAVE_SLEEF
namespace {

__attribute__((target("avx512f"))) void exp_avx512f(const double *x, double *y, size_t count) {
  const __m512d floor = _mm512_set1_pd(kExpFloor);
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m512d v = _mm512_loadu_pd(x + i);
    const __mmask8 keep = _mm512_cmp_pd_mask(v, floor, _CMP_GE_OQ);
    _mm512_storeu_pd(y + i, _mm512_maskz_mov_pd(keep, Sleef_expd8_u10avx512f(v)));
  }
  if (i < count) {
    const __mmask8 tail = static_cast<__mmask8>((1u << (count - i)) - 1u);
    const __m512d v = _mm512_mask_loadu_pd(floor, tail, x + i);
    const __mmask8 keep = _mm512_cmp_pd_mask(v, floor, _CMP_GE_OQ);
    _mm512_mask_storeu_pd(y + i, tail, _mm512_maskz_mov_pd(keep, Sleef_expd8_u10avx512f(v)));
  }
}

__attribute__((target("avx2,fma"))) void exp_avx2(const double *x, double *y, size_t count) {
  const __m256d floor = _mm256_set1_pd(kExpFloor);
  size_t i = 0;
  for (; i + 4 <= count; i += 4) {
    const __m256d v = _mm256_loadu_pd(x + i);
    const __m256d keep = _mm256_cmp_pd(v, floor, _CMP_GE_OQ);
    _mm256_storeu_pd(y + i, _mm256_and_pd(keep, Sleef_expd4_u10avx2(v)));
  }
  exp_clamped_scalar(x + i, y + i, count - i);
}

}  // namespace
#endif

ExpRoutine sleef_exp() {
#ifdef DYNATTN_BENCH_HAVE_SLEEF
  if (__builtin_cpu_supports("avx512f")) return {"SLEEF Sleef_expd8_u10avx512f", exp_avx512f};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {"SLEEF Sleef_expd4_u10avx2", exp_avx2};
#endif
  return {nullptr, nullptr};
}

}  // namespace bench
