// Kernels for CPUs with AVX-512F, built with -mavx512f only. The exponential
// is our own (below): the kernels only need exp on [kExpFloor, kShiftHeadroom]
// with finite arguments, and on that domain a table of 2^(j/16) held in four
// registers does in about 17 instructions what a general-purpose vector exp
// (SLEEF's) does in about 30. The AVX2 kernels' routine (kernels_avx2.cpp)
// is the same method with a table of 2^(j/8).
#include <immintrin.h>

#include <cstdint>

#include "numerics.hpp"

namespace att::kern {
namespace {

// exp(x) = 2^e * 2^(j/16) * exp(r), with k = e*16 + j = round(x * 16/ln 2) and
// r = x - k * ln2/16, |r| <= ln2/32 + tiny.
//  - k comes from adding 1.5 * 2^52: the sum's low mantissa bits are k in two's
//    complement, so its bit pattern indexes the table directly (the permute
//    reads the low 4 bits of each lane) and subtracting the constant again
//    gives k exactly.
//  - r is x - k*L_hi - k*L_lo with ln2/16 = L_hi + L_lo: L_hi is ln2/16
//    rounded, so each fused step rounds once and r is within an ulp of r's
//    magnitude (about 2^-58 relative to the result).
//  - exp(r) - 1 is its Taylor polynomial of degree 7: the remainder is
//    below |r|^8/8! < 1.3e-18, 0.006 ulp of the result.
//  - 2^(j/16) = T_hi + T_lo, T_hi rounded to double and T_lo the rest; the
//    result T_hi + (T_hi*p + T_lo) rounds once at the end, and
//    vscalefpd multiplies by 2^floor(k/16) exactly (for results in the
//    normal range, which is all the callers keep).
// The last addition rounds once (0.5 ulp); the errors before it (of r, of p,
// of T_hi*p + T_lo, each at most u times a few percent of the result, and
// the polynomial's remainder) come to less than 0.1 ulp, so the error is
// below 0.6 ulp. Over 3.3e7 arguments spread over [-708, 709] and over
// [-1, 1] at every scale down to 2^-40 the worst measured error was 0.555 ulp
// (SLEEF's 1-ulp exp on the same arguments: 0.852 ulp). tests/test_kernels.cpp
// checks every table's exponential against a long-double one.
alignas(64) constexpr double kTableHi[16] = {
    0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,
    0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,
    0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
    0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0,
};
alignas(64) constexpr double kTableLo[16] = {
    0x0.0000000000000p+0,   0x1.8a62e4adc610bp-54,  -0x1.19041b9d78a76p-55, 0x1.9b07eb6c70573p-54,
    0x1.6f46ad23182e4p-55,  0x1.ada0911f09ebcp-55,  0x1.d4397afec42e2p-56,  0x1.6324c054647adp-54,
    -0x1.bdd3413b26456p-54, -0x1.41577ee04992fp-55, 0x1.6e9f156864b27p-54,  0x1.c7c46b071f2bep-56,
    0x1.7a1cd345dcc81p-54,  0x1.11065895048ddp-55,  0x1.2ed02d75b3707p-55,  -0x1.e9c23179c2893p-54,
};

struct ExpTable {
  __m512d hi0, hi1, lo0, lo1;
};

inline ExpTable load_exp_table() {
  return {_mm512_load_pd(kTableHi), _mm512_load_pd(kTableHi + 8), _mm512_load_pd(kTableLo),
          _mm512_load_pd(kTableLo + 8)};
}

// exp of eight arguments; any value for an argument below -708 (the callers
// flush those to 0), NaN included.
inline __m512d exp8(__m512d x, const ExpTable &t) {
  const __m512d shifter = _mm512_set1_pd(0x1.8p52);
  __m512d k = _mm512_fmadd_pd(x, _mm512_set1_pd(0x1.71547652b82fep+4), shifter);  // 16/ln2
  const __m512i j = _mm512_castpd_si512(k);
  k = _mm512_sub_pd(k, shifter);
  __m512d r = _mm512_fnmadd_pd(k, _mm512_set1_pd(0x1.62e42fefa39efp-5), x);
  r = _mm512_fnmadd_pd(k, _mm512_set1_pd(0x1.abc9e3b39803fp-60), r);
  // p = exp(r) - 1 = r + r^2 (1/2! + r (1/3! + ... + r/7!)).
  __m512d p = _mm512_set1_pd(num::kInverseFactorial[7]);
  for (int i = 6; i >= 2; --i) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(num::kInverseFactorial[i]));
  p = _mm512_fmadd_pd(p, _mm512_mul_pd(r, r), r);
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
