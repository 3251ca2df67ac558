/*
 * Randomized differential tests: interleaved update_k / update_v / query
 * sequences checked against the long-double reference of the mirrored
 * Q, K, V.
 *
 * SPDX-License-Identifier: MIT
 *
 * Cost: the full reference is O(n^2 d) in long double, so it is recomputed
 * only every FULL_CHECK_EVERY operations; every query operation is checked
 * on its own against a single reference row (O(n d)). The whole file runs in
 * a few seconds in a plain build.
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
#define FULL_CHECK_EVERY 200

/* Keep entries of K within [-K_LIMIT, K_LIMIT] and V within [-V_LIMIT,
 * V_LIMIT] by reflecting a delta that would leave the box: logits stay
 * O(d), so the test exercises the algebra, not the range checks. */
#define K_LIMIT 3.0
#define V_LIMIT 20.0

typedef struct scenario {
  const char *name;
  int64_t n, d;
  int64_t lazy_limit; /* >= 0: att_config_set_lazy_limit; -1: use exponent */
  double exponent;    /* > 0 with lazy_limit == -1; 0: no exponent (default) */
  int inv_sqrt_scale; /* logit scale 1/sqrt(d) instead of 1 */
  int hot_rows;       /* > 0: every update hits one of the first hot_rows rows */
  int64_t ops;
  int seeds;
  int full_check_every_op; /* tiny problems: full check after every op */
} scenario;

static double reflect(double cur, double delta, double limit) {
  return fabs(cur + delta) > limit ? -delta : delta;
}

static void run_scenario(const scenario *sc, uint64_t seed) {
  tu_rng r;
  tu_mirror m;
  att_config *cfg;
  att_state *h;
  char label[160];
  int64_t op;
  const double scale = sc->inv_sqrt_scale ? 1.0 / sqrt((double)sc->d) : 1.0;
  const int64_t rows = sc->hot_rows > 0 && sc->hot_rows < sc->n ? sc->hot_rows : sc->n;

  tu_rng_seed(&r, seed);
  tu_mirror_alloc(&m, sc->n, sc->d, scale);
  tu_mirror_randomize(&m, &r, 1.0, 1.0);
  cfg = tu_config(sc->lazy_limit, sc->exponent, scale);
  h = tu_init(&m, cfg);
  att_config_free(cfg);
  snprintf(label, sizeof label, "%s seed=%llu after init", sc->name, (unsigned long long)seed);
  tu_check_all(h, &m, TOL, label);

  for (op = 1; op <= sc->ops; ++op) {
    const int64_t kind = tu_below(&r, 100);
    const int64_t i = tu_below(&r, rows), j = tu_below(&r, sc->d);
    if (kind < 40) {
      double delta = 0.5 * tu_normal(&r);
      delta = reflect(m.K[i * m.d + j], delta, K_LIMIT);
      tu_update_k(&m, h, i, j, delta);
    } else if (kind < 80) {
      double delta = 2.0 * tu_normal(&r);
      delta = reflect(m.V[i * m.d + j], delta, V_LIMIT);
      tu_update_v(&m, h, i, j, delta);
    } else {
      /* A query anywhere, not only in the hot rows. */
      const int64_t qi = tu_below(&r, sc->n), qj = tu_below(&r, sc->d);
      snprintf(label, sizeof label, "%s seed=%llu op=%lld query(%lld,%lld)", sc->name,
               (unsigned long long)seed, (long long)op, (long long)qi, (long long)qj);
      tu_check_entry(h, &m, qi, qj, TOL, label);
    }
    if (sc->full_check_every_op || op % FULL_CHECK_EVERY == 0) {
      snprintf(label, sizeof label, "%s seed=%llu op=%lld full check", sc->name,
               (unsigned long long)seed, (long long)op);
      tu_check_all(h, &m, TOL, label);
    }
  }
  snprintf(label, sizeof label, "%s seed=%llu final", sc->name, (unsigned long long)seed);
  tu_check_all(h, &m, TOL, label);
  att_free(h);
  tu_mirror_free(&m);
}

static void run_seeds(const scenario *sc) {
  int s;
  tu_reset_worst_ratio();
  for (s = 0; s < sc->seeds; ++s)
    run_scenario(
        sc, UINT64_C(0x5eed0000) + (uint64_t)s * 7919u + (uint64_t)sc->n * 31u + (uint64_t)sc->d);
  tu_report(sc->name);
}

/* ---- The scenarios -------------------------------------------------------- */

/* n = 1: a single key; B is V's only row whatever K does. */
static void test_n1(void **state) {
  const scenario a = {"n=1 d=1 k=auto", 1, 1, 0, 0.0, 0, 0, 4000, 8, 1};
  const scenario b = {"n=1 d=5 k=1", 1, 5, 1, 0.0, 0, 0, 4000, 8, 1};
  const scenario c = {"n=1 d=4 k=100000", 1, 4, 100000, 0.0, 0, 0, 4000, 6, 1};
  (void)state;
  run_seeds(&a);
  run_seeds(&b);
  run_seeds(&c);
}

/* d = 1 (vectors), several lazy limits. */
static void test_d1(void **state) {
  const scenario a = {"n=9 d=1 k=1", 9, 1, 1, 0.0, 0, 0, 6000, 8, 0};
  const scenario b = {"n=33 d=1 k=auto", 33, 1, 0, 0.0, 0, 0, 6000, 8, 0};
  const scenario c = {"n=20 d=1 k=7", 20, 1, 7, 0.0, 0, 0, 6000, 6, 0};
  (void)state;
  run_seeds(&a);
  run_seeds(&b);
  run_seeds(&c);
}

/* k = 1: every update is folded at once. */
static void test_k1(void **state) {
  const scenario a = {"n=16 d=4 k=1", 16, 4, 1, 0.0, 0, 0, 6000, 8, 0};
  const scenario b = {"n=40 d=8 k=1 scale=1/sqrt(d)", 40, 8, 1, 0.0, 1, 0, 6000, 6, 0};
  (void)state;
  run_seeds(&a);
  run_seeds(&b);
}

/* Tiny problems with a full check after every operation: every position of
 * the pending-update window is observed, for k = 2 and k = 3. */
static void test_tiny_every_op(void **state) {
  const scenario a = {"n=3 d=2 k=2", 3, 2, 2, 0.0, 0, 0, 6000, 8, 1};
  const scenario b = {"n=4 d=3 k=3", 4, 3, 3, 0.0, 0, 0, 6000, 8, 1};
  const scenario c = {"n=2 d=1 k=auto", 2, 1, 0, 0.0, 0, 0, 6000, 8, 1};
  (void)state;
  run_seeds(&a);
  run_seeds(&b);
  run_seeds(&c);
}

/* The automatic lazy limit at sizes below and above its cap of 64. */
static void test_default_limit(void **state) {
  const scenario a = {"n=17 d=4 k=auto", 17, 4, 0, 0.0, 0, 0, 4000, 8, 0};
  const scenario b = {"n=96 d=12 k=auto", 96, 12, 0, 0.0, 0, 0, 4000, 6, 0};
  const scenario c = {"n=64 d=16 k=auto scale=1/sqrt(d)", 64, 16, 0, 0.0, 1, 0, 4000, 6, 0};
  (void)state;
  run_seeds(&a);
  run_seeds(&b);
  run_seeds(&c);
}

/* k larger than the number of updates: nothing is ever folded, every query
 * sums all pending key and value terms. */
static void test_k_never_folds(void **state) {
  const scenario a = {"n=24 d=5 k=100000", 24, 5, 100000, 0.0, 0, 0, 6000, 6, 0};
  const scenario b = {"n=64 d=16 k=100000", 64, 16, 100000, 0.0, 0, 0, 5000, 4, 0};
  const scenario c = {"n=8 d=3 k=2^20 hot", 8, 3, INT64_C(1) << 20, 0.0, 0, 2, 6000, 6, 0};
  (void)state;
  run_seeds(&a);
  run_seeds(&b);
  run_seeds(&c);
}

/* The paper's parameterization k = ceil(n^a). */
static void test_lazy_exponent(void **state) {
  const scenario a = {"n=40 d=6 a=0.5", 40, 6, -1, 0.5, 0, 0, 6000, 6, 0};
  const scenario b = {"n=50 d=3 a=1.0", 50, 3, -1, 1.0, 0, 0, 6000, 6, 0};
  const scenario c = {"n=30 d=4 a=1e-6", 30, 4, -1, 1e-6, 0, 0, 6000, 6, 0};
  const scenario e = {"n=1 d=2 a=0.5", 1, 2, -1, 0.5, 0, 0, 2000, 4, 1};
  (void)state;
  run_seeds(&a);
  run_seeds(&b);
  run_seeds(&c);
  run_seeds(&e);
}

/* K and V updates concentrated on two rows, so pending key terms and pending
 * value terms of the same row coexist between rebuilds (the ordering of the
 * fold: K terms multiply V0, V terms use the current A). */
static void test_same_row_between_rebuilds(void **state) {
  const scenario a = {"hot2 n=12 d=3 k=5", 12, 3, 5, 0.0, 0, 2, 6000, 8, 0};
  const scenario b = {"hot1 n=10 d=2 k=9", 10, 2, 9, 0.0, 0, 1, 6000, 8, 0};
  const scenario c = {"hot2 n=32 d=4 k=auto", 32, 4, 0, 0.0, 0, 2, 6000, 6, 0};
  const scenario e = {"hot1 n=6 d=1 k=100000", 6, 1, 100000, 0.0, 0, 1, 6000, 6, 1};
  (void)state;
  run_seeds(&a);
  run_seeds(&b);
  run_seeds(&c);
  run_seeds(&e);
}

/* A deterministic version: within one lazy window, K[r] and V[r] change,
 * K[r] changes again, and V[r] again, at the same (r, j); the window is
 * checked at every step and across the fold. */
static void test_same_entry_window(void **state) {
  static const int64_t limits[] = {1, 2, 3, 4, 5, 8, 100000};
  size_t a;
  (void)state;
  for (a = 0; a < sizeof limits / sizeof limits[0]; ++a) {
    tu_rng r;
    tu_mirror m;
    att_config *cfg = tu_config(limits[a], 0.0, 1.0);
    att_state *h;
    int round;
    char label[96];
    tu_rng_seed(&r, 4242 + a);
    tu_mirror_alloc(&m, 7, 3, 1.0);
    tu_mirror_randomize(&m, &r, 1.0, 1.0);
    h = tu_init(&m, cfg);
    att_config_free(cfg);
    for (round = 0; round < 30; ++round) {
      const int64_t row = round % 7, col = round % 3;
      snprintf(label, sizeof label, "same entry k=%lld round=%d", (long long)limits[a], round);
      tu_update_k(&m, h, row, col, 0.7);
      tu_check_all(h, &m, TOL, label);
      tu_update_v(&m, h, row, col, 1.3);
      tu_check_all(h, &m, TOL, label);
      tu_update_k(&m, h, row, col, -1.1);
      tu_check_all(h, &m, TOL, label);
      tu_update_v(&m, h, row, (col + 1) % 3, -0.4);
      tu_check_all(h, &m, TOL, label);
      tu_update_v(&m, h, row, col, -1.3);
      tu_update_k(&m, h, row, (col + 2) % 3, 0.4);
      tu_check_all(h, &m, TOL, label);
    }
    att_free(h);
    tu_mirror_free(&m);
  }
}

/* Only value updates, then only key updates (long runs of one kind). */
static void test_phases(void **state) {
  static const int64_t limits[] = {0, 1, 6, 100000};
  size_t a;
  (void)state;
  for (a = 0; a < sizeof limits / sizeof limits[0]; ++a) {
    tu_rng r;
    tu_mirror m;
    att_config *cfg = tu_config(limits[a], 0.0, 1.0);
    att_state *h;
    int phase, t;
    char label[96];
    tu_rng_seed(&r, 999 + a);
    tu_mirror_alloc(&m, 21, 5, 1.0);
    tu_mirror_randomize(&m, &r, 1.0, 1.0);
    h = tu_init(&m, cfg);
    att_config_free(cfg);
    for (phase = 0; phase < 6; ++phase) {
      for (t = 0; t < 150; ++t) {
        const int64_t i = tu_below(&r, 21), j = tu_below(&r, 5);
        if (phase % 2 == 0)
          tu_update_v(&m, h, i, j, reflect(m.V[i * 5 + j], tu_normal(&r), V_LIMIT));
        else
          tu_update_k(&m, h, i, j, reflect(m.K[i * 5 + j], 0.4 * tu_normal(&r), K_LIMIT));
        if (t % 37 == 0) {
          snprintf(label, sizeof label, "phases k=%lld phase=%d t=%d", (long long)limits[a], phase,
                   t);
          tu_check_all(h, &m, TOL, label);
        }
      }
      snprintf(label, sizeof label, "phases k=%lld end of phase %d", (long long)limits[a], phase);
      tu_check_all(h, &m, TOL, label);
    }
    att_free(h);
    tu_mirror_free(&m);
  }
}

/* Two handles from the same data evolve independently. */
static void test_independent_handles(void **state) {
  tu_rng r;
  tu_mirror m1, m2;
  att_state *h1, *h2;
  int t;
  (void)state;
  tu_rng_seed(&r, 31337);
  tu_mirror_alloc(&m1, 15, 4, 1.0);
  tu_mirror_alloc(&m2, 15, 4, 1.0);
  tu_mirror_randomize(&m1, &r, 1.0, 1.0);
  memcpy(m2.Q, m1.Q, 60 * sizeof(double));
  memcpy(m2.K, m1.K, 60 * sizeof(double));
  memcpy(m2.V, m1.V, 60 * sizeof(double));
  h1 = tu_init(&m1, NULL);
  h2 = tu_init(&m2, NULL);
  for (t = 0; t < 500; ++t) {
    const int64_t i = tu_below(&r, 15), j = tu_below(&r, 4);
    if (t % 2)
      tu_update_k(&m1, h1, i, j, reflect(m1.K[i * 4 + j], 0.5 * tu_normal(&r), K_LIMIT));
    else
      tu_update_v(&m2, h2, i, j, reflect(m2.V[i * 4 + j], tu_normal(&r), V_LIMIT));
  }
  tu_check_all(h1, &m1, TOL, "independent handle 1");
  tu_check_all(h2, &m2, TOL, "independent handle 2");
  att_free(h1);
  att_free(h2);
  tu_mirror_free(&m1);
  tu_mirror_free(&m2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_n1),
      cmocka_unit_test(test_d1),
      cmocka_unit_test(test_k1),
      cmocka_unit_test(test_tiny_every_op),
      cmocka_unit_test(test_default_limit),
      cmocka_unit_test(test_k_never_folds),
      cmocka_unit_test(test_lazy_exponent),
      cmocka_unit_test(test_same_row_between_rebuilds),
      cmocka_unit_test(test_same_entry_window),
      cmocka_unit_test(test_phases),
      cmocka_unit_test(test_independent_handles),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
