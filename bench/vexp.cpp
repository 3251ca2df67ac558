// The exponentials of the benchmark. Its floor and its baselines use the
// library's own exponential kernel (src/kernels.hpp, the table the CPU and
// DYNATTN_MAX_CPU_ISA select), the fastest vector exp on hand, so that
// neither the floor nor a baseline is slowed by a slower exp than the
// library's. SLEEF's and glibc's (libmvec's vector exp, which GCC calls for
// exp in a loop under OpenMP SIMD and -ffast-math, and the scalar one) are
// timed once more for orientation. The vector routines sit in functions
// compiled for their own target, so the program as a whole stays baseline
// x86-64 (never -march=native).
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

#ifdef DYNATTN_BENCH_HAVE_LIBMVEC
// libmvec's entry points by their vector-ABI names (AVX-512 and AVX2 forms of
// exp); glibc declares them only through math.h's OpenMP SIMD attributes.
extern "C" {
__attribute__((target("avx512f"))) __m512d _ZGVeN8v_exp(__m512d);
__attribute__((target("avx2,fma"))) __m256d _ZGVdN4v_exp(__m256d);
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

namespace {

// A vector exp's column, flushed below the floor as the library does. E8 and
// E4 are the AVX-512 and AVX2 forms; the tail goes through the scalar exp.
template <__m512d (*E8)(__m512d)>
__attribute__((target("avx512f"))) void column8(const double *x, double *y, size_t count) {
  const __m512d floor = _mm512_set1_pd(kExpFloor);
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m512d v = _mm512_loadu_pd(x + i);
    const __mmask8 keep = _mm512_cmp_pd_mask(v, floor, _CMP_GE_OQ);
    _mm512_storeu_pd(y + i, _mm512_maskz_mov_pd(keep, E8(v)));
  }
  exp_clamped_scalar(x + i, y + i, count - i);
}

template <__m256d (*E4)(__m256d)>
__attribute__((target("avx2,fma"))) void column4(const double *x, double *y, size_t count) {
  const __m256d floor = _mm256_set1_pd(kExpFloor);
  size_t i = 0;
  for (; i + 4 <= count; i += 4) {
    const __m256d v = _mm256_loadu_pd(x + i);
    const __m256d keep = _mm256_cmp_pd(v, floor, _CMP_GE_OQ);
    _mm256_storeu_pd(y + i, _mm256_and_pd(keep, E4(v)));
  }
  exp_clamped_scalar(x + i, y + i, count - i);
}

// Whether the library's kernel table, which the CPU and DYNATTN_MAX_CPU_ISA
// select, is isa's: the orientation's routines take the same vector width.
bool library_uses(att::kern::Isa isa) { return att::kern::active_isa() == isa; }

}  // namespace

ExpRoutine sleef_exp() {
#ifdef DYNATTN_BENCH_HAVE_SLEEF
  if (library_uses(att::kern::Isa::avx512))
    return {"SLEEF Sleef_expd8_u10avx512f", column8<Sleef_expd8_u10avx512f>};
  if (library_uses(att::kern::Isa::avx2))
    return {"SLEEF Sleef_expd4_u10avx2", column4<Sleef_expd4_u10avx2>};
#endif
  return {nullptr, nullptr};
}

ExpRoutine libmvec_exp() {
#ifdef DYNATTN_BENCH_HAVE_LIBMVEC
  if (library_uses(att::kern::Isa::avx512)) return {"libmvec _ZGVeN8v_exp", column8<_ZGVeN8v_exp>};
  if (library_uses(att::kern::Isa::avx2)) return {"libmvec _ZGVdN4v_exp", column4<_ZGVdN4v_exp>};
#endif
  return {nullptr, nullptr};
}

double worst_exp_error(const double *x, const double *y, size_t count) {
  double worst = 0.0;
  for (size_t i = 0; i < count; ++i) {
    if (x[i] < kExpFloor) continue;  // flushed to 0 on purpose
    const long double exact = expl(static_cast<long double>(x[i]));
    const double nearest = static_cast<double>(exact);
    const double ulp = std::nextafter(nearest, INFINITY) - nearest;
    const double error = static_cast<double>(fabsl(static_cast<long double>(y[i]) - exact) / ulp);
    if (!(error <= worst)) worst = error;
  }
  return worst;
}

}  // namespace bench
