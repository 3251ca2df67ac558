// The method and the constants of the library's vector exponentials
// (kernels_avx512.cpp, eight arguments with a table of 2^(j/16);
// kernels_avx2.cpp, four with a table of 2^(j/8)). They need exp only on
// [kExpFloor, kShiftHeadroom] with finite arguments, and on that range a
// table with one final rounding is both faster and more accurate than a
// general-purpose routine.
//
// With N entries per octave, exp(x) = 2^e * 2^(j/N) * exp(r), where
// k = e*N + j = round(x * N/ln 2) and r = x - k * ln2/N, |r| <= ln2/(2N) + tiny.
//  - k comes from adding kShifter = 1.5 * 2^52 to x * N log2(e): the sum's
//    low mantissa bits are k in two's complement, so its bit pattern gives j
//    (its low log2(N) bits) and e (the bits above, sign-extended), and
//    subtracting kShifter again gives k exactly.
//  - r is x - k*L_hi - k*L_lo with ln2/N = L_hi + L_lo (kLn2Hi / N and
//    kLn2Lo / N, exact scalings): L_hi is ln2/N rounded, so each fused step
//    rounds once and r is within an ulp of r's magnitude.
//  - exp(r) - 1 is its Taylor polynomial (kInverseFactorial), of a degree
//    that leaves the remainder far below an ulp of the result.
//  - 2^(j/N) = T_hi + T_lo, T_hi rounded to double and T_lo the rest; the
//    result T_hi + (T_hi*p + T_lo) rounds once, and multiplying it by 2^e is
//    exact for results in the normal range (all the callers keep: x >= -708
//    gives e >= -1022).
// Each routine's file gives its error budget; tests/test_kernels.cpp checks
// every table's exponential against a long-double one.
#pragma once

namespace att::kern::vexp {

constexpr double kShifter = 0x1.8p52;
constexpr double kLog2E = 0x1.71547652b82fep+0;   // log2(e), rounded
constexpr double kLn2Hi = 0x1.62e42fefa39efp-1;   // ln 2, rounded
constexpr double kLn2Lo = 0x1.abc9e3b39803fp-56;  // ln 2 - kLn2Hi, rounded

// 1/i! for i = 0 to 8, each rounded to double: the polynomials' coefficients.
constexpr double kInverseFactorial[9] = {
    1.0,
    1.0,
    0x1p-1,
    0x1.5555555555555p-3,
    0x1.5555555555555p-5,
    0x1.1111111111111p-7,
    0x1.6c16c16c16c17p-10,
    0x1.a01a01a01a01ap-13,
    0x1.a01a01a01a01ap-16,
};

// 2^(j/16) = kExp2Hi[j] + kExp2Lo[j] for j = 0 to 15: kExp2Hi rounded to
// double, kExp2Lo the rest rounded. The table of 2^(j/8) is every other
// entry.
alignas(64) constexpr double kExp2Hi[16] = {
    0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,
    0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,
    0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
    0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0,
};
alignas(64) constexpr double kExp2Lo[16] = {
    0x0.0000000000000p+0,   0x1.8a62e4adc610bp-54,  -0x1.19041b9d78a76p-55, 0x1.9b07eb6c70573p-54,
    0x1.6f46ad23182e4p-55,  0x1.ada0911f09ebcp-55,  0x1.d4397afec42e2p-56,  0x1.6324c054647adp-54,
    -0x1.bdd3413b26456p-54, -0x1.41577ee04992fp-55, 0x1.6e9f156864b27p-54,  0x1.c7c46b071f2bep-56,
    0x1.7a1cd345dcc81p-54,  0x1.11065895048ddp-55,  0x1.2ed02d75b3707p-55,  -0x1.e9c23179c2893p-54,
};

// The steps every width shares, for a table of N entries per octave and a
// polynomial of degree kDegree, on the unit's own vectors V (GCC vector
// types, so constants, products and differences are plain arithmetic) and
// its fused operations Ops::fmadd(a, b, c) = a*b + c and Ops::fnmadd(a, b, c)
// = c - a*b, each rounded once. Sets `shifted` = x*N*log2(e) + kShifter,
// whose bits hold j and e, and k = shifted - kShifter; returns p = exp(r) - 1.
// In an anonymous namespace: every instruction-set unit instantiates its own
// copy, so that the linker can never hand one unit's instructions to another.
namespace {

template <class Ops, int N, int kDegree, class V>
inline V reduce(V x, V &shifted, V &k) {
  const auto splat = [](double c) { return V{} + c; };
  shifted = Ops::fmadd(x, splat(kLog2E * N), splat(kShifter));
  k = shifted - kShifter;
  V r = Ops::fnmadd(k, splat(kLn2Hi / N), x);
  r = Ops::fnmadd(k, splat(kLn2Lo / N), r);
  // p = r + r^2 (1/2! + r (1/3! + ... + r/kDegree!)).
  V p = splat(kInverseFactorial[kDegree]);
  for (int i = kDegree - 1; i >= 2; --i) p = Ops::fmadd(p, r, splat(kInverseFactorial[i]));
  return Ops::fmadd(p, r * r, r);
}

}  // namespace

}  // namespace att::kern::vexp
