// Kernels for CPUs with AVX-512F, built with -mavx512f only. The exponential
// is our own (vector_exp.hpp), with a table of 2^(j/16) held in four
// registers: about 17 instructions where a general-purpose vector exp
// (SLEEF's) takes about 30.
#include <immintrin.h>

#include <cstdint>

#include "vector_exp.hpp"

namespace att::kern {
namespace {

// exp8's error: r is within about 2^-58 of the result's magnitude, the
// degree-7 polynomial's remainder is below |r|^8/8! < 1.3e-18 (0.006 ulp of
// the result), and vscalefpd multiplies by 2^floor(k/16) exactly. The last
// addition rounds once (0.5 ulp); the errors before it (of r, of p, of
// T_hi*p + T_lo, each at most u times a few percent of the result, and the
// remainder) come to less than 0.1 ulp, so the error is below 0.6 ulp. Over
// 3.3e7 arguments spread over [-708, 709] and over [-1, 1] at every scale
// down to 2^-40 the worst measured error was 0.555 ulp (SLEEF's 1-ulp exp on
// the same arguments: 0.852 ulp).
struct ExpTable {
  __m512d hi0, hi1, lo0, lo1;
};

inline ExpTable load_exp_table() {
  return {_mm512_load_pd(vexp::kExp2Hi), _mm512_load_pd(vexp::kExp2Hi + 8),
          _mm512_load_pd(vexp::kExp2Lo), _mm512_load_pd(vexp::kExp2Lo + 8)};
}

// vexp::reduce's fused operations on eight doubles.
struct Fused8 {
  static __m512d fmadd(__m512d a, __m512d b, __m512d c) { return _mm512_fmadd_pd(a, b, c); }
  static __m512d fnmadd(__m512d a, __m512d b, __m512d c) { return _mm512_fnmadd_pd(a, b, c); }
};

// exp of eight arguments; any value for an argument below -708 (the callers
// flush those to 0), NaN included.
inline __m512d exp8(__m512d x, const ExpTable &t) {
  __m512d shifted, k;
  const __m512d p = vexp::reduce<Fused8, 16, 7>(x, shifted, k);
  const __m512i j = _mm512_castpd_si512(shifted);
  const __m512d hi = _mm512_permutex2var_pd(t.hi0, j, t.hi1);
  const __m512d lo = _mm512_permutex2var_pd(t.lo0, j, t.lo1);
  const __m512d y = _mm512_add_pd(hi, _mm512_fmadd_pd(hi, p, lo));
  // vscalefpd multiplies by 2^floor(its second operand). (The masked form
  // with every lane set: GCC 12's _mm512_scalef_pd trips its own
  // -Wmaybe-uninitialized.)
  return _mm512_maskz_scalef_pd(0xff, y, _mm512_mul_pd(k, _mm512_set1_pd(0x1p-4)));
}

void exp_block(const double *x, double *y, int64_t n) {
  const ExpTable t = load_exp_table();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm512_storeu_pd(y + i, exp8(_mm512_loadu_pd(x + i), t));
  if (i < n) {
    // The tail goes through the same vector code, masked.
    const __mmask8 tail = static_cast<__mmask8>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_pd(y + i, tail, exp8(_mm512_maskz_loadu_pd(tail, x + i), t));
  }
}

}  // namespace
}  // namespace att::kern

#include "kernels_isa.hpp"

namespace att::kern {
ATT_DEFINE_KERNEL_TABLE(kAvx512Table);
}
