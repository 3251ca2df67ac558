// The kernels' loop bodies, included once by each instruction-set unit after
// it has defined
//   void exp_block(const double *x, double *y, int64_t n);   // n <= kBlock
// returning exp(x) (any value for x below the floor; the caller clamps).
// Everything here has internal linkage and calls no library templates: an
// inline function instantiated in an AVX-512 unit must never be picked by the
// linker for a caller that runs on a CPU without AVX-512.
#pragma once

#include <cstdint>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "kernels_table.hpp"
#include "numerics.hpp"

namespace att::kern {
namespace {

// Elements per pass through exp_block: small enough for the stack and L1.
constexpr int64_t kBlock = 256;

// Elements per pass of the key kernels, whose columns come from memory: a
// short block lets the loads of the next one start while the core still
// works through this one's bookkeeping (at n = 4096 a key update's median
// call took about a tenth less than with kBlock).
constexpr int64_t kKeyBlock = 64;

// How far ahead key_scale_rows asks for the kept column and q: four of its
// blocks (2 KiB of each). A key update reads a column that no recent update
// touched, and the hardware prefetcher has to find each such stream afresh;
// asked this far ahead, the lines arrive before their block needs them (at
// n = 4096 a key update's median call took 7 to 13 % less in alternated
// runs of dynattn-threads and dynattn-bench).
constexpr int64_t kKeyPrefetch = 4 * kKeyBlock;

inline int64_t block_length(int64_t n, int64_t i0, int64_t block = kBlock) {
  return n - i0 < block ? n - i0 : block;
}

// Doubles in one of the unit's own vector registers.
#if defined(__AVX512F__)
constexpr int64_t kNative = 8;
#elif defined(__AVX__)
constexpr int64_t kNative = 4;
#else
constexpr int64_t kNative = 2;
#endif

// dst[i] = src[i] for i < n, with non-temporal stores (the widest the unit's
// instruction set has; ordinary stores for the unaligned ends). The key
// kernels write a fresh pending term so when its next reader, the fold's
// product, runs on several threads: their cores still hold the lines they
// read in the last fold, and an ordinary store must first take its line
// from them, which on the shared development machine cost up to 25 us per
// column in some phases (docs/PERFORMANCE.md); a non-temporal store writes
// the whole line without reading it. The lines leave this core's caches
// (on one thread the fold would rather find them there), and stream_fence()
// must follow before another thread may read them.
inline void stream_copy(const double *__restrict src, double *__restrict dst, int64_t n) {
  int64_t i = 0;
#if defined(__SSE2__)
  constexpr uintptr_t kAlign = kNative * sizeof(double);
  for (; i < n && reinterpret_cast<uintptr_t>(dst + i) % kAlign != 0; ++i) dst[i] = src[i];
  for (; i + kNative <= n; i += kNative) {
#if defined(__AVX512F__)
    _mm512_stream_pd(dst + i, _mm512_loadu_pd(src + i));
#elif defined(__AVX__)
    _mm256_stream_pd(dst + i, _mm256_loadu_pd(src + i));
#else
    _mm_stream_pd(dst + i, _mm_loadu_pd(src + i));
#endif
  }
#endif
  for (; i < n; ++i) dst[i] = src[i];
}

// Orders the non-temporal stores before every later store, so that the
// thread that next synchronizes with this one sees them.
inline void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

void isa_stream_zero(double *a, int64_t n) {
  static constexpr double kZeros[kBlock] = {};
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) stream_copy(kZeros, a + i0, block_length(n, i0));
  stream_fence();
}

// Asks for the block after [i0, i0 + kBlock) of x (of n), a line at a time,
// so that an array read from memory arrives while the current block's
// exponentials keep the core busy.
inline void prefetch_next_block(const double *x, int64_t i0, int64_t n) {
  for (int64_t i = i0 + kBlock; i < i0 + 2 * kBlock && i < n; i += 8) __builtin_prefetch(x + i);
}

// Asks for the lines of the kept column a (to be written) and of q at the
// block kKeyPrefetch rows after [i0, i0 + kKeyBlock) (of n).
inline void prefetch_key_block(const double *a, const double *q, int64_t i0, int64_t n) {
  const int64_t end = i0 + kKeyPrefetch + kKeyBlock < n ? i0 + kKeyPrefetch + kKeyBlock : n;
  for (int64_t i = i0 + kKeyPrefetch; i < end; i += 8) {
    __builtin_prefetch(a + i, 1);
    __builtin_prefetch(q + i);
  }
}

void isa_exp_offset(const double *x, double shift, double *a, int64_t n) {
  double t[kBlock], e[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t len = block_length(n, i0);
    for (int64_t i = 0; i < len; ++i) t[i] = x[i0 + i] - shift;
    exp_block(t, e, len);
    for (int64_t i = 0; i < len; ++i) a[i0 + i] = t[i] < num::kExpFloor ? 0.0 : e[i];
  }
}

bool isa_axpy(const double *m, double s, const double *q, double *out, double limit, int64_t n) {
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = m[i] + s * q[i];
    out[i] = v;
    bad |= __builtin_fabs(v) <= limit ? 0 : 1;
  }
  return bad != 0;
}

bool isa_running_max(const double *m, double *shift, double limit, int64_t n) {
  unsigned bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = m[i];
    bad |= !(__builtin_fabs(v) <= limit);
    shift[i] = v > shift[i] ? v : shift[i];
  }
  return bad != 0;
}

// out[i] += c * sum of up to four columns' a[i], read side by side.
inline void add_sum4(double *__restrict out, double c, const double *__restrict a0,
                     const double *__restrict a1, const double *__restrict a2,
                     const double *__restrict a3, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] += c * ((a0[i] + a1[i]) + (a2[i] + a3[i]));
}
inline void add_sum2(double *__restrict out, double c, const double *__restrict a0,
                     const double *__restrict a1, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] += c * (a0[i] + a1[i]);
}
inline void add_sum1(double *__restrict out, double c, const double *__restrict a0, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] += c * a0[i];
}

void isa_add_columns(const double *const *cols, int64_t count, double c, double *out, int64_t n) {
  static_assert(kAddColumnsWidth == 4, "add_sum4 is the widest pass");
  int64_t g = 0;
  for (; g + 4 <= count; g += 4)
    add_sum4(out, c, cols[g], cols[g + 1], cols[g + 2], cols[g + 3], n);
  if (g + 2 <= count) {
    add_sum2(out, c, cols[g], cols[g + 1], n);
    g += 2;
  }
  if (g < count) add_sum1(out, c, cols[g], n);
}

void isa_combine_columns(const double *const *cols, const double *coefficients, int64_t count,
                         double *out, int64_t n) {
  double sum[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t len = block_length(n, i0);
    const double *a = cols[0] + i0;
    const double c = coefficients[0];
    for (int64_t i = 0; i < len; ++i) sum[i] = c * a[i];
    for (int64_t g = 1; g < count; ++g) {
      const double *b = cols[g] + i0;
      const double cg = coefficients[g];
      for (int64_t i = 0; i < len; ++i) sum[i] += cg * b[i];
    }
    double *o = out + i0;
    for (int64_t i = 0; i < len; ++i) o[i] += sum[i];
  }
}

void isa_exp_accumulate(const double *m, const double *shift, double *a, double *hi, double *lo,
                        int64_t n) {
  double x[kBlock], e[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t len = block_length(n, i0);
    for (int64_t i = 0; i < len; ++i) x[i] = m[i0 + i] - shift[i0 + i];
    exp_block(x, e, len);
    for (int64_t i = 0; i < len; ++i) {
      const double v = x[i] < num::kExpFloor ? 0.0 : e[i];
      a[i0 + i] = v;
      // TwoSum(hi, v), written out so it vectorizes.
      const double h = hi[i0 + i];
      const double s = h + v;
      const double vv = s - h;
      lo[i0 + i] += (h - (s - vv)) + (v - vv);
      hi[i0 + i] = s;
    }
  }
}

// Whether a row must be recomputed after a key update: an entry above the
// headroom (the row must be re-shifted), or the error bound e above tol
// times D (also when D is no longer positive, the row's mass having fallen
// below the exponent floor).
inline int64_t row_over(int64_t high, double e, double d, double tol) {
  return high | (e <= tol * d ? 0 : 1);
}

// What both key kernels do with a row's change d once they have it: the
// pending term, D by TwoSum (written out so that it vectorizes), and the
// error bound, which grows by `charge`. Returns row_over's verdict.
__attribute__((always_inline)) inline int64_t absorb(double d, double charge, int64_t high,
                                                     double tol, bool accumulate,
                                                     double *__restrict delta,
                                                     double *__restrict hi, double *__restrict lo,
                                                     double *__restrict err) {
  *delta = accumulate ? *delta + d : d;
  const double h = *hi;
  const double sum = h + d;
  const double dd = sum - h;
  const double low = *lo + ((h - (sum - dd)) + (d - dd));
  *lo = low;
  *hi = sum;
  const double e = *err + charge;
  *err = e;
  return row_over(high, e, sum + low, tol);
}

// Flags the rows [i0, i0 + len) that over(r) picks and were not flagged;
// returns how many. Runs only for a block where some row was over.
template <class Over>
int64_t flag_rows(int64_t i0, int64_t len, unsigned char *flagged, Over over) {
  int64_t count = 0;
  for (int64_t r = i0; r < i0 + len; ++r) {
    const bool flag = over(r) != 0 && flagged[r] == 0;
    flagged[r] = flag ? 1 : flagged[r];
    count += flag ? 1 : 0;
  }
  return count;
}

// Whether a scaled entry is above the headroom: its exponential's argument
// v was, or was NaN (either way it was clamped), or the entry a is.
// key_scale_rows asks about the entry before its flush to 0, which gives the
// same answer: asked about the flushed one, GCC 12 turns the two selections
// into a branch and the loop stays scalar.
inline int64_t above(double v, double a) {
  return (v <= num::kShiftHeadroom ? 0 : 1) | (a > num::kMaxEntry ? 1 : 0);
}

// key_scale, block by block: the exponentials' arguments, the
// exponentials, then the bookkeeping, while the block is in L1. Every array
// is distinct (restrict), or the loops would not vectorize. kAccumulate:
// delta is added to, not stored.
template <bool kAccumulate>
KeyScaleResult key_scale_rows(double *__restrict a, double s, const double *__restrict q,
                              double drift, double *__restrict hi, double *__restrict lo,
                              double *__restrict err, unsigned char *__restrict flagged,
                              double *__restrict delta, double charge, double tol, bool stream,
                              int64_t n) {
  double x[kKeyBlock], e[kKeyBlock], fresh[kKeyBlock];
  KeyScaleResult result{0, 0};
  for (int64_t i0 = 0; i0 < n; i0 += kKeyBlock) {
    const int64_t len = block_length(n, i0, kKeyBlock);
    prefetch_key_block(a, q, i0, n);
    for (int64_t i = 0; i < len; ++i) {
      const double v = s * q[i0 + i];
      x[i] = v <= num::kShiftHeadroom ? v : num::kShiftHeadroom;  // NaN too
    }
    exp_block(x, e, len);
    // Where the block's changes go: a streamed fresh term through L1.
    double *out = !kAccumulate && stream ? fresh : delta + i0;
    int64_t any = 0, zeros = 0;
    for (int64_t i = 0; i < len; ++i) {
      const int64_t r = i0 + i;
      const double v = s * q[r];
      // Loaded unconditionally, so the selections below vectorize.
      const double f = e[i];
      const double grown = a[r] * (x[i] < num::kExpFloor ? 0.0 : f);
      const double a_new = grown < num::kMinEntry ? 0.0 : grown;
      const double a_old = a[r];
      a[r] = a_new;
      zeros += a_old == 0.0 ? 1 : 0;
      const double wander = drift * (1.0 + __builtin_fabs(v)) * a_new;
      any |= absorb(a_new - a_old, charge * (a_old + a_new) + wander, above(v, grown), tol,
                    kAccumulate, out + i, hi + r, lo + r, err + r);
    }
    if (!kAccumulate && stream) stream_copy(fresh, delta + i0, len);
    result.zeros += zeros;
    if (any == 0) continue;  // the usual case: nothing to flag
    // The conditions again, from what the loop above stored.
    result.flagged += flag_rows(i0, len, flagged, [&](int64_t r) {
      const double v = s * q[r];
      return row_over(above(v, a[r]), err[r], hi[r] + lo[r], tol);
    });
  }
  return result;
}

KeyScaleResult isa_key_scale(const KeyScale &k, int64_t n) {
  const KeyBooks &b = k.books;
  const auto rows = b.accumulate ? key_scale_rows<true> : key_scale_rows<false>;
  const KeyScaleResult result = rows(k.a, k.s, k.q, k.drift, b.hi, b.lo, b.err, b.flagged, b.delta,
                                     b.charge, b.tol, b.stream, n);
  if (b.stream) stream_fence();
  return result;
}

// key_column, block by block, as key_scale_rows. kRecompute: the recompute
// charge is not 0 (its stream of norms is read only then). kKept: a_old is
// the kept entry, which a_new replaces (m is not read).
template <bool kRecompute, bool kAccumulate, bool kKept>
int64_t key_column_rows(const double *__restrict m, double *__restrict kept,
                        const double *__restrict logits, const double *__restrict shift,
                        const double *__restrict norm, double recompute, double *__restrict hi,
                        double *__restrict lo, double *__restrict err,
                        unsigned char *__restrict flagged, double *__restrict delta, double charge,
                        double tol, bool stream, int64_t n) {
  double x_old[kKeyBlock], x_new[kKeyBlock], e_old[kKeyBlock], e_new[kKeyBlock], fresh[kKeyBlock];
  int64_t count = 0;
  for (int64_t i0 = 0; i0 < n; i0 += kKeyBlock) {
    const int64_t len = block_length(n, i0, kKeyBlock);
    for (int64_t i = 0; i < len; ++i) {
      const int64_t r = i0 + i;
      if (!kKept) x_old[i] = m[r] - shift[r];
      const double v = logits[r] - shift[r];
      x_new[i] = v > num::kShiftHeadroom ? num::kShiftHeadroom : v;
    }
    if (!kKept) exp_block(x_old, e_old, len);
    exp_block(x_new, e_new, len);
    double *out = !kAccumulate && stream ? fresh : delta + i0;
    int64_t any = 0;
    for (int64_t i = 0; i < len; ++i) {
      const int64_t r = i0 + i;
      const double v = logits[r] - shift[r];
      // Loaded unconditionally, so the selections below vectorize.
      const double en = e_new[i];
      const double a_old = kKept ? kept[r] : x_old[i] < num::kExpFloor ? 0.0 : e_old[i];
      const double a = v < num::kExpFloor ? 0.0 : en;
      if (kKept) kept[r] = a;
      const double recomputed = kRecompute ? recompute * norm[r] * a_old : 0.0;
      any |= absorb(a - a_old, charge * (a + a_old) + recomputed, v > num::kShiftHeadroom ? 1 : 0,
                    tol, kAccumulate, out + i, hi + r, lo + r, err + r);
    }
    if (!kAccumulate && stream) stream_copy(fresh, delta + i0, len);
    if (any == 0) continue;  // the usual case: nothing to flag
    count += flag_rows(i0, len, flagged, [&](int64_t r) {
      return row_over(logits[r] - shift[r] > num::kShiftHeadroom ? 1 : 0, err[r], hi[r] + lo[r],
                      tol);
    });
  }
  return count;
}

template <bool kRecompute, bool kKept>
int64_t key_column_into(const KeyColumn &k, int64_t n) {
  const KeyBooks &b = k.books;
  const auto rows = b.accumulate ? key_column_rows<kRecompute, true, kKept>
                                 : key_column_rows<kRecompute, false, kKept>;
  const int64_t flagged = rows(k.m, k.kept, k.logits, k.shift, k.norm, k.recompute, b.hi, b.lo,
                               b.err, b.flagged, b.delta, b.charge, b.tol, b.stream, n);
  if (b.stream) stream_fence();
  return flagged;
}

int64_t isa_key_column(const KeyColumn &k, int64_t n) {
  if (k.kept != nullptr) return key_column_into<false, true>(k, n);
  return k.recompute != 0.0 ? key_column_into<true, false>(k, n)
                            : key_column_into<false, false>(k, n);
}

void isa_exp_shifted(const double *x, const double *shift, double *a, int64_t n) {
  double t[kBlock], e[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t len = block_length(n, i0);
    // x may be a column of logits in memory (copy_column).
    prefetch_next_block(x, i0, n);
    for (int64_t i = 0; i < len; ++i) t[i] = x[i0 + i] - shift[i0 + i];
    exp_block(t, e, len);
    for (int64_t i = 0; i < len; ++i) a[i0 + i] = t[i] < num::kExpFloor ? 0.0 : e[i];
  }
}

// Reductions run on explicit vectors of eight doubles (GCC/Clang vector
// extensions: one AVX-512 register, two AVX2 or four SSE2 ones, as the unit's
// flags allow) in local variables, so their loop-carried accumulators stay in
// registers instead of round-tripping through the stack.
typedef double Vec8 __attribute__((vector_size(64)));
constexpr int64_t kVec = 8;

// A vector of doubles (Vec8 or VecN below) from p, which need not be aligned.
template <class V>
inline V load(const double *p) {
  V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

// (hi, lo) += v lane by lane with TwoSum: hi + lo carries no rounding.
inline void two_sum8(Vec8 &hi, Vec8 &lo, Vec8 v) {
  const Vec8 s = hi + v;
  const Vec8 vv = s - hi;
  lo += (hi - (s - vv)) + (v - vv);
  hi = s;
}

// Comparisons and selections, unlike arithmetic, are lowered to scalar code
// on vectors wider than the unit's registers (GCC 12), so the maximum runs on
// vectors of the unit's own width (kNative).
typedef double VecN __attribute__((vector_size(kNative * sizeof(double))));
typedef long long MaskN __attribute__((vector_size(kNative * sizeof(double))));

double isa_max_of(const double *x, double limit, bool *bad, int64_t n) {
  // Four vectors of running maxima (the order of a maximum does not matter)
  // and of flags for lanes that saw NaN or a value above `limit` in magnitude.
  constexpr int64_t kAcc = 4, kStep = kAcc * kNative;
  const double ninf = -__builtin_inf();
  VecN best[kAcc];
  MaskN flags[kAcc];
#pragma GCC unroll 4
  for (int64_t a = 0; a < kAcc; ++a) {
    best[a] = VecN{} + ninf;
    flags[a] = MaskN{};
  }
  int64_t i = 0;
  for (; i + kStep <= n; i += kStep) {
#pragma GCC unroll 4
    for (int64_t a = 0; a < kAcc; ++a) {
      const VecN v = load<VecN>(x + i + a * kNative);
      flags[a] |= ~((v <= limit) & (v >= -limit));
      best[a] = v > best[a] ? v : best[a];
    }
  }
  double result = ninf;
  long long any = 0;
  for (int64_t a = 0; a < kAcc; ++a) {
    for (int64_t l = 0; l < kNative; ++l) {
      result = best[a][l] > result ? best[a][l] : result;
      any |= flags[a][l];
    }
  }
  for (; i < n; ++i) {
    any |= !(__builtin_fabs(x[i]) <= limit);
    result = x[i] > result ? x[i] : result;
  }
  if (any) *bad = true;
  return result;
}

// Four vectors of TwoSum lanes (32 in all: the four dependent additions of
// each step have several chains in flight); element i of a block goes to
// lane i mod 32, a block's tail to lane 0, and the lanes are combined in
// order at the end, so the result does not depend on the vector width.
double isa_exp_sum(const double *x, double shift, double *a, int64_t n) {
  double t[kBlock], e[kBlock];
  Vec8 hi0 = {}, hi1 = {}, hi2 = {}, hi3 = {}, lo0 = {}, lo1 = {}, lo2 = {}, lo3 = {};
  double tail_hi = 0.0, tail_lo = 0.0;
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t len = block_length(n, i0);
    for (int64_t i = 0; i < len; ++i) t[i] = x[i0 + i] - shift;
    exp_block(t, e, len);
    for (int64_t i = 0; i < len; ++i) {
      e[i] = t[i] < num::kExpFloor ? 0.0 : e[i];
      a[i0 + i] = e[i];
    }
    int64_t i = 0;
    for (; i + 4 * kVec <= len; i += 4 * kVec) {
      two_sum8(hi0, lo0, load<Vec8>(e + i));
      two_sum8(hi1, lo1, load<Vec8>(e + i + kVec));
      two_sum8(hi2, lo2, load<Vec8>(e + i + 2 * kVec));
      two_sum8(hi3, lo3, load<Vec8>(e + i + 3 * kVec));
    }
    for (; i < len; ++i) {
      const double v = e[i];
      const double s = tail_hi + v;
      const double vv = s - tail_hi;
      tail_lo += (tail_hi - (s - vv)) + (v - vv);
      tail_hi = s;
    }
  }
  double hi[4 * kVec], lo[4 * kVec];
  __builtin_memcpy(hi, &hi0, sizeof hi0);
  __builtin_memcpy(hi + kVec, &hi1, sizeof hi1);
  __builtin_memcpy(hi + 2 * kVec, &hi2, sizeof hi2);
  __builtin_memcpy(hi + 3 * kVec, &hi3, sizeof hi3);
  __builtin_memcpy(lo, &lo0, sizeof lo0);
  __builtin_memcpy(lo + kVec, &lo1, sizeof lo1);
  __builtin_memcpy(lo + 2 * kVec, &lo2, sizeof lo2);
  __builtin_memcpy(lo + 3 * kVec, &lo3, sizeof lo3);
  double sum = tail_hi, comp = tail_lo;
  for (int64_t l = 0; l < 4 * kVec; ++l) {
    const double s = sum + hi[l];
    const double vv = s - sum;
    comp += ((sum - (s - vv)) + (hi[l] - vv)) + lo[l];
    sum = s;
  }
  return sum + comp;
}

// tile_weights for the rows [r0, r0 + 4 kVec) of a tile: their sums stay in
// registers while the columns go by, four vectors of TwoSum lanes (element i
// of the group in lane i, as exp_accumulate would add it).
void tile_weights_group(double *x, int64_t ld, double *copy, int64_t ldc, int64_t r0, int64_t cols,
                        const int64_t *hidden, const double *top, double *hi, double *lo) {
  constexpr int64_t kGroup = 4 * kVec;
  Vec8 h[4], l[4];
#pragma GCC unroll 4
  for (int64_t v = 0; v < 4; ++v) {
    h[v] = load<Vec8>(hi + r0 + v * kVec);
    l[v] = load<Vec8>(lo + r0 + v * kVec);
  }
  double t[kGroup], e[kGroup];
  for (int64_t c = 0; c < cols; ++c) {
    double *col = x + c * ld + r0;
    double *out = copy == nullptr ? nullptr : copy + c * ldc + r0;
    const int64_t skip = hidden == nullptr ? 0 : hidden[c] - r0;
    if (skip >= kGroup) {
      for (int64_t i = 0; i < kGroup; ++i) col[i] = 0.0;
      if (out != nullptr)
        for (int64_t i = 0; i < kGroup; ++i) out[i] = 0.0;
      continue;
    }
    for (int64_t i = 0; i < kGroup; ++i) t[i] = col[i] - top[r0 + i];
    exp_block(t, e, kGroup);
    // Hidden entries and arguments below the floor give 0, which leaves a
    // TwoSum lane as it was.
    for (int64_t i = 0; i < kGroup; ++i) {
      const double w = i < skip || t[i] < num::kExpFloor ? 0.0 : e[i];
      col[i] = w;
      e[i] = w;
    }
    if (out != nullptr)
      for (int64_t i = 0; i < kGroup; ++i) out[i] = e[i];
#pragma GCC unroll 4
    for (int64_t v = 0; v < 4; ++v) two_sum8(h[v], l[v], load<Vec8>(e + v * kVec));
  }
#pragma GCC unroll 4
  for (int64_t v = 0; v < 4; ++v) {
    __builtin_memcpy(hi + r0 + v * kVec, &h[v], sizeof h[v]);
    __builtin_memcpy(lo + r0 + v * kVec, &l[v], sizeof l[v]);
  }
}

void isa_tile_weights(double *x, int64_t ld, double *copy, int64_t ldc, int64_t begin, int64_t end,
                      int64_t cols, const int64_t *hidden, const double *top, double *hi,
                      double *lo) {
  constexpr int64_t kGroup = 4 * kVec;
  int64_t r0 = begin;
  for (; r0 + kGroup <= end; r0 += kGroup)
    tile_weights_group(x, ld, copy, ldc, r0, cols, hidden, top, hi, lo);
  if (r0 == end) return;
  // The last rows, column by column.
  for (int64_t c = 0; c < cols; ++c) {
    double *col = x + c * ld;
    int64_t skip = hidden == nullptr ? r0 : hidden[c];
    skip = skip < r0 ? r0 : skip > end ? end : skip;
    for (int64_t i = r0; i < skip; ++i) col[i] = 0.0;
    isa_exp_accumulate(col + skip, top + skip, col + skip, hi + skip, lo + skip, end - skip);
    if (copy == nullptr) continue;
    for (int64_t i = r0; i < end; ++i) copy[c * ldc + i] = col[i];
  }
}

// a * b + c lane by lane: one rounding where the unit has fused multiply-add
// (the library builds with -ffp-contract=off, so it is asked for by name),
// two otherwise.
inline VecN multiply_add(VecN a, VecN b, VecN c) {
#if defined(__AVX512F__)
  return reinterpret_cast<VecN>(_mm512_fmadd_pd(
      reinterpret_cast<__m512d>(a), reinterpret_cast<__m512d>(b), reinterpret_cast<__m512d>(c)));
#elif defined(__FMA__)
  return reinterpret_cast<VecN>(_mm256_fmadd_pd(
      reinterpret_cast<__m256d>(a), reinterpret_cast<__m256d>(b), reinterpret_cast<__m256d>(c)));
#else
  return a * b + c;
#endif
}

// The same on single doubles.
inline double multiply_add(double a, double b, double c) {
#if defined(__AVX512F__) || defined(__FMA__)
  return __builtin_fma(a, b, c);
#else
  return a * b + c;
#endif
}

// *p in every lane, loaded straight into the vector. (VecN{} + *p would
// not do: adding 0 is not the identity for -0, so the compiler must add,
// then broadcast.)
inline VecN splat(const double *p) {
#if defined(__AVX512F__)
  return reinterpret_cast<VecN>(_mm512_set1_pd(*p));
#elif defined(__AVX__)
  return reinterpret_cast<VecN>(_mm256_set1_pd(*p));
#else
  VecN v;
  for (int64_t l = 0; l < kNative; ++l) v[l] = *p;
  return v;
#endif
}

// panel_product's register tile: kPanelVectors vectors of a's rows times
// kPanelCols columns of b, 24 accumulators of the unit's 32 registers with
// AVX-512 and 12 of 16 below it, which leaves room for a's vectors and one
// broadcast of b.
constexpr int64_t kPanelVectors = 3;
constexpr int64_t kPanelRows = kPanelVectors * kNative;
constexpr int64_t kPanelCols = kNative == 8 ? 8 : 4;
static_assert(kPanelPad % kPanelRows == 0, "a tile past a's last row stays in its padding");

// The register tile at rows [i, i + kPanelRows) and columns [j, j +
// kPanelCols) of c. A tile past the edge reads a's rows up to i + kPanelRows
// all the same (the padding) and b's last column again, and stores only the
// entries inside c.
inline void panel_tile(const PanelProduct &g, int64_t i, int64_t j) {
  VecN acc[kPanelVectors][kPanelCols];
#pragma GCC unroll 8
  for (int64_t t = 0; t < kPanelCols; ++t)
#pragma GCC unroll 3
    for (int64_t v = 0; v < kPanelVectors; ++v) acc[v][t] = VecN{};
  const double *bcol[kPanelCols];
#pragma GCC unroll 8
  for (int64_t t = 0; t < kPanelCols; ++t) bcol[t] = g.b + (j + t < g.nb ? j + t : g.nb - 1) * g.bj;
  const double *a = g.a + i;
  for (int64_t p = 0; p < g.k; ++p, a += g.lda) {
    VecN av[kPanelVectors];
#pragma GCC unroll 3
    for (int64_t v = 0; v < kPanelVectors; ++v) av[v] = load<VecN>(a + v * kNative);
#pragma GCC unroll 8
    for (int64_t t = 0; t < kPanelCols; ++t) {
      const VecN bb = splat(bcol[t] + p * g.bp);
#pragma GCC unroll 3
      for (int64_t v = 0; v < kPanelVectors; ++v) acc[v][t] = multiply_add(av[v], bb, acc[v][t]);
    }
  }
  const int64_t rows = g.m - i < kPanelRows ? g.m - i : kPanelRows;
  const int64_t cols = g.nb - j < kPanelCols ? g.nb - j : kPanelCols;
  if (rows == kPanelRows) {
#pragma GCC unroll 8
    for (int64_t t = 0; t < kPanelCols; ++t) {
      if (t == cols) break;
      double *c = g.c + i + (j + t) * g.ldc;
#pragma GCC unroll 3
      for (int64_t v = 0; v < kPanelVectors; ++v) {
        VecN x = acc[v][t] * g.alpha;
        if (g.accumulate) x += load<VecN>(c + v * kNative);
        __builtin_memcpy(c + v * kNative, &x, sizeof x);
      }
    }
    return;
  }
  // The last rows of c: the same values through a buffer.
  double part[kPanelRows * kPanelCols];
  for (int64_t t = 0; t < kPanelCols; ++t)
    for (int64_t v = 0; v < kPanelVectors; ++v) {
      const VecN x = acc[v][t] * g.alpha;
      __builtin_memcpy(part + t * kPanelRows + v * kNative, &x, sizeof x);
    }
  for (int64_t t = 0; t < cols; ++t) {
    double *c = g.c + i + (j + t) * g.ldc;
    for (int64_t r = 0; r < rows; ++r)
      c[r] = g.accumulate ? c[r] + part[t * kPanelRows + r] : part[t * kPanelRows + r];
  }
}

// Column blocks of b outside, so that one block's entries stay in L1 while
// the tiles walk down a.
void isa_panel_product(const PanelProduct &g) {
  for (int64_t j = 0; j < g.nb; j += kPanelCols)
    for (int64_t i = 0; i < g.m; i += kPanelRows) panel_tile(g, i, j);
}

// One lane of panel_tile's accumulator: multiply_add on single doubles.
double isa_panel_dot(const double *a, int64_t sa, const double *b, int64_t sb, int64_t k) {
  double acc = 0.0;
  for (int64_t p = 0; p < k; ++p) acc = multiply_add(a[p * sa], b[p * sb], acc);
  return acc;
}

}  // namespace
}  // namespace att::kern

// Defines the unit's table.
#define ATT_DEFINE_KERNEL_TABLE(table)                                   \
  const ::att::kern::Table table = {                                     \
      ::att::kern::isa_exp_offset,      ::att::kern::isa_axpy,           \
      ::att::kern::isa_running_max,     ::att::kern::isa_exp_accumulate, \
      ::att::kern::isa_key_scale,       ::att::kern::isa_key_column,     \
      ::att::kern::isa_exp_shifted,     ::att::kern::isa_max_of,         \
      ::att::kern::isa_exp_sum,         ::att::kern::isa_add_columns,    \
      ::att::kern::isa_combine_columns, ::att::kern::isa_stream_zero,    \
      ::att::kern::isa_panel_product,   ::att::kern::isa_tile_weights,   \
      ::att::kern::isa_panel_dot}
