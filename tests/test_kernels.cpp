/*
 * A white-box test: the exponential of every kernel table the CPU can
 * run (src/kernels_table.hpp), against long-double expl, and the promise the
 * error analysis rests on (docs/NUMERICS.md): every kernel that forms
 * exp(m - shift) gives the same bits for the same argument, wherever the
 * element sits in its array. The rest of the suite reaches the kernels only
 * through the public API, with the table DYNATTN_MAX_CPU_ISA allows. Also the
 * maximum with its range check, the one reduction written per vector width,
 * the sum of columns the fold charges its error bounds with, and the matrix
 * product and the weights of the tiled softmax.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
extern "C" {  // cmocka.h does not say so itself
#include <cmocka.h>
}

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels_table.hpp"
#include "numerics.hpp"

extern "C" {
#include "test_util.h"
}

namespace {

using att::kern::Isa;
using att::kern::Table;

// Largest error allowed per table, in ulps of the exact result: the bounds
// our own exponentials derive (src/kernels_avx512.cpp, src/kernels_avx2.cpp)
// and glibc's exp (below 1 ulp).
double ulp_bound(Isa isa) {
  switch (isa) {
    case Isa::avx512: return 0.6;
    case Isa::avx2: return 0.65;
    default: return 1.0;
  }
}

// The tables this build has and this CPU runs.
std::vector<Isa> runnable_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512})
    if (att::kern::isa_supported(isa)) out.push_back(isa);
  return out;
}

// |got - exp(x)| in ulps of exp(x), all in long double.
double ulp_error(double got, double x) {
  const long double exact = expl(static_cast<long double>(x));
  const double nearest = static_cast<double>(exact);
  const double ulp = std::nextafter(nearest, INFINITY) - nearest;
  return static_cast<double>(fabsl(static_cast<long double>(got) - exact) / ulp);
}

// Arguments over the library's whole domain [kExpFloor, kShiftHeadroom],
// arguments near 0 at every scale, the domain's ends and the points where
// the AVX-512 table's index changes (every other one the AVX2 table's).
std::vector<double> exp_arguments(tu_rng *rng) {
  std::vector<double> x;
  for (int i = 0; i < 400000; ++i)
    x.push_back(tu_range(rng, att::num::kExpFloor, att::num::kShiftHeadroom));
  for (int scale = 0; scale <= 60; ++scale)
    for (int i = 0; i < 2000; ++i) x.push_back(tu_range(rng, -1.0, 1.0) * std::ldexp(1.0, -scale));
  for (double edge : {att::num::kExpFloor, 0.0, att::num::kShiftHeadroom, -0.0, 1e-300})
    x.push_back(edge);
  const double step = std::log(2.0) / 32.0;  // half a table step
  for (int k = -200; k <= 200; ++k)
    for (double nudge : {-1e-15, 0.0, 1e-15}) x.push_back(k * step + nudge);
  return x;
}

// Whether long double carries more precision than double here, which the
// ulp measure needs: not under valgrind, which computes x87 arithmetic in
// double precision.
bool long_double_is_extended() {
  volatile long double one = 1.0L, tiny = 0x1p-60L;
  return one + tiny != one;
}

void exp_within_bound(void **state) {
  (void)state;
  if (!long_double_is_extended()) {
    std::printf("# long double is no wider than double here: no reference for the ulp check\n");
    skip();
  }
  tu_rng rng;
  tu_rng_seed(&rng, 0x6578706b65726e31ULL);
  const std::vector<double> x = exp_arguments(&rng);
  std::vector<double> a(x.size());
  for (Isa isa : runnable_isas()) {
    const Table &t = att::kern::table_of(isa);
    t.exp_offset(x.data(), 0.0, a.data(), static_cast<int64_t>(x.size()));
    double worst = 0.0, worst_x = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double e = ulp_error(a[i], x[i]);
      if (!(e <= worst)) worst = e, worst_x = x[i];
    }
    std::printf("# %s: worst error %.4f ulp at x = %a (bound %.2f)\n", att::kern::isa_name(isa),
                worst, worst_x, ulp_bound(isa));
    assert_true(worst <= ulp_bound(isa));
  }
}

void exp_flushes_below_floor(void **state) {
  (void)state;
  const double x[] = {-708.0000001, -709.0, -745.0, -746.0, -1e300, -INFINITY, -1e5};
  const int64_t n = sizeof x / sizeof x[0];
  for (Isa isa : runnable_isas()) {
    double a[sizeof x / sizeof x[0]];
    att::kern::table_of(isa).exp_offset(x, 0.0, a, n);
    for (int64_t i = 0; i < n; ++i) assert_true(a[i] == 0.0 && !std::signbit(a[i]));
  }
}

// key_column on old logits m (len of them, shifts `shift`, exp_shifted(m,
// shift) = want) and new logits m + s q: m stays, delta is a_new - a_old
// of exp_shifted's bits (stored, or added), D's leading part takes it, and
// no row is flagged. key_column on the kept entries `want` (KeyColumn::kept)
// and the same new logits: the same, and the kept entries become a_new.
// key_scale on the kept entries `want` with the same s q: a_new = a_old *
// exp(s q) of exp_shifted's bits for exp(s q), and the same bookkeeping.
// Each with the term's ordinary stores and with its streamed ones. The
// pending term sits len % 8 elements past a 64-byte boundary, so that the
// lengths of the caller reach every alignment to a vector step of the
// streamed stores, between guards that must stay as they are.
void check_key_kernels(const Table &t, const double *m, const double *shift, const double *want,
                       int64_t len) {
  tu_rng rng;
  tu_rng_seed(&rng, 0x6b6579636f6c756dULL + static_cast<uint64_t>(len));
  const double s = 0.75;
  std::vector<double> q(len), logits(len), a_new(len), sq(len), factor(len), zero(len, 0.0);
  tu_fill_uniform(&rng, q.data(), len, -10.0, 10.0);
  t.axpy(m, s, q.data(), logits.data(), HUGE_VAL, len);
  t.exp_shifted(logits.data(), shift, a_new.data(), len);
  t.axpy(zero.data(), s, q.data(), sq.data(), HUGE_VAL, len);
  t.exp_shifted(sq.data(), zero.data(), factor.data(), len);
  for (int variant = 0; variant < 6; ++variant) {
    const int kind = variant % 3;  // key_column, on logits or on kept entries; key_scale
    const bool scale = kind == 2;
    const bool stream = variant >= 3;
    for (int accumulate = 0; accumulate < 2; ++accumulate) {
      // D far above every entry, so that no row is flagged.
      const double d0 = 0x1p80;
      const double guard = -7.0;
      std::vector<double> kept(m, m + len), room(len + 32, guard), hi(len, d0), lo(len, 0.0),
          err(len, 0.0);
      const uintptr_t start = reinterpret_cast<uintptr_t>(room.data() + 8);
      double *delta = reinterpret_cast<double *>((start + 63) / 64 * 64) + len % 8;
      std::fill(delta, delta + len, 1.0);
      std::vector<unsigned char> flagged(len, 0);
      const att::kern::KeyBooks books{hi.data(),       lo.data(), err.data(), flagged.data(), delta,
                                      accumulate != 0, 0.0,       1.0,        stream};
      if (kind == 0) {
        const att::kern::KeyColumn k{kept.data(), logits.data(), shift, nullptr, 0.0, books};
        assert_int_equal(t.key_column(k, len), 0);
      } else if (kind == 1) {
        kept.assign(want, want + len);
        const att::kern::KeyColumn k{nullptr, logits.data(), shift,      nullptr,
                                     0.0,     books,         kept.data()};
        assert_int_equal(t.key_column(k, len), 0);
      } else {
        kept.assign(want, want + len);
        const att::kern::KeyScale k{kept.data(), s, q.data(), 0.0, books};
        const att::kern::KeyScaleResult r = t.key_scale(k, len);
        assert_int_equal(r.flagged, 0);
        assert_int_equal(r.zeros, 0);
      }
      for (int64_t i = 0; i < len; ++i) {
        const double a = scale ? want[i] * factor[i] : a_new[i];
        const double d = a - want[i];
        assert_true(kept[i] == (kind == 0 ? m[i] : a));
        assert_true(delta[i] == (accumulate ? 1.0 + d : d));
        assert_true(hi[i] == d0 + d);
        assert_int_equal(flagged[i], 0);
      }
      for (const double *g = room.data(); g < delta; ++g) assert_true(*g == guard);
      for (const double *g = delta + len; g < room.data() + room.size(); ++g)
        assert_true(*g == guard);
    }
  }
}

// exp_offset, exp_shifted, exp_accumulate, exp_sum and key_column agree bit
// for bit on every argument, whatever the element's position (offsets 0..9
// into the arrays, lengths that leave every tail size).
void exp_same_bits_everywhere(void **state) {
  (void)state;
  tu_rng rng;
  tu_rng_seed(&rng, 0x6578706b65726e32ULL);
  const int64_t n = 1037;
  std::vector<double> m(n + 16), shift(n + 16), ref(n + 16);
  tu_fill_uniform(&rng, m.data(), n + 16, -40.0, 40.0);
  tu_fill_uniform(&rng, shift.data(), n + 16, 0.0, 40.0);
  for (Isa isa : runnable_isas()) {
    const Table &t = att::kern::table_of(isa);
    t.exp_shifted(m.data(), shift.data(), ref.data(), n + 16);
    for (int64_t off = 0; off < 10; ++off) {
      const int64_t len = n - off;
      const double *mo = m.data() + off, *so = shift.data() + off, *want = ref.data() + off;
      std::vector<double> a(len), hi(len, 0.0), lo(len, 0.0);
      t.exp_shifted(mo, so, a.data(), len);
      assert_memory_equal(a.data(), want, sizeof(double) * len);
      t.exp_accumulate(mo, so, a.data(), hi.data(), lo.data(), len);
      assert_memory_equal(a.data(), want, sizeof(double) * len);
      check_key_kernels(t, mo, so, want, len);
      // One shift for the whole array: exp_offset and exp_sum.
      std::vector<double> b(len), c(len);
      t.exp_offset(mo, so[0], b.data(), len);
      t.exp_sum(mo, so[0], c.data(), len);
      assert_memory_equal(b.data(), c.data(), sizeof(double) * len);
      std::vector<double> one(len, so[0]), d(len);
      t.exp_shifted(mo, one.data(), d.data(), len);
      assert_memory_equal(b.data(), d.data(), sizeof(double) * len);
    }
  }
}

// key_scale at the edges, in every position of a vector step: an argument
// above the headroom or NaN is clamped and flags its row, and so does an
// entry that grows above exp(64); an entry scaled below the smallest
// exponential is flushed to 0; a 0 entry is counted and stays 0; a row
// flagged before is not counted again. Every entry stays finite.
void key_scale_edges(void **state) {
  (void)state;
  const int64_t n = 45;
  for (Isa isa : runnable_isas()) {
    const Table &t = att::kern::table_of(isa);
    for (int64_t at = 0; at + 8 < n; ++at) {
      std::vector<double> a(n, 1.0), q(n, 0.01), delta(n), hi(n, 0x1p80), lo(n, 0.0), err(n, 0.0);
      std::vector<unsigned char> flagged(n, 0);
      a[at] = 0.0;       // underflowed: counted, stays 0
      q[at + 1] = 70.0;  // argument above the headroom
      a[at + 2] = 1e27;  // grows past exp(64) = 6.2e27
      q[at + 2] = 2.0;
      q[at + 3] = NAN;      // a batch's overflowed sum
      q[at + 4] = -1000.0;  // flushed to 0
      q[at + 5] = 70.0;     // flagged before: not counted
      flagged[at + 5] = 1;
      const att::kern::KeyScale k{
          a.data(), 1.0, q.data(), 0.0,
          att::kern::KeyBooks{hi.data(), lo.data(), err.data(), flagged.data(), delta.data(), false,
                              0.0, 1.0}};
      const att::kern::KeyScaleResult r = t.key_scale(k, n);
      assert_int_equal(r.zeros, 1);
      assert_int_equal(r.flagged, 3);
      for (int64_t i = 0; i < n; ++i) {
        assert_true(std::isfinite(a[i]) && std::isfinite(delta[i]));
        const bool over = i >= at + 1 && i <= at + 3;
        assert_int_equal(flagged[i], over || i == at + 5);
      }
      assert_true(a[at] == 0.0 && delta[at] == 0.0);
      assert_true(a[at + 4] == 0.0 && delta[at + 4] == -1.0);
    }
  }
}

// max_of: the largest element and the flag for NaN or |x| > limit, for every
// length up to a few vector steps and the offending element anywhere.
void max_of_finds_largest_and_flags(void **state) {
  (void)state;
  tu_rng rng;
  tu_rng_seed(&rng, 0x6d61786f66746573ULL);
  const int64_t n_max = 133;
  const double limit = 50.0;
  std::vector<double> x(n_max);
  for (Isa isa : runnable_isas()) {
    const Table &t = att::kern::table_of(isa);
    for (int64_t n = 1; n <= n_max; ++n) {
      tu_fill_uniform(&rng, x.data(), n, -limit, limit);
      double want = x[0];
      for (int64_t i = 1; i < n; ++i) want = std::fmax(want, x[i]);
      bool bad = false;
      assert_true(t.max_of(x.data(), limit, &bad, n) == want);
      assert_false(bad);
      // Every offender in every position: each lane and the tail.
      const double offenders[] = {NAN, limit * 1.5, -limit * 1.5, INFINITY, -INFINITY};
      for (int64_t at = 0; at < n; ++at) {
        for (double offender : offenders) {
          const double kept = x[at];
          x[at] = offender;
          bad = false;
          const double got = t.max_of(x.data(), limit, &bad, n);
          assert_true(bad);
          if (offender > want) assert_true(got == offender);
          x[at] = kept;
        }
      }
    }
    // The largest element in every position of one vector step's lanes.
    for (int64_t at = 0; at < 64; ++at) {
      std::vector<double> y(64, -1.0);
      y[at] = 2.0;
      bool bad = false;
      assert_true(t.max_of(y.data(), limit, &bad, 64) == 2.0);
      assert_false(bad);
    }
  }
}

// add_columns: out += c * (sum of the columns) for every column count a
// group of four leaves a remainder of, and lengths around a vector step,
// against the sum in long double: at most a few roundings of the terms'
// magnitude apart, and every other element of out untouched.
// stream_zero: zeros exactly [0, n) at every alignment to a vector step and
// for lengths across a block boundary (its stores are non-temporal from the
// first aligned element), and leaves the elements around alone.
void stream_zero_zeroes_exactly(void **state) {
  (void)state;
  const double guard = -7.0;
  const int64_t lengths[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 257, 600};
  std::vector<double> room(600 + 32);
  for (Isa isa : runnable_isas()) {
    const Table &t = att::kern::table_of(isa);
    for (int64_t n : lengths) {
      for (int64_t off = 0; off < 8; ++off) {
        std::fill(room.begin(), room.end(), guard);
        const uintptr_t start = reinterpret_cast<uintptr_t>(room.data() + 8);
        double *a = reinterpret_cast<double *>((start + 63) / 64 * 64) + off;
        std::fill(a, a + n, 3.0);
        t.stream_zero(a, n);
        for (int64_t i = 0; i < n; ++i) assert_true(a[i] == 0.0 && !std::signbit(a[i]));
        for (const double *g = room.data(); g < a; ++g) assert_true(*g == guard);
        for (const double *g = a + n; g < room.data() + room.size(); ++g) assert_true(*g == guard);
      }
    }
  }
}

void add_columns_sums_every_count(void **state) {
  (void)state;
  tu_rng rng;
  tu_rng_seed(&rng, 0x616464636f6c73ULL);
  const int64_t n_max = 37, count_max = 11;
  std::vector<double> data(count_max * n_max), out(n_max + 1), before(n_max + 1);
  std::vector<const double *> cols(count_max);
  for (Isa isa : runnable_isas()) {
    const Table &t = att::kern::table_of(isa);
    for (int64_t count = 0; count <= count_max; ++count) {
      for (int64_t n = 1; n <= n_max; n += 6) {
        tu_fill_uniform(&rng, data.data(), count * n_max, 0.0, 1.0);
        tu_fill_uniform(&rng, before.data(), n + 1, -1.0, 1.0);
        for (int64_t g = 0; g < count; ++g) cols[g] = data.data() + g * n_max;
        out = before;
        const double c = 0.75;
        t.add_columns(cols.data(), count, c, out.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          long double sum = 0.0L, size = std::fabs(before[i]);
          for (int64_t g = 0; g < count; ++g) sum += cols[g][i];
          const long double want = before[i] + c * sum;
          size += c * sum;
          assert_true(fabsl(out[i] - want) <= (count + 2) * 0x1p-53L * size);
        }
        assert_true(out[n] == before[n]);
      }
    }
  }
}

// combine_columns: out += the columns' combination, summed in column order
// and added once (bit for bit that formula in double), for counts from 1 to
// 9 and lengths around a vector step and across the kernel's blocks; within a
// few roundings of the sum in long double; the element after out untouched.
void combine_columns_adds_once(void **state) {
  (void)state;
  tu_rng rng;
  tu_rng_seed(&rng, 0x636f6d62696e65ULL);
  const int64_t lengths[] = {1, 7, 8, 9, 255, 256, 257, 600};
  const int64_t n_max = 600, count_max = 9;
  std::vector<double> data(count_max * n_max), coefficients(count_max), out(n_max + 1),
      before(n_max + 1);
  std::vector<const double *> cols(count_max);
  for (Isa isa : runnable_isas()) {
    const Table &t = att::kern::table_of(isa);
    for (int64_t count = 1; count <= count_max; ++count) {
      for (int64_t n : lengths) {
        tu_fill_uniform(&rng, data.data(), count * n_max, 0.0, 1.0);
        tu_fill_uniform(&rng, coefficients.data(), count, -4.0, 4.0);
        tu_fill_uniform(&rng, before.data(), n + 1, -1.0, 1.0);
        for (int64_t g = 0; g < count; ++g) cols[g] = data.data() + g * n_max;
        out = before;
        t.combine_columns(cols.data(), coefficients.data(), count, out.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          double sum = coefficients[0] * cols[0][i];
          long double exact = static_cast<long double>(coefficients[0]) * cols[0][i];
          long double size = std::fabs(before[i]) + fabsl(exact);
          for (int64_t g = 1; g < count; ++g) {
            sum += coefficients[g] * cols[g][i];
            const long double term = static_cast<long double>(coefficients[g]) * cols[g][i];
            exact += term;
            size += fabsl(term);
          }
          assert_true(out[i] == before[i] + sum);
          assert_true(fabsl(out[i] - (before[i] + exact)) <= (count + 2) * 0x1p-53L * size);
        }
        assert_true(out[n] == before[n]);
      }
    }
  }
}

// panel_product against long-double dot products, for shapes around the
// register tile's edges, b in both layouts, with and without accumulation
// (and, without, against panel_dot times alpha, bit for bit);
// entries of c outside m x nb stay as they were, and an entry's value does
// not depend on its position (the same rows computed one row further down
// give the same bits).
void panel_product_matches_long_double(void **state) {
  (void)state;
  tu_rng rng;
  tu_rng_seed(&rng, 0x70616e656cULL);
  const double guard = -3.25;
  const int64_t ms[] = {1, 5, 8, 23, 24, 25, 49, 72}, nbs[] = {1, 3, 4, 8, 9, 17},
                ks[] = {1, 7, 64};
  for (Isa isa : runnable_isas()) {
    const Table &t = att::kern::table_of(isa);
    for (int64_t m : ms)
      for (int64_t nb : nbs)
        for (int64_t k : ks)
          for (int variant = 0; variant < 4; ++variant) {
            const bool b_rows = (variant & 1) != 0, accumulate = (variant & 2) != 0;
            // a with a padding row above the shifted copy's first row.
            const int64_t lda = att::kern::kPanelPad * ((m + 1 + 23) / 24) + 3, ldc = m + 5;
            std::vector<double> a(lda * k), b(k * nb), c(ldc * (nb + 1)), c2(ldc * (nb + 1));
            tu_fill_uniform(&rng, a.data(), lda * k, -1.0, 1.0);
            tu_fill_uniform(&rng, b.data(), k * nb, -1.0, 1.0);
            tu_fill_uniform(&rng, c.data(), ldc * (nb + 1), -1.0, 1.0);
            for (int64_t j = 0; j <= nb; ++j)
              for (int64_t r = m; r < ldc; ++r) c[r + j * ldc] = guard;
            for (int64_t r = 0; r < ldc; ++r) c[r + nb * ldc] = guard;
            const std::vector<double> before = c;
            const int64_t bp = b_rows ? nb : 1, bj = b_rows ? 1 : k;
            const double alpha = 0.375;
            t.panel_product(
                {m, nb, k, alpha, a.data(), lda, b.data(), bp, bj, accumulate, c.data(), ldc});
            for (int64_t j = 0; j <= nb; ++j)
              for (int64_t r = 0; r < ldc; ++r) {
                if (r >= m || j >= nb) {
                  assert_true(c[r + j * ldc] == guard);
                  continue;
                }
                long double dot = 0.0L, size = 0.0L;
                for (int64_t p = 0; p < k; ++p) {
                  const long double term =
                      static_cast<long double>(a[r + p * lda]) * b[p * bp + j * bj];
                  dot += term;
                  size += fabsl(term);
                }
                const long double base = accumulate ? before[r + j * ldc] : 0.0L;
                const long double want = base + alpha * dot;
                const long double bound =
                    (k + 2) * 0x1p-53L * (alpha * size + fabsl(base)) + 0x1p-1074L;
                assert_true(fabsl(c[r + j * ldc] - want) <= bound);
                // panel_dot forms the same entry bit for bit.
                const double single =
                    t.panel_dot(a.data() + r, lda, b.data() + j * bj, bp, k) * alpha;
                assert_true(accumulate ||
                            std::memcmp(&single, &c[r + j * ldc], sizeof single) == 0);
              }
            // Rows 1 .. m - 1 again, starting one row further down in a.
            if (m < 2) continue;
            c2 = before;
            t.panel_product({m - 1, nb, k, alpha, a.data() + 1, lda, b.data(), bp, bj, accumulate,
                             c2.data() + 1, ldc});
            for (int64_t j = 0; j < nb; ++j)
              for (int64_t r = 1; r < m; ++r)
                assert_true(std::memcmp(&c2[r + j * ldc], &c[r + j * ldc], sizeof(double)) == 0);
          }
  }
}

// tile_weights: bit for bit what exp_accumulate gives on each column's
// visible rows in turn, in two calls on parts of the rows, for row counts
// around its groups of 32, with and
// without hidden rows (logits there that would overflow exp must not matter),
// arguments below the floor included; hidden entries become 0. With a copy,
// the copy's rows receive the same bits and its other rows stay as they were.
void tile_weights_match_exp_accumulate(void **state) {
  (void)state;
  tu_rng rng;
  tu_rng_seed(&rng, 0x74696c65ULL);
  const int64_t row_counts[] = {1, 7, 31, 32, 33, 64, 70, 192};
  const int64_t cols = 9, ld = 200;
  for (Isa isa : runnable_isas()) {
    const Table &t = att::kern::table_of(isa);
    for (int64_t rows : row_counts)
      for (int variant = 0; variant < 4; ++variant) {
        const bool masked = variant % 2 != 0, copying = variant >= 2;
        const int64_t ldc = rows + 5;
        std::vector<double> copy(ldc * cols, -7.0);
        std::vector<double> x(ld * cols), top(rows), hi(rows), lo(rows);
        std::vector<int64_t> hidden(cols);
        tu_fill_uniform(&rng, x.data(), ld * cols, -30.0, 0.0);
        tu_fill_uniform(&rng, top.data(), rows, -1.0, 1.0);
        tu_fill_uniform(&rng, hi.data(), rows, 0.0, 5.0);
        tu_fill_uniform(&rng, lo.data(), rows, -1e-16, 1e-16);
        for (int64_t c = 0; c < cols; ++c) {
          hidden[c] = masked ? std::max<int64_t>(0, rows - 5 * c) : 0;
          for (int64_t r = 0; r < hidden[c]; ++r) x[r + c * ld] = 1e300;
        }
        x[(rows - 1) + 2 * ld] = top[rows - 1] - 800.0;  // below the floor
        std::vector<double> want = x, want_hi = hi, want_lo = lo;
        for (int64_t c = 0; c < cols; ++c) {
          double *col = want.data() + c * ld;
          const int64_t h = hidden[c];
          std::fill(col, col + h, 0.0);
          t.exp_accumulate(col + h, top.data() + h, col + h, want_hi.data() + h, want_lo.data() + h,
                           rows - h);
        }
        // In two calls split at a row that is not a multiple of the groups.
        const int64_t split = rows / 3;
        const int64_t *hid = masked ? hidden.data() : nullptr;
        double *out = copying ? copy.data() : nullptr;
        t.tile_weights(x.data(), ld, out, ldc, 0, split, cols, hid, top.data(), hi.data(),
                       lo.data());
        t.tile_weights(x.data(), ld, out, ldc, split, rows, cols, hid, top.data(), hi.data(),
                       lo.data());
        assert_true(std::memcmp(x.data(), want.data(), x.size() * sizeof(double)) == 0);
        assert_true(std::memcmp(hi.data(), want_hi.data(), hi.size() * sizeof(double)) == 0);
        assert_true(std::memcmp(lo.data(), want_lo.data(), lo.size() * sizeof(double)) == 0);
        for (int64_t c = 0; c < cols; ++c) {
          const double *got = copy.data() + c * ldc;
          if (copying)
            assert_true(std::memcmp(got, want.data() + c * ld, rows * sizeof(double)) == 0);
          for (int64_t r = copying ? rows : 0; r < ldc; ++r) assert_true(got[r] == -7.0);
        }
      }
  }
}

// DYNATTN_MAX_CPU_ISA caps the table the library picks.
void cap_is_honoured(void **state) {
  (void)state;
  const Isa active = att::kern::active_isa();
  assert_true(att::kern::isa_supported(active));
  const char *cap = std::getenv("DYNATTN_MAX_CPU_ISA");
  std::printf("# active table: %s (DYNATTN_MAX_CPU_ISA=%s)\n", att::kern::isa_name(active),
              cap ? cap : "unset");
  if (cap == nullptr) return;
  if (std::strcmp(cap, "generic") == 0) assert_true(active == Isa::generic);
  if (std::strcmp(cap, "avx2") == 0) assert_true(active <= Isa::avx2);
}

}  // namespace

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(exp_within_bound),
      cmocka_unit_test(exp_flushes_below_floor),
      cmocka_unit_test(exp_same_bits_everywhere),
      cmocka_unit_test(key_scale_edges),
      cmocka_unit_test(max_of_finds_largest_and_flags),
      cmocka_unit_test(add_columns_sums_every_count),
      cmocka_unit_test(combine_columns_adds_once),
      cmocka_unit_test(stream_zero_zeroes_exactly),
      cmocka_unit_test(panel_product_matches_long_double),
      cmocka_unit_test(tile_weights_match_exp_accumulate),
      cmocka_unit_test(cap_is_honoured),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
