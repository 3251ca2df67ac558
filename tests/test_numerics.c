/*
 * Numerics the paper ignores (docs/NUMERICS.md): large logits, row maxima that
 * move by hundreds, a key that dominates a row and falls back (catastrophic
 * cancellation in a running D), rows whose mass would underflow or overflow
 * without a per-row shift, and inputs at the documented magnitude limits.
 * Every result must be finite and within the tolerance model of reference.h.
 *
 * SPDX-License-Identifier: MIT
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynattn.h"
#include "reference.h"
#include "test_util.h"

#define TOL 1e-10

/* Lazy limits every scenario runs with: automatic, a fold per update, and
 * never folding (all updates stay pending). */
static const int64_t kLimits[] = {0, 1, 100000};
#define NLIMITS (sizeof kLimits / sizeof kLimits[0])

static double max_abs_logit(const tu_mirror *m) {
  double best = 0.0;
  int64_t i, c, t;
  for (i = 0; i < m->n; ++i)
    for (c = 0; c < m->n; ++c) {
      long double dot = 0.0L;
      for (t = 0; t < m->d; ++t)
        dot += (long double)m->Q[i * m->d + t] * (long double)m->K[c * m->d + t];
      if (fabsl(dot * m->scale) > best) best = (double)fabsl(dot * m->scale);
    }
  return best;
}

static att_state *init_with_limit(const tu_mirror *m, int64_t limit) {
  att_config *cfg = tu_config(limit, 0.0, m->scale);
  att_state *h = tu_init(m, cfg);
  att_config_free(cfg);
  return h;
}

static double reflect(double cur, double delta, double limit) {
  return fabs(cur + delta) > limit ? -delta : delta;
}

/* ---- Logits of magnitude ~1e4 ---------------------------------------------- */

static void test_large_logits(void **state) {
  size_t a;
  (void)state;
  tu_reset_worst_ratio();
  for (a = 0; a < NLIMITS; ++a) {
    tu_rng r;
    tu_mirror m;
    att_state *h;
    char label[128];
    int op;
    tu_rng_seed(&r, 1000 + a);
    tu_mirror_alloc(&m, 48, 4, 1.0);
    tu_fill_uniform(&r, m.Q, 48 * 4, -100.0, 100.0);
    tu_fill_uniform(&r, m.K, 48 * 4, -25.0, 25.0);
    tu_fill_normal(&r, m.V, 48 * 4, 1.0);
    /* The scenario really reaches logits of several thousand. */
    assert_true(max_abs_logit(&m) > 3e3);
    h = init_with_limit(&m, kLimits[a]);
    snprintf(label, sizeof label, "large logits k=%lld init", (long long)kLimits[a]);
    tu_check_all(h, &m, TOL, label);
    for (op = 1; op <= 1500; ++op) {
      const int64_t i = tu_below(&r, 48), j = tu_below(&r, 4);
      if (op % 2)
        tu_update_k(&m, h, i, j, reflect(m.K[i * 4 + j], 2.0 * tu_normal(&r), 30.0));
      else
        tu_update_v(&m, h, i, j, reflect(m.V[i * 4 + j], tu_normal(&r), 10.0));
      if (op % 10 == 0) {
        snprintf(label, sizeof label, "large logits k=%lld op=%d entry", (long long)kLimits[a], op);
        tu_check_entry(h, &m, tu_below(&r, 48), tu_below(&r, 4), TOL, label);
      }
      if (op % 100 == 0) {
        snprintf(label, sizeof label, "large logits k=%lld op=%d", (long long)kLimits[a], op);
        tu_check_all(h, &m, TOL, label);
      }
    }
    assert_true(max_abs_logit(&m) > 3e3);
    att_free(h);
    tu_mirror_free(&m);
  }
  tu_report("test_large_logits");
}

/* ---- A row's maximum moves by hundreds, up and down -------------------------- */

static void test_row_max_moves(void **state) {
  static const double amplitudes[] = {100.0, 300.0, 500.0, 700.0, 1000.0, 250.0};
  size_t a, b;
  (void)state;
  tu_reset_worst_ratio();
  for (a = 0; a < NLIMITS; ++a) {
    tu_rng r;
    tu_mirror m;
    att_state *h;
    char label[128];
    int64_t i, rep;
    tu_rng_seed(&r, 2000 + a);
    tu_mirror_alloc(&m, 32, 3, 1.0);
    tu_mirror_randomize(&m, &r, 1.0, 1.0);
    /* Column 0 of Q is +-1: a K[c][0] change moves key c's logit up in half
     * the rows and down in the other half. */
    for (i = 0; i < 32; ++i) m.Q[i * 3] = (i % 2) ? 1.0 : -1.0;
    h = init_with_limit(&m, kLimits[a]);
    for (rep = 0; rep < 4; ++rep)
      for (b = 0; b < sizeof amplitudes / sizeof amplitudes[0]; ++b) {
        const int64_t c = tu_below(&r, 32);
        const double amp = (rep % 2 ? -1.0 : 1.0) * amplitudes[b];
        snprintf(label, sizeof label, "row max moves k=%lld rep=%lld key=%lld amp=%g",
                 (long long)kLimits[a], (long long)rep, (long long)c, amp);
        tu_update_k(&m, h, c, 0, amp);
        tu_check_all(h, &m, TOL, label);
        /* Pending value updates that touch the moved key and another row. */
        tu_update_v(&m, h, c, tu_below(&r, 3), tu_normal(&r));
        tu_update_v(&m, h, tu_below(&r, 32), tu_below(&r, 3), tu_normal(&r));
        tu_check_all(h, &m, TOL, label);
        /* Half way back, then the rest of the way. */
        tu_update_k(&m, h, c, 0, -0.5 * amp);
        tu_check_all(h, &m, TOL, label);
        tu_update_k(&m, h, c, 0, -0.5 * amp);
        tu_check_all(h, &m, TOL, label);
        /* And a small unrelated key update after the return. */
        tu_update_k(&m, h, tu_below(&r, 32), tu_below(&r, 3), 0.3 * tu_normal(&r));
        tu_check_all(h, &m, TOL, label);
      }
    att_free(h);
    tu_mirror_free(&m);
  }
  tu_report("test_row_max_moves");
}

/* ---- A key rises to dominate every row and falls back ------------------------
 * The adversarial sequence of docs/NUMERICS.md ("Cancellation and the per-row
 * error bound"): with a plain running sum,
 * D_i = (big + small) - big keeps the absolute error of big (a relative error
 * of 6e30 was measured). Column 0 of Q is 1 for every row, so K[c][0] += R
 * raises key c by R in every row. */

static void rise_and_fall(tu_mirror *m, att_state *h, int64_t c, double rise, int steps,
                          const char *what) {
  char label[160];
  int s;
  for (s = 0; s < steps; ++s) {
    tu_update_k(m, h, c, 0, rise / steps);
    snprintf(label, sizeof label, "%s key=%lld rise=%g step up %d", what, (long long)c, rise, s);
    tu_check_all(h, m, TOL, label);
  }
  for (s = 0; s < steps; ++s) {
    tu_update_k(m, h, c, 0, -rise / steps);
    snprintf(label, sizeof label, "%s key=%lld rise=%g step down %d", what, (long long)c, rise, s);
    tu_check_all(h, m, TOL, label);
  }
}

static void test_dominate_and_fall(void **state) {
  static const double rises[] = {20.0, 40.0, 60.0, 70.0, 200.0, 700.0, 1500.0};
  size_t a, b;
  (void)state;
  tu_reset_worst_ratio();
  for (a = 0; a < NLIMITS; ++a) {
    tu_rng r;
    tu_mirror m;
    att_state *h;
    char what[64];
    int64_t i, cycle;
    tu_rng_seed(&r, 3000 + a);
    tu_mirror_alloc(&m, 128, 16, 1.0);
    tu_mirror_randomize(&m, &r, 1.0, 1.0);
    for (i = 0; i < 128; ++i) m.Q[i * 16] = 1.0;
    h = init_with_limit(&m, kLimits[a]);
    snprintf(what, sizeof what, "dominate k=%lld", (long long)kLimits[a]);
    for (b = 0; b < sizeof rises / sizeof rises[0]; ++b) {
      rise_and_fall(&m, h, tu_below(&r, 128), rises[b], 1, what);
      rise_and_fall(&m, h, tu_below(&r, 128), rises[b], 5, what);
    }
    /* Many cycles on random keys, with value updates in between, checked
     * every few cycles: the error must not accumulate. */
    for (cycle = 1; cycle <= 300; ++cycle) {
      const int64_t c = tu_below(&r, 128);
      const double rise = 30.0 + 60.0 * tu_uniform(&r);
      tu_update_k(&m, h, c, 0, rise);
      tu_update_v(&m, h, tu_below(&r, 128), tu_below(&r, 16), tu_normal(&r));
      if (cycle % 25 == 0) {
        char label[128];
        snprintf(label, sizeof label, "%s cycle %lld (risen)", what, (long long)cycle);
        tu_check_all(h, &m, TOL, label);
      }
      tu_update_k(&m, h, c, 0, -rise);
      if (cycle % 10 == 0) {
        char label[128];
        snprintf(label, sizeof label, "%s cycle %lld (fallen)", what, (long long)cycle);
        tu_check_all(h, &m, TOL, label);
      }
    }
    /* Two keys dominate in turn: the second overtakes the first, then both
     * fall back. */
    {
      const int64_t c1 = 5, c2 = 77;
      tu_update_k(&m, h, c1, 0, 80.0);
      tu_check_all(h, &m, TOL, "two keys: first up");
      tu_update_k(&m, h, c2, 0, 120.0);
      tu_check_all(h, &m, TOL, "two keys: second above first");
      tu_update_k(&m, h, c1, 0, -80.0);
      tu_check_all(h, &m, TOL, "two keys: first down");
      tu_update_k(&m, h, c2, 0, -120.0);
      tu_check_all(h, &m, TOL, "two keys: both down");
    }
    att_free(h);
    tu_mirror_free(&m);
  }
  tu_report("test_dominate_and_fall");
}

/* ---- A value rises and falls back ---------------------------------------------
 * The counterpart of the dominating key for V: V[r][j] += big, then -= big.
 * The yardstick is the current column (|B - B*| <= tol * max_c |V[c][j]|),
 * so a running C[:, j] that keeps the absolute rounding of "big" after the
 * value has fallen back, (small + big) - big, violates it once
 * u * big > 1e-10 * max|V[:, j]|. Checked right after the fall and again after
 * further ordinary updates. */

static void test_value_rise_and_fall(void **state) {
  static const double bigs[] = {1e3, 1e6, 1e8, 1e12, 1e100};
  size_t a, b;
  (void)state;
  tu_reset_worst_ratio();
  for (a = 0; a < NLIMITS; ++a)
    for (b = 0; b < sizeof bigs / sizeof bigs[0]; ++b) {
      tu_rng r;
      tu_mirror m;
      att_state *h;
      char label[160];
      int t;
      const int64_t row = 3, col = 1;
      tu_rng_seed(&r, 7000 + 10 * a + b);
      tu_mirror_alloc(&m, 32, 4, 1.0);
      tu_mirror_randomize(&m, &r, 1.0, 1.0);
      h = init_with_limit(&m, kLimits[a]);
      tu_update_v(&m, h, row, col, bigs[b]);
      snprintf(label, sizeof label, "value rise k=%lld big=%g: risen", (long long)kLimits[a],
               bigs[b]);
      tu_check_all(h, &m, TOL, label);
      tu_update_v(&m, h, row, col, -bigs[b]);
      snprintf(label, sizeof label, "value rise k=%lld big=%g: fallen back", (long long)kLimits[a],
               bigs[b]);
      tu_check_all(h, &m, TOL, label);
      /* Key and value updates elsewhere, then check again. */
      for (t = 0; t < 100; ++t) {
        tu_update_k(&m, h, tu_below(&r, 32), tu_below(&r, 4), 0.3 * tu_normal(&r));
        tu_update_v(&m, h, tu_below(&r, 32), tu_below(&r, 4), 0.3 * tu_normal(&r));
      }
      snprintf(label, sizeof label, "value rise k=%lld big=%g: 200 updates later",
               (long long)kLimits[a], bigs[b]);
      tu_check_all(h, &m, TOL, label);
      att_free(h);
      tu_mirror_free(&m);
    }
  tu_report("test_value_rise_and_fall");
}

/* A value column falls between folds. Column 1 of an 8 x 2 problem starts
 * as `column` (so that C0 is built with it), then `steps` set its entries one
 * by one, with every output checked after each, under the lazy strategy (the
 * checks' queries must not bring a fold) and at every lazy limit. C0's
 * column holds the rounding of its large entries (about 1e-8 for 1e8), far
 * above 1e-10 * 1e-3: the change that leaves no entry within 2^10 of the
 * column's scale must fold and recompute the column at once, not at the next
 * scheduled fold. */
typedef struct value_step {
  int64_t row;
  double value;
} value_step;

static void run_column_fall(const char *name, unsigned seed, const double column[8],
                            const value_step *steps, int64_t count) {
  size_t a;
  tu_reset_worst_ratio();
  for (a = 0; a < NLIMITS; ++a) {
    tu_rng r;
    tu_mirror m;
    att_state *h;
    att_config *cfg = tu_config(kLimits[a], 0.0, 1.0);
    char label[160];
    int64_t i, before = -1, after = -1;
    tu_rng_seed(&r, seed + a);
    tu_mirror_alloc(&m, 8, 2, 1.0);
    tu_mirror_randomize(&m, &r, 1.0, 1.0);
    for (i = 0; i < 8; ++i) m.V[i * 2 + 1] = column[i];
    assert_int_equal(att_config_set_strategy(cfg, ATT_STRATEGY_LAZY), ATT_OK);
    h = tu_init(&m, cfg);
    att_config_free(cfg);
    assert_int_equal(att_stat(h, ATT_STAT_COLUMNS_RECOMPUTED, &before), ATT_OK);
    for (i = 0; i < count; ++i) {
      assert_int_equal(att_set_entry(h, ATT_MATRIX_V, steps[i].row, 1, steps[i].value), ATT_OK);
      m.V[steps[i].row * 2 + 1] = steps[i].value;
      snprintf(label, sizeof label, "%s k=%lld: step %lld", name, (long long)kLimits[a],
               (long long)i);
      tu_check_all(h, &m, TOL, label);
    }
    assert_int_equal(att_stat(h, ATT_STAT_COLUMNS_RECOMPUTED, &after), ATT_OK);
    assert_true(after > before);
    att_free(h);
    tu_mirror_free(&m);
  }
  tu_report(name);
}

/* Every entry starts at 1e8 and is set to 1e-3. */
static void test_column_falls_between_folds(void **state) {
  static const double column[8] = {1e8, 1e8, 1e8, 1e8, 1e8, 1e8, 1e8, 1e8};
  static const value_step steps[8] = {{0, 1e-3}, {1, 1e-3}, {2, 1e-3}, {3, 1e-3},
                                      {4, 1e-3}, {5, 1e-3}, {6, 1e-3}, {7, 1e-3}};
  (void)state;
  run_column_fall("test_column_falls_between_folds", 7500, column, steps, 8);
}

/* The entry that holds the column up has risen since the last fold: V[0][1]
 * = 1e8 and the rest 1e-3 at the fold; V[1][1] rises to 1e8 (pending),
 * V[0][1] falls to 1e-3 (the column still has a large entry), and V[1][1]
 * falls back to 1e-3. That last change, whose entry was 1e-3 at the last
 * fold, is the one that leaves the column far below its scale. */
static void test_column_falls_from_pending_peak(void **state) {
  static const double column[8] = {1e8, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3};
  static const value_step steps[3] = {{1, 1e8}, {0, 1e-3}, {1, 1e-3}};
  (void)state;
  run_column_fall("test_column_falls_from_pending_peak", 7600, column, steps, 3);
}

/* ---- Rows whose mass would underflow (or overflow) without a shift ----------- */

static void test_underflow_rows(void **state) {
  static const double drops[] = {-800.0, -5000.0, 5000.0};
  size_t a, b;
  (void)state;
  tu_reset_worst_ratio();
  for (a = 0; a < NLIMITS; ++a) {
    tu_rng r;
    tu_mirror m;
    att_state *h;
    char label[128];
    int64_t i, c;
    tu_rng_seed(&r, 4000 + a);
    tu_mirror_alloc(&m, 40, 2, 1.0);
    tu_mirror_randomize(&m, &r, 1.0, 1.0);
    /* Even rows see K[:,0] with sign +1, odd rows with sign -1: moving every
     * key down by 800 drives the even rows' whole mass towards exp(-800)
     * (underflow) and the odd rows' towards exp(800) (overflow). */
    for (i = 0; i < 40; ++i) m.Q[i * 2] = (i % 2) ? -1.0 : 1.0;
    h = init_with_limit(&m, kLimits[a]);
    for (b = 0; b < sizeof drops / sizeof drops[0]; ++b)
      for (c = 0; c < 40; ++c) {
        tu_update_k(&m, h, c, 0, drops[b]);
        if (c % 2 == 0) tu_update_v(&m, h, tu_below(&r, 40), tu_below(&r, 2), tu_normal(&r));
        if (c % 5 == 4 || c == 0) {
          /* Half-way, rows mix keys 800 apart: some weights underflow
           * legitimately, the row must still be right. */
          snprintf(label, sizeof label, "underflow k=%lld drop=%g after key %lld",
                   (long long)kLimits[a], drops[b], (long long)c);
          tu_check_all(h, &m, TOL, label);
        }
      }
    /* Now every key sits 800 away again: whole rows at exp(-800). */
    assert_true(max_abs_logit(&m) > 700.0);
    tu_check_all(h, &m, TOL, "underflow: all keys moved");
    att_free(h);
    tu_mirror_free(&m);
  }
  tu_report("test_underflow_rows");
}

/* ---- Large random swings: never a NaN or an infinity -------------------------- */

static void test_random_swings(void **state) {
  size_t a;
  (void)state;
  tu_reset_worst_ratio();
  for (a = 0; a < NLIMITS; ++a) {
    tu_rng r;
    tu_mirror m;
    att_state *h;
    char label[128];
    int op;
    tu_rng_seed(&r, 5000 + a);
    tu_mirror_alloc(&m, 32, 4, 1.0);
    tu_fill_uniform(&r, m.Q, 128, -2.0, 2.0);
    tu_fill_uniform(&r, m.K, 128, -2.0, 2.0);
    tu_fill_normal(&r, m.V, 128, 1.0);
    h = init_with_limit(&m, kLimits[a]);
    for (op = 1; op <= 3000; ++op) {
      const int64_t i = tu_below(&r, 32), j = tu_below(&r, 4);
      const int kind = (int)tu_below(&r, 10);
      if (kind < 5) {
        tu_update_k(&m, h, i, j, reflect(m.K[i * 4 + j], 50.0 * tu_normal(&r), 300.0));
      } else if (kind < 8) {
        tu_update_v(&m, h, i, j, reflect(m.V[i * 4 + j], tu_normal(&r), 10.0));
      } else {
        double b = NAN;
        assert_int_equal(att_query(h, i, j, &b), ATT_OK);
        assert_true(isfinite(b));
      }
      if (op % 100 == 0) {
        snprintf(label, sizeof label, "swings k=%lld op=%d", (long long)kLimits[a], op);
        tu_check_all(h, &m, TOL, label);
      } else if (op % 10 == 0) {
        snprintf(label, sizeof label, "swings k=%lld op=%d entry", (long long)kLimits[a], op);
        tu_check_entry(h, &m, tu_below(&r, 32), tu_below(&r, 4), TOL, label);
      }
    }
    att_free(h);
    tu_mirror_free(&m);
  }
  tu_report("test_random_swings");
}

/* ---- Values at ATT_MAX_VALUE ----------------------------------------------------- */

static void test_max_value(void **state) {
  const double below = nextafter(ATT_MAX_VALUE, 0.0);
  const double above = nextafter(ATT_MAX_VALUE, INFINITY);
  tu_rng r;
  tu_mirror m;
  att_state *h;
  int64_t t;
  (void)state;
  assert_true(ATT_MAX_VALUE == 0x1p664);
  tu_rng_seed(&r, 6000);
  tu_mirror_alloc(&m, 16, 3, 1.0);
  tu_mirror_randomize(&m, &r, 1.0, 1.0);
  for (t = 0; t < 48; ++t) {
    const double mag = (t % 3 == 0) ? ATT_MAX_VALUE : below;
    m.V[t] = (t % 2 ? -1.0 : 1.0) * mag;
  }
  h = tu_init(&m, NULL);
  {
    double *all = tu_alloc_doubles(48);
    tu_query_all(h, 16, 3, all);
    assert_true(tu_all_finite(all, 48));
    free(all);
  }
  tu_check_all(h, &m, TOL, "V at +-ATT_MAX_VALUE");
  /* Key updates with values at the limit, then values moved to 0 and back
   * to the limit: V + delta stays within the limit. */
  for (t = 0; t < 200; ++t) {
    const int64_t i = tu_below(&r, 16), j = tu_below(&r, 3);
    tu_update_k(&m, h, i, j, reflect(m.K[i * 3 + j], tu_normal(&r), 3.0));
    if (t % 7 == 0) {
      const double v = m.V[i * 3 + j];
      tu_update_v(&m, h, i, j, -v); /* exactly 0 */
      tu_update_v(&m, h, i, j, (t % 2 ? -1.0 : 1.0) * below);
    }
    if (t % 20 == 0) tu_check_all(h, &m, TOL, "V at the limit, after updates");
  }
  tu_check_all(h, &m, TOL, "V at the limit, final");
  /* One ulp above is rejected, by update and by init. */
  {
    int64_t i;
    double before, after;
    for (i = 0; i < 48 && fabs(m.V[i]) != below; ++i) {
    }
    assert_true(i < 48);
    assert_int_equal(att_query(h, 0, i % 3, &before), ATT_OK);
    /* ulp(2^664) = 2^612: V + sign * 2^613 leaves [-MAX, MAX]. */
    assert_int_equal(att_update_v(h, i / 3, i % 3, copysign(0x1p613, m.V[i])), ATT_E_RANGE);
    assert_int_equal(att_query(h, 0, i % 3, &after), ATT_OK);
    assert_memory_equal(&before, &after, sizeof before);
    tu_check_all(h, &m, TOL, "V at the limit, after a rejected update");
  }
  att_free(h);
  {
    att_state *h2 = (att_state *)&m; /* a sentinel: must become NULL */
    m.V[5] = above;
    assert_int_equal(att_init(&h2, 16, 3, m.Q, m.K, m.V, NULL), ATT_E_RANGE);
    assert_null(h2);
    m.V[5] = -above;
    h2 = (att_state *)&m;
    assert_int_equal(att_init(&h2, 16, 3, m.Q, m.K, m.V, NULL), ATT_E_RANGE);
    assert_null(h2);
  }
  tu_mirror_free(&m);
}

/* ---- Logits at ATT_MAX_LOGIT --------------------------------------------------------
 * d = 1, Q[i] = +-2^332, K[c] = 2^332 (c + 1) / 8: the logits are
 * +-2^664 (c + 1) / 8, exactly representable, the largest exactly
 * ATT_MAX_LOGIT, and 2^661 apart, so every row is one-hot: rows with
 * Q = +2^332 return V[7], rows with Q = -2^332 return V[0]. */

static void test_max_logit(void **state) {
  static const double scales[] = {1.0, 0.5};
  size_t a;
  (void)state;
  assert_true(ATT_MAX_LOGIT == 0x1p664);
  for (a = 0; a < sizeof scales / sizeof scales[0]; ++a) {
    const double s = scales[a];
    tu_mirror m;
    att_config *cfg = tu_config(0, 0.0, s);
    att_state *h;
    double *ref = tu_alloc_doubles(8 * 2);
    double *got = tu_alloc_doubles(8 * 2);
    double *again = tu_alloc_doubles(8 * 2);
    int64_t i, j, c;
    tu_mirror_alloc(&m, 8, 2, s);
    for (i = 0; i < 8; ++i) {
      m.Q[i * 2] = (i % 2 ? -1.0 : 1.0) * 0x1p332;
      m.Q[i * 2 + 1] = 0.0;
      m.K[i * 2] = 0x1p332 * (double)(i + 1) / 8.0 / s; /* s * q * k as above */
      m.K[i * 2 + 1] = 1.0;
      m.V[i * 2] = (double)(i + 1);
      m.V[i * 2 + 1] = -3.0 * (double)i;
    }
    h = tu_init(&m, cfg);
    tu_query_all(h, 8, 2, got);
    ref_attention(8, 2, m.Q, m.K, m.V, s, ref);
    for (i = 0; i < 8; ++i)
      for (j = 0; j < 2; ++j) {
        const int64_t winner = (i % 2) ? 0 : 7;
        const double vmax = ref_col_abs_max(8, 2, m.V, j);
        assert_true(isfinite(got[i * 2 + j]));
        /* The reference agrees with the construction ... */
        assert_true(ref[i * 2 + j] == m.V[winner * 2 + j]);
        /* ... and the library with both. The logit term of the tolerance
         * model is meaningless here (u * 2^664); the gap of 2^661 between
         * the top two logits makes the exact answer one-hot. */
        if (!(fabs(got[i * 2 + j] - ref[i * 2 + j]) <= TOL * vmax))
          fail_msg("max logit scale=%g: B[%lld][%lld] = %.17g, expected %.17g", s, (long long)i,
                   (long long)j, got[i * 2 + j], ref[i * 2 + j]);
      }
    /* A logit one ulp above the limit is rejected, and nothing changes. */
    assert_int_equal(att_update_k(h, 7, 0, 0x1p332 * 0x1p-52 / s), ATT_E_RANGE);
    assert_string_not_equal(att_last_error(), "");
    tu_query_all(h, 8, 2, again);
    assert_memory_equal(got, again, 16 * sizeof(double));
    /* Moving the top key down by a representable step is fine: key 6 takes
     * over the rows with Q = +2^332. */
    tu_update_k(&m, h, 7, 0, -0x1p332 * 0.5 / s);
    tu_query_all(h, 8, 2, got);
    for (i = 0; i < 8; i += 2)
      for (j = 0; j < 2; ++j)
        assert_true(fabs(got[i * 2 + j] - m.V[6 * 2 + j]) <= TOL * ref_col_abs_max(8, 2, m.V, j));
    att_free(h);
    /* Init with a logit one ulp above the limit: rejected. */
    c = 7;
    m.K[c * 2] = nextafter(0x1p332 / s, INFINITY);
    h = (att_state *)&m;
    assert_int_equal(att_init(&h, 8, 2, m.Q, m.K, m.V, cfg), ATT_E_RANGE);
    assert_null(h);
    att_config_free(cfg);
    free(ref);
    free(got);
    free(again);
    tu_mirror_free(&m);
  }
}

/* ---- A pending value term's weight against a huge logit --------------------
 * A query reads a pending value row's weight A[i, r] and adds
 * A[i, r] (V - V0)[r, j], cancelling the A[i, r] V0[r, j] that C0 holds. In
 * streamed storage the weight is recomputed; were it rounded differently
 * from the tiles that built the row, the logit's rounding would multiply
 * the old value, here 2e5 against a column whose largest |V| is now 250
 * (within 2^10, so nothing folds). Logits near 1e6, d_k from 3 to 64: every
 * query before the fold must be within the logit-scaled tolerance of the
 * current column, in both storages. */
static void test_pending_value_weight(void **state) {
  static const att_storage storages[] = {ATT_STORAGE_DENSE, ATT_STORAGE_STREAMED};
  static const int64_t dims[] = {3, 17, 64};
  size_t a, di;
  (void)state;
  for (a = 0; a < sizeof storages / sizeof storages[0]; ++a)
    for (di = 0; di < sizeof dims / sizeof dims[0]; ++di) {
      const int64_t d = dims[di];
      tu_rng r;
      int trial, used = 0;
      tu_rng_seed(&r, 77 + (uint64_t)d);
      for (trial = 0; trial < 40; ++trial) {
        double Q[64], K[128], V[2] = {2e5, 250.0}, b = 0.0, want = 0.0, dot = 0.0;
        att_config *cfg = tu_config(0, 0.0, 1.0);
        att_state *h = NULL;
        int64_t t;
        tu_fill_uniform(&r, Q, d, -1.0, 1.0);
        tu_fill_uniform(&r, K, d, -1e6 / sqrt((double)d), 1e6 / sqrt((double)d));
        tu_fill_uniform(&r, K + d, d, -1.0, 1.0);
        for (t = 0; t < d; ++t) dot += Q[t] * K[t];
        if (dot < 0.0) { /* key 0 must dominate the row */
          for (t = 0; t < d; ++t) K[t] = -K[t];
          dot = -dot;
        }
        if (dot < 1e5) {
          att_config_free(cfg);
          continue;
        }
        ++used;
        assert_int_equal(att_config_set_storage(cfg, storages[a]), ATT_OK);
        assert_int_equal(att_config_set_strategy(cfg, ATT_STRATEGY_LAZY), ATT_OK);
        assert_int_equal(att_init_general(&h, 1, 2, d, 1, ATT_ROW_MAJOR, Q, d, K, d, V, 1, cfg),
                         ATT_OK);
        V[0] = 1e-8;
        assert_int_equal(att_set_entry(h, ATT_MATRIX_V, 0, 0, V[0]), ATT_OK);
        assert_int_equal(att_query(h, 0, 0, &b), ATT_OK);
        {
          const ref_problem p = {1, 2, d, 1, 1.0, 0, Q, K, V};
          ref_general_row(&p, 0, &want);
          if (!(fabs(b - want) <= ref_tolerance(TOL, d, ref_general_logit_abs_sum(&p, 0),
                                                ref_general_col_abs_max(&p, 0))))
            fail_msg("storage %d, d_k %lld, trial %d: B = %.17g, reference %.17g", (int)storages[a],
                     (long long)d, trial, b, want);
        }
        att_free(h);
        att_config_free(cfg);
      }
      assert_true(used >= 10);
    }
}

/* ---- Rows computed in key tiles with a running maximum ---------------------
 * Streamed storage computes rows in blocks of 192 queries, each in tiles of
 * 256 keys, the blocks split among threads; a row's partial D and C0 are
 * rescaled whenever a later tile raises its maximum. Here the logits rise
 * with the key index, so every row is rescaled in every later tile, and one
 * key in the middle of a late tile dominates a third of the rows. The
 * rows must meet the init bound of the dense store (1e-12) after init, and
 * TOL after updates that move a row maximum between tiles and recompute rows. */

static void test_streamed_tiles(void **state) {
  enum { n = 2600, d = 3 };
  static const att_storage storages[] = {ATT_STORAGE_STREAMED, ATT_STORAGE_DENSE};
  size_t a;
  (void)state;
  tu_reset_worst_ratio();
  for (a = 0; a < sizeof storages / sizeof storages[0]; ++a) {
    tu_rng r;
    tu_mirror m;
    att_config *cfg = tu_config(0, 0.0, 1.0);
    att_state *h;
    char label[128];
    int64_t i, c, u, storage = -1;
    tu_rng_seed(&r, 7100 + a);
    tu_mirror_alloc(&m, n, d, 1.0);
    tu_mirror_randomize(&m, &r, 1.0, 1.0);
    for (i = 0; i < n; ++i) m.Q[i * d] = tu_range(&r, 0.5, 1.5);
    for (c = 0; c < n; ++c) m.K[c * d] = 20.0 * (double)c / n + tu_range(&r, -1.0, 1.0);
    m.K[2300 * d + 1] = 40.0;
    for (i = 0; i < n; i += 3) m.Q[i * d + 1] = 1.0;
    assert_int_equal(att_config_set_storage(cfg, storages[a]), ATT_OK);
    h = tu_init(&m, cfg);
    assert_int_equal(att_stat(h, ATT_STAT_STORAGE, &storage), ATT_OK);
    assert_int_equal(storage, storages[a]);
    snprintf(label, sizeof label, "tiles storage=%d init", (int)storages[a]);
    tu_check_all(h, &m, 1e-12, label);
    /* The dominant key falls back below the trend, a key of the first tile
     * rises above it, and random updates of K and V follow. */
    tu_update_k(&m, h, 2300, 1, -45.0);
    tu_update_k(&m, h, 100, 0, 25.0);
    for (u = 0; u < 200; ++u) {
      if (u % 2 == 0)
        tu_update_k(&m, h, tu_below(&r, n), tu_below(&r, d), 0.5 * tu_normal(&r));
      else
        tu_update_v(&m, h, tu_below(&r, n), tu_below(&r, d), tu_normal(&r));
    }
    snprintf(label, sizeof label, "tiles storage=%d updates", (int)storages[a]);
    tu_check_all(h, &m, TOL, label);
    assert_int_equal(att_fold(h), ATT_OK);
    tu_check_all(h, &m, TOL, label);
    att_free(h);
    att_config_free(cfg);
    tu_mirror_free(&m);
  }
  tu_report("test_streamed_tiles");
}

/* ---- Changes below a logit's ulp ---------------------------------------------
 * Logits near 8e5 (an ulp is 1.2e-10) move by 4e-11 per update, 20000 times:
 * a store that moved kept logits in place would round every change away and
 * let the true logit run off. The dense store keeps A and scales it by
 * exp(4e-11), a relative change far above A's rounding, and charges the
 * rounding that scaling leaves in an entry; the streamed store recomputes
 * the logits from Q and K. No fold or sweep runs (lazy strategy, limit
 * above the stream), so only the updates' own charges keep the rows within
 * the bound at every check. */

static void test_logit_drift(void **state) {
  enum { n = 4, d = 2, steps = 20000, every = 50 };
  static const att_storage storages[] = {ATT_STORAGE_DENSE, ATT_STORAGE_STREAMED};
  size_t a;
  (void)state;
  tu_reset_worst_ratio();
  for (a = 0; a < sizeof storages / sizeof storages[0]; ++a) {
    tu_rng r;
    tu_mirror m;
    att_config *cfg = tu_config(100000, 0.0, 1.0);
    att_state *h;
    char label[128];
    int64_t i, u;
    tu_rng_seed(&r, 7300 + a);
    tu_mirror_alloc(&m, n, d, 1.0);
    for (i = 0; i < n; ++i) {
      m.Q[i * d] = 8000.0;
      m.Q[i * d + 1] = 1.0;
      m.K[i * d] = 100.0;
      m.K[i * d + 1] = 0.0;
    }
    tu_fill_normal(&r, m.V, n * d, 1.0);
    assert_int_equal(att_config_set_storage(cfg, storages[a]), ATT_OK);
    assert_int_equal(att_config_set_strategy(cfg, ATT_STRATEGY_LAZY), ATT_OK);
    h = tu_init(&m, cfg);
    for (u = 1; u <= steps; ++u) {
      tu_update_k(&m, h, 0, 1, 4e-11);
      if (u % every == 0) {
        snprintf(label, sizeof label, "logit drift storage=%d step=%lld", (int)storages[a],
                 (long long)u);
        tu_check_all(h, &m, TOL, label);
      }
    }
    /* The reference sees key 0's logit 8e-7 above the others'. */
    assert_true(m.K[1] > 7.99e-7 && m.K[1] < 8.01e-7);
    att_free(h);
    att_config_free(cfg);
    tu_mirror_free(&m);
  }
  tu_report("test_logit_drift");
}

/* The logits move by the change of the stored key entry, not by the delta
 * the caller passed: here an update of K[0][0] by 2^65, which K rounds up by
 * a whole ulp to a change of 2^66, would move key 0's logit from -2^664 to
 * 3 * 2^664, beyond ATT_MAX_LOGIT, where the delta alone would have moved it
 * to 2^664. Both storages refuse the change and keep their state (every
 * query answers V[1]: key 0's logit is -2^664); an exact change of 2^65 to
 * K[0][2] is accepted, and key 0 then dominates (its logit 2^664). */
static void test_rounded_key_above_limit(void **state) {
  static const att_storage storages[] = {ATT_STORAGE_DENSE, ATT_STORAGE_STREAMED};
  const double big = 0x1p118 + 0x1p66; /* odd last bit: +2^65 ties upward */
  const double Q[2 * 3] = {0x1p600, 0x1p600, 0x1p600, 0x1p600, 0x1p600, 0x1p600};
  const double K[2 * 3] = {big, -big, -0x1p64, 0.0, 0.0, 0.0};
  const double V[2 * 3] = {1.0, -2.0, 3.0, 0.5, 4.0, -1.5};
  size_t a;
  (void)state;
  for (a = 0; a < sizeof storages / sizeof storages[0]; ++a) {
    att_config *cfg = tu_config(-1, 0.0, 1.0);
    att_state *h = NULL;
    int64_t i, j;
    double out, k_now[2 * 3];
    assert_int_equal(att_config_set_storage(cfg, storages[a]), ATT_OK);
    assert_int_equal(att_init(&h, 2, 3, Q, K, V, cfg), ATT_OK);
    assert_int_equal(att_update_k(h, 0, 0, 0x1p65), ATT_E_RANGE);
    for (i = 0; i < 2; ++i)
      for (j = 0; j < 3; ++j) {
        assert_int_equal(att_query(h, i, j, &out), ATT_OK);
        assert_true(out == V[3 + j]); /* logits -2^664 and 0 */
      }
    assert_int_equal(att_get_matrix(h, ATT_MATRIX_K, ATT_ROW_MAJOR, k_now, 3), ATT_OK);
    assert_memory_equal(k_now, K, sizeof K);
    /* K[0][2] = -2^64 + 2^65 = 2^64 exactly: key 0's logit becomes 2^664. */
    assert_int_equal(att_update_k(h, 0, 2, 0x1p65), ATT_OK);
    for (i = 0; i < 2; ++i)
      for (j = 0; j < 3; ++j) {
        assert_int_equal(att_query(h, i, j, &out), ATT_OK);
        assert_true(out == V[j]);
      }
    att_free(h);
    att_config_free(cfg);
  }
}

/* Key changes whose increments round far more than the logits they leave
 * (docs/NUMERICS.md, "Key changes"), in both storages:
 *   - a key row of entries -2^664, -2^664 and 2^665, which cancel in every
 *     logit (each row of Q has equal entries), replaced by [2, 2, 2], by
 *     att_set_row and by att_set_batch, and back: the increments' terms
 *     round the change's small part away and sum to 0, while the logits
 *     move by 6 q. Checked against the long-double reference, whose
 *     tolerance is tight once the row is small again;
 *   - att_update_k by 1 of an entry 2^60, which K cannot hold (its ulp is
 *     256): K stays as it was, and so does every output of the dense
 *     store, bit for bit (no fold comes between), where moving the logits
 *     by the delta would have changed them. */
static void test_cancelling_key_changes(void **state) {
  enum { n = 3, d = 3 };
  static const att_storage storages[] = {ATT_STORAGE_DENSE, ATT_STORAGE_STREAMED};
  static const double q[n] = {0.625, 1.25, -0.5};
  const double huge[d] = {-0x1p664, -0x1p664, 0x1p665}, small[d] = {2.0, 2.0, 2.0};
  const double wide[d] = {0x1p60, -0x1p60, 0.5};
  const int64_t rows[d] = {1, 1, 1}, cols[d] = {0, 1, 2};
  size_t a;
  (void)state;
  tu_reset_worst_ratio();
  for (a = 0; a < sizeof storages / sizeof storages[0]; ++a) {
    tu_rng r;
    tu_mirror m;
    att_config *cfg = tu_config(-1, 0.0, 1.0);
    att_state *h;
    char label[96];
    double before[n * d], after[n * d];
    int64_t i, j, round;
    tu_rng_seed(&r, 7400 + a);
    tu_mirror_alloc(&m, n, d, 1.0);
    for (i = 0; i < n; ++i)
      for (j = 0; j < d; ++j) m.Q[i * d + j] = q[i];
    tu_fill_uniform(&r, m.K, n * d, -0.5, 0.5);
    memcpy(m.K + d, huge, sizeof huge);
    tu_fill_normal(&r, m.V, n * d, 1.0);
    assert_int_equal(att_config_set_storage(cfg, storages[a]), ATT_OK);
    h = tu_init(&m, cfg);
    for (round = 0; round < 2; ++round) {
      if (round == 0) {
        assert_int_equal(att_set_row(h, ATT_MATRIX_K, 1, small, 1), ATT_OK);
      } else {
        assert_int_equal(att_set_batch(h, ATT_MATRIX_K, d, rows, cols, small), ATT_OK);
      }
      memcpy(m.K + d, small, sizeof small);
      snprintf(label, sizeof label, "cancelling keys storage=%d round %d", (int)storages[a],
               (int)round);
      tu_check_all(h, &m, TOL, label);
      assert_int_equal(att_set_row(h, ATT_MATRIX_K, 1, huge, 1), ATT_OK);
      memcpy(m.K + d, huge, sizeof huge);
      tu_check_all(h, &m, TOL, label);
    }

    assert_int_equal(att_set_row(h, ATT_MATRIX_K, 2, wide, 1), ATT_OK);
    memcpy(m.K + 2 * d, wide, sizeof wide);
    assert_int_equal(att_fold(h), ATT_OK); /* a fold would round C0 afresh */
    tu_query_all(h, n, d, before);
    tu_update_k(&m, h, 2, 0, 1.0);
    assert_true(m.K[2 * d] == 0x1p60);
    tu_query_all(h, n, d, after);
    if (storages[a] == ATT_STORAGE_DENSE) {
      assert_memory_equal(before, after, sizeof before);
    } else {
      /* The streamed store recomputes the key's old logits, whose rounding
       * it charges relative to |q_i| |k|: the rows are recomputed. */
      tu_check_all(h, &m, TOL, label);
    }
    att_free(h);
    att_config_free(cfg);
    tu_mirror_free(&m);
  }
  tu_report("test_cancelling_key_changes");
}

/* The background sweep keeps pace with the folds' passes over C0
 * (docs/NUMERICS.md): a fold of key updates alone, or of value updates
 * alone, makes one pass and earns n/4096 rows, a fold of both makes two, and
 * rows are recomputed in blocks of 128. At n = 512 the first block comes
 * after 1024 folds of one kind, or after 512 of both. The changes are small,
 * so that no row is recomputed for any other reason, and a value row rarely
 * takes more than one of them, so that its terms go into C0 by the sparse
 * rows' pass, not by the dgemm's (a row with more than d / 8 changed entries
 * would add the dgemm's pass). */
static void test_sweep_per_pass(void **state) {
  enum { n = 512, d = 64, k = 64 };
  double *Q = malloc(sizeof(double) * n * d), *K = malloc(sizeof(double) * n * d);
  double *V = malloc(sizeof(double) * n * d);
  int mode;
  (void)state;
  assert_non_null(Q && K && V);
  for (mode = 0; mode < 3; ++mode) { /* keys alone, values alone, both in turn */
    const int64_t folds = mode == 2 ? 512 : 1024;
    att_config *cfg = tu_config(k, 0.0, 1.0 / sqrt((double)d));
    att_state *h = NULL;
    tu_rng r;
    int64_t t, done = 0, rows = -1;
    tu_rng_seed(&r, 9100 + (uint64_t)mode);
    tu_fill_normal(&r, Q, n * d, 1.0);
    tu_fill_normal(&r, K, n * d, 1.0);
    tu_fill_normal(&r, V, n * d, 1.0);
    assert_int_equal(att_config_set_strategy(cfg, ATT_STRATEGY_LAZY), ATT_OK);
    assert_int_equal(att_config_set_storage(cfg, ATT_STORAGE_DENSE), ATT_OK);
    assert_int_equal(att_init(&h, n, d, Q, K, V, cfg), ATT_OK);
    for (t = 0; done < folds; ++t) {
      const int64_t i = tu_below(&r, n), j = tu_below(&r, d);
      const double delta = 0.01 * tu_normal(&r);
      const int key = mode == 0 || (mode == 2 && t % 2 == 0);
      int64_t now = 0;
      assert_int_equal(key ? att_update_k(h, i, j, delta) : att_update_v(h, i, j, delta), ATT_OK);
      assert_int_equal(att_stat(h, ATT_STAT_FOLDS, &now), ATT_OK);
      if (now == done) continue;
      done = now;
      assert_int_equal(att_stat(h, ATT_STAT_ROWS_RECOMPUTED, &rows), ATT_OK);
      assert_int_equal(rows, done < folds ? 0 : 128);
    }
    att_free(h);
    att_config_free(cfg);
  }
  free(Q);
  free(K);
  free(V);
}

/* ---- Value changes undone before their fold --------------------------------- */

static void set_value(tu_mirror *m, att_state *h, int64_t i, int64_t j, double value) {
  assert_int_equal(att_set_entry(h, ATT_MATRIX_V, i, j, value), ATT_OK);
  m->V[i * m->d + j] = value;
}

static void assert_same_answers(const att_state *a, const att_state *b, int64_t n, int64_t d,
                                const char *what) {
  double *x = tu_alloc_doubles(n * d), *y = tu_alloc_doubles(n * d);
  tu_query_all(a, n, d, x);
  tu_query_all(b, n, d, y);
  if (memcmp(x, y, sizeof(double) * (size_t)(n * d)) != 0) fail_msg("%s: other bits", what);
  free(x);
  free(y);
}

/* Pending value entries set back to exactly their folded values leave zeros
 * of V - V0 among the changes of other rows: a row all of whose changes came
 * back, a row with one change undone and one kept, an entry changed twice,
 * three rows changing one column, and a row replaced whole (d_v = 16: the
 * dgemm folds it, the others go column by column). Before and after the
 * fold the handle matches the reference, and a copy saved and loaded while
 * the changes were pending, and a clone, fold them to the same bits. */
static void test_value_changes_undone(void **state) {
  enum { n = 32, d = 16, rounds = 6 };
  tu_mirror m;
  tu_rng r;
  att_config *cfg;
  att_state *h;
  double row[d];
  int round;
  (void)state;
  tu_mirror_alloc(&m, n, d, 1.0 / sqrt((double)d));
  tu_rng_seed(&r, 9200);
  tu_mirror_randomize(&m, &r, 1.0, 1.0);
  cfg = tu_config(64, 0.0, m.scale);
  assert_int_equal(att_config_set_strategy(cfg, ATT_STRATEGY_LAZY), ATT_OK);
  h = tu_init(&m, cfg);
  att_config_free(cfg);
  for (round = 0; round < rounds; ++round) {
    const int64_t base = tu_below(&r, n), j0 = tu_below(&r, d), j1 = (j0 + 5) % d;
    int64_t rows[6], t, pending = -1, bytes = 0, written = 0;
    att_state *loaded = NULL, *clone = NULL;
    void *buf;
    for (t = 0; t < 6; ++t) rows[t] = (base + 5 * t) % n;
    {
      const double a = m.V[rows[0] * d + j0], b = m.V[rows[0] * d + j1];
      set_value(&m, h, rows[0], j0, a + 1.0);
      set_value(&m, h, rows[0], j1, b - 2.0);
      set_value(&m, h, rows[0], j0, a);
      set_value(&m, h, rows[0], j1, b);
    }
    {
      const double a = m.V[rows[1] * d + j1];
      set_value(&m, h, rows[1], j1, a + 0.5);
      set_value(&m, h, rows[1], j0, tu_normal(&r));
      set_value(&m, h, rows[1], j1, a);
    }
    tu_update_v(&m, h, rows[2], j0, 0.25);
    tu_update_v(&m, h, rows[2], j0, tu_normal(&r));
    for (t = 3; t < 6; ++t) tu_update_v(&m, h, rows[t], j1, tu_normal(&r));
    tu_fill_normal(&r, row, d, 1.0);
    assert_int_equal(att_set_row(h, ATT_MATRIX_V, rows[5], row, 1), ATT_OK);
    for (t = 0; t < d; ++t) m.V[rows[5] * d + t] = row[t];
    assert_int_equal(att_stat(h, ATT_STAT_PENDING_VALUE_UPDATES, &pending), ATT_OK);
    assert_int_equal(pending, 13);
    tu_check_all(h, &m, TOL, "value changes undone, pending");

    assert_int_equal(att_save_size(h, &bytes), ATT_OK);
    buf = tu_xmalloc((size_t)bytes);
    assert_int_equal(att_save_buffer(h, buf, bytes, &written), ATT_OK);
    assert_int_equal(att_load_buffer(&loaded, buf, written), ATT_OK);
    free(buf);
    assert_int_equal(att_clone(h, &clone), ATT_OK);
    assert_int_equal(att_fold(h), ATT_OK);
    assert_int_equal(att_fold(loaded), ATT_OK);
    assert_int_equal(att_fold(clone), ATT_OK);
    assert_int_equal(att_stat(h, ATT_STAT_PENDING_VALUE_UPDATES, &pending), ATT_OK);
    assert_int_equal(pending, 0);
    tu_check_all(h, &m, TOL, "value changes undone, folded");
    assert_same_answers(h, loaded, n, d, "value changes undone: the loaded copy");
    assert_same_answers(h, clone, n, d, "value changes undone: the clone");
    att_free(loaded);
    att_free(clone);
  }
  att_free(h);
  tu_mirror_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_large_logits),
      cmocka_unit_test(test_row_max_moves),
      cmocka_unit_test(test_dominate_and_fall),
      cmocka_unit_test(test_value_rise_and_fall),
      cmocka_unit_test(test_column_falls_between_folds),
      cmocka_unit_test(test_column_falls_from_pending_peak),
      cmocka_unit_test(test_underflow_rows),
      cmocka_unit_test(test_random_swings),
      cmocka_unit_test(test_max_value),
      cmocka_unit_test(test_max_logit),
      cmocka_unit_test(test_streamed_tiles),
      cmocka_unit_test(test_pending_value_weight),
      cmocka_unit_test(test_logit_drift),
      cmocka_unit_test(test_rounded_key_above_limit),
      cmocka_unit_test(test_cancelling_key_changes),
      cmocka_unit_test(test_sweep_per_pass),
      cmocka_unit_test(test_value_changes_undone),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
