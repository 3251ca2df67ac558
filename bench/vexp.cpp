// The vector exponential of the benchmark: SLEEF's AVX-512F or AVX2 kernels
// when the CPU has them, glibc's scalar exp otherwise. The kernels sit in
// functions compiled for their own target, so the program as a whole stays
// baseline x86-64 (never -march=native) and runs anywhere.
#include <immintrin.h>

#include <cmath>

#include "common.hpp"

#ifdef DYNATTN_BENCH_HAVE_SLEEF
#include <sleef.h>
// sleef.h declares its AVX2 and AVX-512F entry points only when the whole
// translation unit targets those extensions, which this program must not do.
// These are its declarations; they are called only from functions compiled
// for the matching target, after the CPU has been checked.
extern "C" {
__m512d Sleef_expd8_u10avx512f(__m512d);
__m256d Sleef_expd4_u10avx2(__m256d);
}
#endif

namespace bench {

const char *exp_kind_name(ExpKind kind) {
  switch (kind) {
    case ExpKind::avx512f: return "SLEEF Sleef_expd8_u10avx512f";
    case ExpKind::avx2: return "SLEEF Sleef_expd4_u10avx2";
    case ExpKind::scalar: break;
  }
  return "glibc exp (scalar)";
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

ExpKind best_exp_kind() {
#ifdef DYNATTN_BENCH_HAVE_SLEEF
  static const ExpKind kind = __builtin_cpu_supports("avx512f") ? ExpKind::avx512f
                              : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
                                  ? ExpKind::avx2
                                  : ExpKind::scalar;
  return kind;
#else
  return ExpKind::scalar;
#endif
}

void exp_clamped(const double *x, double *y, size_t count) {
#ifdef DYNATTN_BENCH_HAVE_SLEEF
  switch (best_exp_kind()) {
    case ExpKind::avx512f: exp_avx512f(x, y, count); return;
    case ExpKind::avx2: exp_avx2(x, y, count); return;
    case ExpKind::scalar: break;
  }
#endif
  exp_clamped_scalar(x, y, count);
}

}  // namespace bench
