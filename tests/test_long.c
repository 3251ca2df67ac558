/*
 * A long stream: 10^6 random update_k / update_v on n = 128, d = 16 with the
 * default configuration, then every entry against the long-double reference.
 * Catches slow drift of the running sums (D, C) that short tests cannot see.
 *
 * SPDX-License-Identifier: MIT
 *
 * DYNATTN_TEST_LONG_UPDATES is set by tests/meson.build (10^6; about 1 s in
 * a plain build, 5 s under address,undefined sanitizers). It is the one knob
 * to shorten the stream for slow instrumented builds (sanitize != 'none');
 * the accuracy assertions do not depend on it.
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

#include "dynattn.h"
#include "reference.h"
#include "test_util.h"

#ifndef DYNATTN_TEST_LONG_UPDATES
#define DYNATTN_TEST_LONG_UPDATES 1000000
#endif

#define N 128
#define D 16
#define TOL 1e-10
/* Deltas ~ N(0, 0.1^2); entries of K reflected into [-3, 3], Q uniform in
 * [-1, 1): every logit stays below 16 * 3 = 48 and is typically O(1-10). */
#define DELTA_SD 0.1
#define K_LIMIT 3.0
#define V_LIMIT 10.0

static double reflect(double cur, double delta, double limit) {
  return fabs(cur + delta) > limit ? -delta : delta;
}

static void run_long(uint64_t seed, int64_t updates, int64_t lazy_limit) {
  tu_rng r;
  tu_mirror m;
  att_state *h;
  att_config *cfg = NULL;
  char label[128];
  int64_t t, next_full;
  int64_t nk = 0, nv = 0;

  tu_rng_seed(&r, seed);
  tu_mirror_alloc(&m, N, D, 1.0);
  tu_mirror_randomize(&m, &r, 1.0, 1.0);
  if (lazy_limit >= 0) cfg = tu_config(lazy_limit, 0.0, 1.0);
  h = tu_init(&m, cfg); /* NULL: the default configuration */
  att_config_free(cfg);

  next_full = 1000;
  for (t = 1; t <= updates; ++t) {
    const uint64_t bits = tu_rng_next(&r);
    const int64_t i = (int64_t)(bits & (N - 1)), j = (int64_t)((bits >> 7) & (D - 1));
    const double delta = DELTA_SD * tu_normal(&r);
    if ((bits >> 11) & 1) {
      tu_update_k(&m, h, i, j, reflect(m.K[i * D + j], delta, K_LIMIT));
      ++nk;
    } else {
      tu_update_v(&m, h, i, j, reflect(m.V[i * D + j], delta, V_LIMIT));
      ++nv;
    }
    if (t % 9973 == 0) {
      const int64_t qi = tu_below(&r, N), qj = tu_below(&r, D);
      snprintf(label, sizeof label, "long seed=%llu k=%lld after %lld updates, query(%lld,%lld)",
               (unsigned long long)seed, (long long)lazy_limit, (long long)t, (long long)qi,
               (long long)qj);
      tu_check_entry(h, &m, qi, qj, TOL, label);
    }
    if (t == next_full) {
      snprintf(label, sizeof label, "long seed=%llu k=%lld after %lld updates",
               (unsigned long long)seed, (long long)lazy_limit, (long long)t);
      tu_check_all(h, &m, TOL, label);
      next_full *= 10;
    }
  }
  snprintf(label, sizeof label, "long seed=%llu k=%lld final, after %lld updates",
           (unsigned long long)seed, (long long)lazy_limit, (long long)updates);
  tu_check_all(h, &m, TOL, label);
  /* Both kinds were exercised in bulk. */
  assert_true(nk > updates / 3 && nv > updates / 3);
  att_free(h);
  tu_mirror_free(&m);
}

static void test_long_default(void **state) {
  (void)state;
  tu_reset_worst_ratio();
  run_long(20240601, DYNATTN_TEST_LONG_UPDATES, -1);
  tu_report("test_long_default");
}

/* A shorter stream with k = 1 (a fold per update) and one with a large k
 * (long pending windows): the drift must not depend on the folding pattern. */
static void test_long_other_limits(void **state) {
  (void)state;
  tu_reset_worst_ratio();
  run_long(77, DYNATTN_TEST_LONG_UPDATES / 20, 1);
  run_long(78, DYNATTN_TEST_LONG_UPDATES / 10, 1000);
  tu_report("test_long_other_limits");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_long_default),
      cmocka_unit_test(test_long_other_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
