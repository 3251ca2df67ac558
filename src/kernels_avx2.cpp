// Kernels for CPUs with AVX2 and FMA, built with -mavx2 -mfma only. The
// exponential is our own (vector_exp.hpp). AVX2 has no permute that reads
// sixteen doubles from two registers and no vscalefpd, so the table is of
// 2^(j/8), read with dword permutes, and 2^e is built in the exponent field.
#include <immintrin.h>

#include <cstdint>

#include "vector_exp.hpp"

namespace att::kern {
namespace {

// exp4's error: r is within about 2^-57 of the result's magnitude (r is
// twice as long as with the AVX-512 routine's table), the degree-8
// polynomial's remainder is below |r|^9/9! < 1.6e-18 (0.015 ulp of the
// result), and 2^e, built in the exponent field, multiplies exactly. The last
// addition rounds once (0.5 ulp). The errors before it, in ulps of the
// result: r's two roundings (below 0.0625), p's last rounding (0.03), that of
// T_hi*p + T_lo (0.03) and the remainder (0.015); so the error is below 0.65
// ulp. Over 3.3e7 arguments spread over [-708, 64] and over [-1, 1] at every
// scale down to 2^-40 the worst measured error was 0.603 ulp (the AVX-512
// routine's on the same arguments: 0.555).

// The table of 2^(j/8), every other entry of vector_exp.hpp's: T_hi and
// T_lo, each as its halves (entries 0-3 and 4-7), one register each for
// vpermd (which picks 32-bit elements, two per double).
struct alignas(32) Exp2Table8 {
  double v[8];
};
constexpr Exp2Table8 every_other(const double (&table)[16]) {
  Exp2Table8 t{};
  for (int j = 0; j < 8; ++j) t.v[j] = table[2 * j];
  return t;
}
constexpr Exp2Table8 kTableHi = every_other(vexp::kExp2Hi);
constexpr Exp2Table8 kTableLo = every_other(vexp::kExp2Lo);

struct ExpTable {
  __m256i hi0, hi1, lo0, lo1;
};

inline ExpTable load_exp_table() {
  const auto row = [](const double *p) { return _mm256_castpd_si256(_mm256_load_pd(p)); };
  return {row(kTableHi.v), row(kTableHi.v + 4), row(kTableLo.v), row(kTableLo.v + 4)};
}

// Entry j of a table given as its halves: idx picks entry j & 3 of each
// half, `upper` (j's bit 2 in the sign bit) chooses between them.
inline __m256d table_entry(__m256i half0, __m256i half1, __m256i idx, __m256d upper) {
  const __m256d a = _mm256_castsi256_pd(_mm256_permutevar8x32_epi32(half0, idx));
  const __m256d b = _mm256_castsi256_pd(_mm256_permutevar8x32_epi32(half1, idx));
  return _mm256_blendv_pd(a, b, upper);
}

// vexp::reduce's fused operations on four doubles.
struct Fused4 {
  static __m256d fmadd(__m256d a, __m256d b, __m256d c) { return _mm256_fmadd_pd(a, b, c); }
  static __m256d fnmadd(__m256d a, __m256d b, __m256d c) { return _mm256_fnmadd_pd(a, b, c); }
};

// exp of four arguments in [-708, 709.7] (the callers pass at most
// kShiftHeadroom); exp(709.7) above, where e would leave the exponent field
// (for want of vscalefpd), which keeps a result on a wayward path large and
// finite; any value below -708 (the callers flush those to 0); NaN for NaN.
inline __m256d exp4(__m256d x, const ExpTable &t) {
  x = _mm256_min_pd(_mm256_set1_pd(709.7), x);  // minpd returns x if it is NaN
  __m256d shifted, k;
  const __m256d p = vexp::reduce<Fused4, 8, 8>(x, shifted, k);
  const __m256i bits = _mm256_castpd_si256(shifted);
  // vpermd's indices: 2(j & 3) and 2(j & 3) + 1 in each lane's two dwords
  // (vpermd reads only an index's low three bits, so the rest may be set).
  const __m256i twice = _mm256_add_epi64(bits, bits);
  const __m256i idx =
      _mm256_add_epi32(_mm256_shuffle_epi32(twice, 0xa0), _mm256_set1_epi64x(int64_t{1} << 32));
  const __m256d upper = _mm256_castsi256_pd(_mm256_slli_epi64(bits, 61));
  const __m256d hi = table_entry(t.hi0, t.hi1, idx, upper);
  const __m256d lo = table_entry(t.lo0, t.lo1, idx, upper);
  const __m256d y = _mm256_add_pd(hi, _mm256_fmadd_pd(hi, p, lo));
  // 2^e: e's low 12 bits (bits 3 to 14 of k, two's complement) moved to the
  // exponent field, plus the bias, wrapping as 64-bit integers.
  const __m256i e = _mm256_and_si256(_mm256_slli_epi64(bits, 49),
                                     _mm256_set1_epi64x(static_cast<int64_t>(0xfff0000000000000u)));
  const __m256i scale = _mm256_add_epi64(e, _mm256_set1_epi64x(int64_t{1023} << 52));
  return _mm256_mul_pd(y, _mm256_castsi256_pd(scale));
}

void exp_block(const double *x, double *y, int64_t n) {
  const ExpTable t = load_exp_table();
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) _mm256_storeu_pd(y + i, exp4(_mm256_loadu_pd(x + i), t));
  if (i < n) {
    // The tail goes through the same vector code, masked.
    const __m256i lane = _mm256_set_epi64x(3, 2, 1, 0);
    const __m256i tail = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n - i), lane);
    _mm256_maskstore_pd(y + i, tail, exp4(_mm256_maskload_pd(x + i, tail), t));
  }
}

}  // namespace
}  // namespace att::kern

#include "kernels_isa.hpp"

namespace att::kern {
ATT_DEFINE_KERNEL_TABLE(kAvx2Table);
}
