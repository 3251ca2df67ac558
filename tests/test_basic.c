/*
 * Basic contract of dynattn: versions, status strings, configuration objects
 * and the exactness of B right after att_init().
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

/* Accuracy promised right after att_init (header, att_query): 1e-12 of the
 * column scale, plus the logit term of the tolerance model. */
#define INIT_TOL 1e-12

/* Must run first: no call on this thread has failed yet. */
static void test_last_error_initially_empty(void **state) {
  const char *msg = att_last_error();
  (void)state;
  assert_non_null(msg);
  assert_string_equal(msg, "");
}

static void test_version(void **state) {
  const char *vs = att_version_string();
  int major = -1, minor = -1, patch = -1, consumed = 0;
  (void)state;
  assert_int_equal(ATT_VERSION_NUMBER,
                   ATT_VERSION_MAJOR * 10000 + ATT_VERSION_MINOR * 100 + ATT_VERSION_PATCH);
  /* The loaded library may be newer than this header, never older, and
   * shares its major version (same soname). */
  assert_true(att_version_number() >= ATT_VERSION_NUMBER);
  assert_int_equal(att_version_number() / 10000, ATT_VERSION_MAJOR);
  /* The string is "MAJOR.MINOR.PATCH" and says the same as the number. */
  assert_non_null(vs);
  assert_int_equal(sscanf(vs, "%d.%d.%d%n", &major, &minor, &patch, &consumed), 3);
  assert_int_equal((size_t)consumed, strlen(vs));
  assert_true(minor >= 0 && minor < 100 && patch >= 0 && patch < 100);
  assert_int_equal((int64_t)major * 10000 + minor * 100 + patch, att_version_number());
  /* Static storage: the same pointer every time. */
  assert_ptr_equal(vs, att_version_string());
}

static void test_status_strings(void **state) {
  static const att_status codes[] = {
      ATT_OK,      ATT_E_NULL,   ATT_E_SIZE,     ATT_E_INDEX, ATT_E_NONFINITE,
      ATT_E_NOMEM, ATT_E_CONFIG, ATT_E_INTERNAL, ATT_E_RANGE, ATT_E_APPROXIMATION};
  const size_t ncodes = sizeof codes / sizeof codes[0];
  const char *strs[sizeof codes / sizeof codes[0]];
  size_t a, b;
  (void)state;
  /* The numeric values are ABI. */
  assert_int_equal(ATT_OK, 0);
  assert_int_equal(ATT_E_NULL, 1);
  assert_int_equal(ATT_E_SIZE, 2);
  assert_int_equal(ATT_E_INDEX, 3);
  assert_int_equal(ATT_E_NONFINITE, 4);
  assert_int_equal(ATT_E_NOMEM, 5);
  assert_int_equal(ATT_E_CONFIG, 6);
  assert_int_equal(ATT_E_INTERNAL, 7);
  assert_int_equal(ATT_E_RANGE, 8);
  assert_int_equal(ATT_E_APPROXIMATION, 9);
  for (a = 0; a < ncodes; ++a) {
    strs[a] = att_status_string(codes[a]);
    assert_non_null(strs[a]);
    assert_true(strlen(strs[a]) > 0);
    assert_string_not_equal(strs[a], "unknown status");
    assert_ptr_equal(strs[a], att_status_string(codes[a]));
  }
  for (a = 0; a < ncodes; ++a)
    for (b = a + 1; b < ncodes; ++b) assert_string_not_equal(strs[a], strs[b]);
  assert_string_equal(att_status_string((att_status)10), "unknown status");
  assert_string_equal(att_status_string((att_status)-1), "unknown status");
  assert_string_equal(att_status_string((att_status)1000), "unknown status");
  assert_string_equal(att_status_string((att_status)INT32_MAX), "unknown status");
}

/* A problem whose B clearly depends on the logit scale. */
static void make_problem(tu_mirror *m, int64_t n, int64_t d, double scale, uint64_t seed) {
  tu_rng r;
  tu_rng_seed(&r, seed);
  tu_mirror_alloc(m, n, d, scale);
  tu_mirror_randomize(m, &r, 1.5, 1.0);
}

/* Init with cfg and check against the reference with scale m->scale. */
static void init_and_check(tu_mirror *m, const att_config *cfg, const char *label) {
  att_state *h = tu_init(m, cfg);
  tu_check_all(h, m, INIT_TOL, label);
  att_free(h);
}

/* The biggest |B(scale a) - B(scale b)|: makes sure a scale test can tell the
 * two apart. */
static double scale_sensitivity(const tu_mirror *m, double a, double b) {
  const int64_t cnt = m->n * m->d;
  double *ba = tu_alloc_doubles(cnt), *bb = tu_alloc_doubles(cnt);
  double diff = 0.0;
  int64_t t;
  ref_attention(m->n, m->d, m->Q, m->K, m->V, a, ba);
  ref_attention(m->n, m->d, m->Q, m->K, m->V, b, bb);
  for (t = 0; t < cnt; ++t)
    if (fabs(ba[t] - bb[t]) > diff) diff = fabs(ba[t] - bb[t]);
  free(ba);
  free(bb);
  return diff;
}

static void test_config_null(void **state) {
  (void)state;
  assert_int_equal(att_config_create(NULL), ATT_E_NULL);
  assert_string_not_equal(att_last_error(), "");
  assert_int_equal(att_config_set_lazy_limit(NULL, 4), ATT_E_NULL);
  assert_int_equal(att_config_set_lazy_exponent(NULL, 0.5), ATT_E_NULL);
  assert_int_equal(att_config_set_logit_scale(NULL, 2.0), ATT_E_NULL);
  att_config_free(NULL); /* no-op */
}

static void test_config_defaults(void **state) {
  tu_mirror m;
  att_config *cfg = NULL;
  (void)state;
  assert_int_equal(att_config_create(&cfg), ATT_OK);
  assert_non_null(cfg);
  make_problem(&m, 9, 4, 1.0, 11);
  /* Default scale is 1.0: init with the default config and with NULL. */
  assert_true(scale_sensitivity(&m, 1.0, 0.5) > 1e-3);
  init_and_check(&m, cfg, "default config");
  init_and_check(&m, NULL, "NULL config");
  att_config_free(cfg);
  tu_mirror_free(&m);
}

static void test_config_valid_setters(void **state) {
  static const int64_t limits[] = {0, 1, 2, 7, 64, 1000, INT64_C(1) << 20};
  static const double exponents[] = {1e-9, 0.25, 0.5, 0.999, 1.0};
  static const double scales[] = {0.5, 1.0 / 3.0, 2.0, 1e-6};
  tu_mirror m;
  att_config *cfg = NULL;
  size_t a;
  (void)state;
  make_problem(&m, 13, 3, 1.0, 12);
  assert_int_equal(att_config_create(&cfg), ATT_OK);
  for (a = 0; a < sizeof limits / sizeof limits[0]; ++a) {
    char label[64];
    assert_int_equal(att_config_set_lazy_limit(cfg, limits[a]), ATT_OK);
    snprintf(label, sizeof label, "lazy limit %lld", (long long)limits[a]);
    init_and_check(&m, cfg, label);
  }
  for (a = 0; a < sizeof exponents / sizeof exponents[0]; ++a) {
    char label[64];
    assert_int_equal(att_config_set_lazy_exponent(cfg, exponents[a]), ATT_OK);
    snprintf(label, sizeof label, "lazy exponent %g", exponents[a]);
    init_and_check(&m, cfg, label);
  }
  for (a = 0; a < sizeof scales / sizeof scales[0]; ++a) {
    char label[64];
    assert_int_equal(att_config_set_logit_scale(cfg, scales[a]), ATT_OK);
    m.scale = scales[a];
    snprintf(label, sizeof label, "logit scale %g", scales[a]);
    init_and_check(&m, cfg, label);
  }
  /* The configuration is not retained by handles: free it right after init. */
  {
    att_state *h;
    m.scale = 0.75;
    assert_int_equal(att_config_set_logit_scale(cfg, 0.75), ATT_OK);
    h = tu_init(&m, cfg);
    att_config_free(cfg);
    cfg = NULL;
    tu_check_all(h, &m, INIT_TOL, "config freed after init");
    tu_update_k(&m, h, 2, 1, 0.25);
    tu_update_v(&m, h, 5, 0, -0.5);
    tu_check_all(h, &m, 1e-10, "config freed after init, after updates");
    att_free(h);
  }
  tu_mirror_free(&m);
}

static void test_config_invalid_setters(void **state) {
  static const int64_t bad_limits[] = {
      -1, -64, (INT64_C(1) << 20) + 1, INT64_C(1) << 40, INT64_MAX, INT64_MIN};
  double bad_exponents[8];
  double bad_scales[8];
  size_t nbe = 0, nbs = 0, a;
  tu_mirror m;
  att_config *cfg = NULL;
  const double good_scale = 0.5;
  (void)state;
  bad_exponents[nbe++] = 0.0;
  bad_exponents[nbe++] = -0.0;
  bad_exponents[nbe++] = -0.5;
  bad_exponents[nbe++] = nextafter(1.0, 2.0);
  bad_exponents[nbe++] = 2.0;
  bad_exponents[nbe++] = NAN;
  bad_exponents[nbe++] = INFINITY;
  bad_exponents[nbe++] = -INFINITY;
  bad_scales[nbs++] = 0.0;
  bad_scales[nbs++] = -0.0;
  bad_scales[nbs++] = -1.0;
  bad_scales[nbs++] = -1e-300;
  bad_scales[nbs++] = NAN;
  bad_scales[nbs++] = INFINITY;
  bad_scales[nbs++] = -INFINITY;

  make_problem(&m, 11, 4, good_scale, 13);
  /* The test can only see that the scale survived if B depends on it. */
  assert_true(scale_sensitivity(&m, good_scale, 1.0) > 1e-3);
  assert_int_equal(att_config_create(&cfg), ATT_OK);
  assert_int_equal(att_config_set_logit_scale(cfg, good_scale), ATT_OK);
  assert_int_equal(att_config_set_lazy_limit(cfg, 3), ATT_OK);

  for (a = 0; a < sizeof bad_limits / sizeof bad_limits[0]; ++a) {
    assert_int_equal(att_config_set_lazy_limit(cfg, bad_limits[a]), ATT_E_CONFIG);
    assert_string_not_equal(att_last_error(), "");
  }
  for (a = 0; a < nbe; ++a) {
    assert_int_equal(att_config_set_lazy_exponent(cfg, bad_exponents[a]), ATT_E_CONFIG);
    assert_string_not_equal(att_last_error(), "");
  }
  for (a = 0; a < nbs; ++a) {
    assert_int_equal(att_config_set_logit_scale(cfg, bad_scales[a]), ATT_E_CONFIG);
    assert_string_not_equal(att_last_error(), "");
  }
  /* cfg unchanged: still scale 0.5 (checked against the reference with 0.5,
   * which differs from 1.0 by more than 1e-3), and still usable. */
  {
    att_state *h = tu_init(&m, cfg);
    int64_t t;
    tu_check_all(h, &m, INIT_TOL, "config after rejected setters");
    /* Updates work with the surviving lazy limit. */
    for (t = 0; t < 10; ++t) {
      tu_update_k(&m, h, t % m.n, t % m.d, 0.125 * (double)(t + 1));
      tu_update_v(&m, h, (3 * t) % m.n, (t + 1) % m.d, -0.25);
    }
    tu_check_all(h, &m, 1e-10, "config after rejected setters, after updates");
    att_free(h);
  }
  att_config_free(cfg);
  tu_mirror_free(&m);
}

static void check_init_shape(int64_t n, int64_t d, double scale, uint64_t seed) {
  char label[96];
  tu_mirror m;
  att_config *cfg = tu_config(-1, 0.0, scale);
  tu_rng r;
  att_state *h;
  tu_rng_seed(&r, seed);
  tu_mirror_alloc(&m, n, d, scale);
  /* Logits of size up to about d * 4: far from uniform rows. */
  tu_mirror_randomize(&m, &r, 2.0, 3.0);
  h = tu_init(&m, cfg);
  snprintf(label, sizeof label, "init n=%lld d=%lld scale=%g seed=%llu", (long long)n, (long long)d,
           scale, (unsigned long long)seed);
  tu_check_all(h, &m, INIT_TOL, label);
  att_free(h);
  att_config_free(cfg);
  tu_mirror_free(&m);
}

static void test_init_exact(void **state) {
  static const int64_t shapes[][2] = {{1, 1}, {7, 3}, {64, 16}, {200, 5}, {2, 1}, {1, 9}};
  size_t a;
  uint64_t seed;
  (void)state;
  for (a = 0; a < sizeof shapes / sizeof shapes[0]; ++a)
    for (seed = 1; seed <= 3; ++seed) {
      const int64_t n = shapes[a][0], d = shapes[a][1];
      check_init_shape(n, d, 1.0, seed * 100 + a);
      check_init_shape(n, d, 1.0 / sqrt((double)d), seed * 100 + a + 50);
    }
  tu_report("test_init_exact");
}

/* n = 1: B is the single row of V, whatever Q and K are. */
static void test_init_single_row(void **state) {
  const double Q[3] = {3.0, -2.0, 0.5}, K[3] = {-1.0, 4.0, 2.0}, V[3] = {1.5, -7.25, 1e-3};
  att_state *h = NULL;
  int64_t j;
  (void)state;
  assert_int_equal(att_init(&h, 1, 3, Q, K, V, NULL), ATT_OK);
  for (j = 0; j < 3; ++j) {
    double b = 0.0;
    assert_int_equal(att_query(h, 0, j, &b), ATT_OK);
    assert_true(fabs(b - V[j]) <= 1e-12 * fabs(V[j]));
  }
  att_free(h);
}

/* Q = 0: every row is the plain column mean of V. */
static void test_init_zero_queries(void **state) {
  tu_mirror m;
  tu_rng r;
  att_state *h;
  int64_t i, j, c;
  (void)state;
  tu_rng_seed(&r, 77);
  tu_mirror_alloc(&m, 10, 3, 1.0);
  tu_fill_normal(&r, m.K, 30, 5.0);
  tu_fill_normal(&r, m.V, 30, 1.0);
  h = tu_init(&m, NULL);
  for (j = 0; j < 3; ++j) {
    double mean = 0.0;
    for (c = 0; c < 10; ++c) mean += m.V[c * 3 + j];
    mean /= 10.0;
    for (i = 0; i < 10; ++i) {
      double b;
      assert_int_equal(att_query(h, i, j, &b), ATT_OK);
      assert_true(fabs(b - mean) <= 1e-12 * ref_col_abs_max(10, 3, m.V, j));
    }
  }
  att_free(h);
  tu_mirror_free(&m);
}

/* The handle copies Q, K, V: changing the caller's arrays afterwards has no
 * effect. */
static void test_init_copies_inputs(void **state) {
  tu_mirror m, saved;
  tu_rng r;
  att_state *h;
  (void)state;
  tu_rng_seed(&r, 78);
  tu_mirror_alloc(&m, 12, 4, 1.0);
  tu_mirror_alloc(&saved, 12, 4, 1.0);
  tu_mirror_randomize(&m, &r, 1.0, 1.0);
  memcpy(saved.Q, m.Q, 48 * sizeof(double));
  memcpy(saved.K, m.K, 48 * sizeof(double));
  memcpy(saved.V, m.V, 48 * sizeof(double));
  h = tu_init(&m, NULL);
  tu_fill_normal(&r, m.Q, 48, 3.0);
  tu_fill_normal(&r, m.K, 48, 3.0);
  tu_fill_normal(&r, m.V, 48, 3.0);
  tu_check_all(h, &saved, INIT_TOL, "inputs overwritten after init");
  att_free(h);
  tu_mirror_free(&m);
  tu_mirror_free(&saved);
}

static void test_free_null(void **state) {
  (void)state;
  att_free(NULL);
  att_config_free(NULL);
  assert_true(1);
}

/* OpenBLAS's thread count, which the library follows when it builds its
 * per-thread scratch (declared here: the test needs nothing else of it). */
void openblas_set_num_threads(int threads);
int openblas_get_num_threads(void);

/* ATT_STAT_BYTES counts what the handle holds: its per-thread scratch as
 * built at init, however many threads OpenBLAS is set to use afterwards. */
static void test_bytes_held(void **state) {
  static const att_storage storages[] = {ATT_STORAGE_DENSE, ATT_STORAGE_STREAMED};
  const int threads = openblas_get_num_threads();
  double Q[512], K[512], V[512];
  size_t a;
  (void)state;
  for (a = 0; a < 512; ++a) Q[a] = K[a] = V[a] = 0.001 * (double)(a % 17);
  for (a = 0; a < sizeof storages / sizeof storages[0]; ++a) {
    att_config *cfg = NULL;
    att_state *h = NULL;
    int64_t one = -1, two = -1;
    assert_int_equal(att_config_create(&cfg), ATT_OK);
    assert_int_equal(att_config_set_storage(cfg, storages[a]), ATT_OK);
    openblas_set_num_threads(1);
    assert_int_equal(att_init(&h, 64, 8, Q, K, V, cfg), ATT_OK);
    assert_int_equal(att_stat(h, ATT_STAT_BYTES, &one), ATT_OK);
    openblas_set_num_threads(2);
    assert_int_equal(att_stat(h, ATT_STAT_BYTES, &two), ATT_OK);
    openblas_set_num_threads(threads);
    assert_true(one > 0);
    assert_int_equal(one, two);
    att_free(h);
    att_config_free(cfg);
  }
}

/* Columns of Q, K and V in the thread-count tests below. */
enum { kStreamWidth = 64 };

/* B after `updates` single-entry updates of a fixed pseudo-random stream on
 * an n x kStreamWidth problem, computed under `threads` OpenBLAS threads with lazy
 * limit `limit`: every `value_every`-th update is of V, the others of K
 * (value_every = 1: all of V). Asserts that at least `min_folds` folds ran. */
static void stream_output(att_storage storage, int n, int limit, int value_every, int updates,
                          int threads, int64_t min_folds, double *out) {
  enum { D = kStreamWidth };
  double *Q = malloc(sizeof(double) * (size_t)n * D), *K = malloc(sizeof(double) * (size_t)n * D);
  double *V = malloc(sizeof(double) * (size_t)n * D);
  att_config *cfg = NULL;
  att_state *h = NULL;
  int64_t folds = 0;
  size_t a;
  int u;
  assert_non_null(Q);
  assert_non_null(K);
  assert_non_null(V);
  for (a = 0; a < (size_t)n * D; ++a) {
    Q[a] = sin(0.37 * (double)a);
    K[a] = cos(0.23 * (double)a);
    V[a] = sin(0.11 * (double)a + 1.0);
  }
  openblas_set_num_threads(threads);
  assert_int_equal(att_config_create(&cfg), ATT_OK);
  assert_int_equal(att_config_set_storage(cfg, storage), ATT_OK);
  assert_int_equal(att_config_set_lazy_limit(cfg, limit), ATT_OK);
  assert_int_equal(att_init(&h, n, D, Q, K, V, cfg), ATT_OK);
  for (u = 0; u < updates; ++u) {
    const int64_t row = (int64_t)((u * 7919) % n), col = (int64_t)((u * 104729) % D);
    const double step = 0.25 * sin(0.5 * (double)u);
    if (u % value_every == value_every - 1) {
      assert_int_equal(att_update_v(h, row, col, step), ATT_OK);
    } else {
      assert_int_equal(att_update_k(h, row, col, step), ATT_OK);
    }
  }
  assert_int_equal(att_output(h, ATT_ROW_MAJOR, out, D), ATT_OK);
  assert_int_equal(att_stat(h, ATT_STAT_FOLDS, &folds), ATT_OK);
  assert_true(folds >= min_folds);
  att_free(h);
  att_config_free(cfg);
  free(Q);
  free(K);
  free(V);
}

/* stream_output under one and under two OpenBLAS threads: the same bits. */
static void same_bits_under_one_and_two_threads(att_storage storage, int n, int limit,
                                                int value_every, int updates, int64_t min_folds) {
  const int threads = openblas_get_num_threads();
  const size_t bytes = sizeof(double) * (size_t)n * kStreamWidth;
  double *one = malloc(bytes), *two = malloc(bytes);
  assert_non_null(one);
  assert_non_null(two);
  stream_output(storage, n, limit, value_every, updates, 1, min_folds, one);
  stream_output(storage, n, limit, value_every, updates, 2, min_folds, two);
  openblas_set_num_threads(threads);
  assert_memory_equal(one, two, bytes);
  free(one);
  free(two);
}

/* In dense storage init and every fold split their matrix products' rows
 * between the calling thread and the library's helpers, and every entry is
 * the same dot product however the rows are split: a stream of single-entry
 * key and value updates, with folds of 64 terms (600 * 64 * 64 multiply-adds,
 * enough for the helpers), gives the same bits under one and two OpenBLAS
 * threads. (Key updates in streamed storage, and changes of Q entries or of
 * whole key rows in either storage, take their logits from OpenBLAS's
 * matrix-vector product, whose bits OpenBLAS does not promise across thread
 * counts.) */
static void test_bits_whatever_the_threads(void **state) {
  (void)state;
  same_bits_under_one_and_two_threads(ATT_STORAGE_DENSE, 600, 64, 4, 1000, 10);
}

/* In streamed storage a fold forms its value rows' kernel columns with the
 * library's own product, split between threads by rows like the fold's:
 * streams of value updates give the same bits under one and two OpenBLAS
 * threads, with folds of 20 rows (where OpenBLAS's dgemm, which formed the
 * columns before, rounded differently under two threads) and of 64 rows
 * on 605 query rows (605 * 64 * 64 multiply-adds, enough for the helpers;
 * the 5 rows past the last whole register tile take the dot product of
 * the queries). */
static void test_streamed_value_bits_whatever_the_threads(void **state) {
  (void)state;
  same_bits_under_one_and_two_threads(ATT_STORAGE_STREAMED, 600, 20, 1, 1000, 40);
  same_bits_under_one_and_two_threads(ATT_STORAGE_STREAMED, 605, 64, 1, 1000, 15);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_last_error_initially_empty),
      cmocka_unit_test(test_version),
      cmocka_unit_test(test_status_strings),
      cmocka_unit_test(test_config_null),
      cmocka_unit_test(test_config_defaults),
      cmocka_unit_test(test_config_valid_setters),
      cmocka_unit_test(test_config_invalid_setters),
      cmocka_unit_test(test_init_exact),
      cmocka_unit_test(test_init_single_row),
      cmocka_unit_test(test_init_zero_queries),
      cmocka_unit_test(test_init_copies_inputs),
      cmocka_unit_test(test_free_null),
      cmocka_unit_test(test_bytes_held),
      cmocka_unit_test(test_bits_whatever_the_threads),
      cmocka_unit_test(test_streamed_value_bits_whatever_the_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
