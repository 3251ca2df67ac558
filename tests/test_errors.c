/*
 * Every error path of every function: the status, the thread's detail
 * message, *out == NULL after a failed att_init, *out untouched after a
 * failed att_query, and the strong guarantee: a failed call leaves the
 * handle exactly as it was (all queries compared bitwise before and after,
 * and the handle keeps tracking the reference afterwards), also inside a
 * window of pending, not yet folded, updates.
 *
 * SPDX-License-Identifier: MIT
 *
 * Runs with ASAN_OPTIONS=allocator_may_return_null=1 (tests/meson.build), so
 * that the out-of-memory test sees a failed allocation in sanitized builds
 * instead of an AddressSanitizer abort.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynattn.h"
#include "reference.h"
#include "test_util.h"

#define TOL 1e-10
#define FN 6
#define FD 3
/* An index value that no test uses otherwise: a message containing it is
 * stale (see mark_last_error). */
#define MARK_INDEX INT64_C(-777777)

/* ---- Fixture ------------------------------------------------------------------ */

typedef struct fixture {
  tu_mirror m;
  att_state *h;
  double before[FN * FD];
  double after[FN * FD];
  int pending; /* updates applied but not folded */
  char what[64];
} fixture;

typedef void (*customize_fn)(tu_mirror *m);

/* A 6 x 3 problem. pending = 0: lazy limit 4, no update yet. pending = 1:
 * lazy limit 8, then 3 key updates and 2 value updates (all in column 2, which
 * the customized fixtures leave alone): both pending lists are non-empty and
 * nothing has been folded when the failing call comes. */
static void fixture_setup(fixture *fx, int pending, customize_fn customize, uint64_t seed) {
  tu_rng r;
  att_config *cfg = tu_config(pending ? 8 : 4, 0.0, 1.0);
  tu_rng_seed(&r, seed);
  tu_mirror_alloc(&fx->m, FN, FD, 1.0);
  tu_mirror_randomize(&fx->m, &r, 1.0, 1.0);
  if (customize != NULL) customize(&fx->m);
  fx->h = tu_init(&fx->m, cfg);
  att_config_free(cfg);
  fx->pending = pending;
  snprintf(fx->what, sizeof fx->what, "%s", pending ? "pending window" : "fresh handle");
  if (pending) {
    tu_update_k(&fx->m, fx->h, 1, 2, 0.5);
    tu_update_v(&fx->m, fx->h, 1, 2, -1.5);
    tu_update_k(&fx->m, fx->h, 4, 2, -0.25);
    tu_update_k(&fx->m, fx->h, 1, 2, 0.125);
    tu_update_v(&fx->m, fx->h, 3, 2, 2.0);
  }
  tu_check_all(fx->h, &fx->m, TOL, fx->what);
}

/* The handle still tracks the reference after all the failed calls: more
 * valid updates, enough to force folds, then a full check. */
static void fixture_finish(fixture *fx) {
  char label[160];
  int t;
  for (t = 0; t < 20; ++t) {
    tu_update_k(&fx->m, fx->h, t % FN, 2, 0.05 * (double)((t % 5) - 2));
    tu_update_v(&fx->m, fx->h, (t * 5) % FN, 2, 0.1 * (double)((t % 7) - 3));
  }
  snprintf(label, sizeof label, "%s: after the failed calls and more updates", fx->what);
  tu_check_all(fx->h, &fx->m, TOL, label);
  att_free(fx->h);
  fx->h = NULL;
  tu_mirror_free(&fx->m);
}

/* Make the thread's last error a known, different message, so that the
 * message read after the call under test provably comes from that call. */
static void mark_last_error(const att_state *h) {
  double x = 0.0;
  assert_int_equal(att_query(h, MARK_INDEX, 0, &x), ATT_E_INDEX);
  assert_non_null(strstr(att_last_error(), "-777777"));
}

static void snapshot(fixture *fx) {
  tu_query_all(fx->h, FN, FD, fx->before);
  mark_last_error(fx->h);
}

/* The call returned `got`; it must be `want` (or `want2` when >= 0). */
static void expect_failure2(fixture *fx, att_status got, att_status want, int want2,
                            const char *needle, const char *call) {
  const char *msg = att_last_error();
  if (got != want && (want2 < 0 || got != (att_status)want2))
    fail_msg("%s (%s): status %d (%s), expected %d (%s)", call, fx->what, (int)got,
             att_status_string(got), (int)want, att_status_string(want));
  assert_non_null(msg);
  if (msg[0] == '\0') fail_msg("%s (%s): att_last_error() is empty", call, fx->what);
  if (strstr(msg, "777777") != NULL)
    fail_msg("%s (%s): att_last_error() was not updated: \"%s\"", call, fx->what, msg);
  if (needle != NULL && strstr(msg, needle) == NULL)
    fail_msg("%s (%s): att_last_error() = \"%s\" does not mention \"%s\"", call, fx->what, msg,
             needle);
  tu_query_all(fx->h, FN, FD, fx->after);
  if (memcmp(fx->before, fx->after, sizeof fx->before) != 0)
    fail_msg("%s (%s): the failed call changed the handle's results", call, fx->what);
}

static void expect_failure(fixture *fx, att_status got, att_status want, const char *needle,
                           const char *call) {
  expect_failure2(fx, got, want, -1, needle, call);
}

/* ---- att_init ---------------------------------------------------------------------- */

/* Any non-NULL value: att_init must overwrite it with NULL on failure. */
static att_state *sentinel(void) {
  static double somewhere;
  return (att_state *)(void *)&somewhere;
}

static void expect_init_failure(att_status got, att_state *const *out_ptr, att_status want,
                                const char *needle, const char *call) {
  const att_state *out = *out_ptr; /* read after att_init has returned */
  const char *msg = att_last_error();
  if (got != want)
    fail_msg("%s: status %d (%s), expected %d (%s)", call, (int)got, att_status_string(got),
             (int)want, att_status_string(want));
  if (out != NULL) fail_msg("%s: *out is not NULL after a failed att_init", call);
  if (msg[0] == '\0') fail_msg("%s: att_last_error() is empty", call);
  if (needle != NULL && strstr(msg, needle) == NULL)
    fail_msg("%s: att_last_error() = \"%s\" does not mention \"%s\"", call, msg, needle);
}

static void test_init_null(void **state) {
  double Q[4] = {1, 2, 3, 4}, K[4] = {0.5, 0.25, -1, 2}, V[4] = {1, -1, 2, -2};
  att_state *h;
  (void)state;
  assert_int_equal(att_init(NULL, 2, 2, Q, K, V, NULL), ATT_E_NULL);
  assert_string_not_equal(att_last_error(), "");
  h = sentinel();
  expect_init_failure(att_init(&h, 2, 2, NULL, K, V, NULL), &h, ATT_E_NULL, NULL, "init Q=NULL");
  h = sentinel();
  expect_init_failure(att_init(&h, 2, 2, Q, NULL, V, NULL), &h, ATT_E_NULL, NULL, "init K=NULL");
  h = sentinel();
  expect_init_failure(att_init(&h, 2, 2, Q, K, NULL, NULL), &h, ATT_E_NULL, NULL, "init V=NULL");
  h = sentinel();
  expect_init_failure(att_init(&h, 2, 2, NULL, NULL, NULL, NULL), &h, ATT_E_NULL, NULL,
                      "init Q=K=V=NULL");
}

/*
 * Sizes. The arrays passed are 4 doubles long whatever n and d say: this
 * relies on att_init validating n and d (including the overflow of its own
 * storage size) before it reads a single entry, the only order in which a
 * library can reject such sizes at all. A library that read first would be
 * caught by AddressSanitizer in the sanitized build.
 */
static void test_init_size(void **state) {
  struct {
    int64_t n, d;
    const char *needle; /* the offending value, as the message should show it */
  } cases[] = {
      {0, 2, "0"},
      {-1, 2, "-1"},
      {INT64_MIN, 2, "-9223372036854775808"},
      {2, 0, "0"},
      {2, -1, "-1"},
      {2, INT64_MIN, "-9223372036854775808"},
      {0, 0, "0"},
      {(int64_t)INT32_MAX + 1, 1, "2147483648"},
      {1, (int64_t)INT32_MAX + 1, "2147483648"},
      {INT64_MAX / 2, 1, "4611686018427387903"},
      {INT64_MAX, INT64_MAX, NULL},
      {INT64_MAX / 2, INT64_MAX / 2, NULL},
      /* Within INT32_MAX, but n * n doubles (2^65 bytes) overflow size_t. */
      {INT32_MAX, 1, NULL},
      {INT32_MAX, INT32_MAX, NULL},
  };
  double dummy[4] = {0, 0, 0, 0};
  size_t a;
  (void)state;
  for (a = 0; a < sizeof cases / sizeof cases[0]; ++a) {
    char call[96];
    att_state *h = sentinel();
    snprintf(call, sizeof call, "init n=%lld d=%lld", (long long)cases[a].n, (long long)cases[a].d);
    expect_init_failure(att_init(&h, cases[a].n, cases[a].d, dummy, dummy, dummy, NULL), &h,
                        ATT_E_SIZE, cases[a].needle, call);
  }
}

/* att_init_general with dimensions that disagree in sign or size: every one is
 * refused before any of them enters arithmetic (the storage choice's size of
 * the dense store, the lazy limit's power of n, the causal offset n_kv - n_q),
 * which would overflow or convert NaN to an integer for these (the sanitized
 * build halts on either). With the default configuration and with a lazy
 * exponent, causal masking and automatic storage under a small budget. */
static void test_init_general_sizes(void **state) {
  static const struct {
    int64_t n_q, n_kv, d_k, d_v;
    const char *needle;
  } cases[] = {
      {1, INT64_MIN, -5, 1, "n_kv=-9223372036854775808"},
      {INT64_MIN, INT64_MAX, 1, 1, "n_q=-9223372036854775808"},
      {INT64_MAX, INT64_MIN, 2, 2, "n_q=9223372036854775807"},
      {1, 1, INT64_MIN, INT64_MIN, "d_k=-9223372036854775808"},
      {1, 1, 1, INT64_MIN, "d_v=-9223372036854775808"},
      {-7, 3, 2, 2, "n_q=-7"},
      {3, -7, INT64_MAX, 2, "n_kv=-7"},
  };
  double dummy[4] = {0, 0, 0, 0};
  att_config *cfgs[2] = {NULL, NULL};
  size_t a, c;
  (void)state;
  assert_int_equal(att_config_create(&cfgs[1]), ATT_OK);
  assert_int_equal(att_config_set_lazy_exponent(cfgs[1], 0.5), ATT_OK);
  assert_int_equal(att_config_set_causal(cfgs[1], 1), ATT_OK);
  assert_int_equal(att_config_set_memory_budget(cfgs[1], 1), ATT_OK);
  for (c = 0; c < 2; ++c)
    for (a = 0; a < sizeof cases / sizeof cases[0]; ++a) {
      char call[160];
      att_state *h = sentinel();
      snprintf(call, sizeof call, "init_general %lld %lld %lld %lld (config %zu)",
               (long long)cases[a].n_q, (long long)cases[a].n_kv, (long long)cases[a].d_k,
               (long long)cases[a].d_v, c);
      expect_init_failure(
          att_init_general(&h, cases[a].n_q, cases[a].n_kv, cases[a].d_k, cases[a].d_v,
                           ATT_ROW_MAJOR, dummy, 1, dummy, 1, dummy, 1, cfgs[c]),
          &h, ATT_E_SIZE, cases[a].needle, call);
    }
  att_config_free(cfgs[1]);
}

/* n = 2^20, d = 1: Q, K, V are 8 MB each, but the n x n logits and A need
 * 2 * 2^40 doubles (16 TB): the allocation must fail cleanly. */
static void test_init_nomem(void **state) {
  const int64_t n = INT64_C(1) << 20;
  double *Q = tu_alloc_doubles(n), *K = tu_alloc_doubles(n), *V = tu_alloc_doubles(n);
  att_state *h = sentinel();
  att_config *cfg = NULL;
  (void)state;
  /* Dense explicitly: the automatic choice would pick the streamed store,
   * which fits and would spend O(n^2) computing. */
  assert_int_equal(att_config_create(&cfg), ATT_OK);
  assert_int_equal(att_config_set_storage(cfg, ATT_STORAGE_DENSE), ATT_OK);
  expect_init_failure(att_init(&h, n, 1, Q, K, V, cfg), &h, ATT_E_NOMEM, NULL, "init n=2^20 d=1");
  att_config_free(cfg);
  free(Q);
  free(K);
  free(V);
  /* The library is still fine afterwards. */
  {
    tu_mirror m;
    tu_rng r;
    tu_rng_seed(&r, 5);
    tu_mirror_alloc(&m, 5, 2, 1.0);
    tu_mirror_randomize(&m, &r, 1.0, 1.0);
    h = tu_init(&m, NULL);
    tu_check_all(h, &m, TOL, "init after NOMEM");
    att_free(h);
    tu_mirror_free(&m);
  }
}

static void test_init_nonfinite(void **state) {
  const double bad[] = {NAN, INFINITY, -INFINITY};
  size_t b;
  int which, pos;
  (void)state;
  for (b = 0; b < 3; ++b)
    for (which = 0; which < 3; ++which)
      for (pos = 0; pos < FN * FD; pos += 7) {
        tu_mirror m;
        tu_rng r;
        att_state *h = sentinel();
        double *arr;
        char call[96];
        tu_rng_seed(&r, 17);
        tu_mirror_alloc(&m, FN, FD, 1.0);
        tu_mirror_randomize(&m, &r, 1.0, 1.0);
        arr = which == 0 ? m.Q : which == 1 ? m.K : m.V;
        arr[pos] = bad[b];
        snprintf(call, sizeof call, "init with %c[%d] = %g", "QKV"[which], pos, bad[b]);
        expect_init_failure(att_init(&h, FN, FD, m.Q, m.K, m.V, NULL), &h, ATT_E_NONFINITE, NULL,
                            call);
        tu_mirror_free(&m);
      }
}

static void test_init_range(void **state) {
  tu_mirror m;
  tu_rng r;
  att_state *h;
  (void)state;
  tu_rng_seed(&r, 18);
  tu_mirror_alloc(&m, FN, FD, 1.0);
  tu_mirror_randomize(&m, &r, 1.0, 1.0);
  /* V above ATT_MAX_VALUE (2^664 ~ 7.65e199). */
  m.V[4] = 1e201;
  h = sentinel();
  expect_init_failure(att_init(&h, FN, FD, m.Q, m.K, m.V, NULL), &h, ATT_E_RANGE, NULL,
                      "init V=1e201");
  m.V[4] = -DBL_MAX;
  h = sentinel();
  expect_init_failure(att_init(&h, FN, FD, m.Q, m.K, m.V, NULL), &h, ATT_E_RANGE, NULL,
                      "init V=-DBL_MAX");
  m.V[4] = 1.0;
  /* A logit above ATT_MAX_LOGIT: 1e150 * 1e60 = 1e210. */
  m.Q[2 * FD + 1] = 1e150;
  m.K[5 * FD + 1] = 1e60;
  h = sentinel();
  expect_init_failure(att_init(&h, FN, FD, m.Q, m.K, m.V, NULL), &h, ATT_E_RANGE, NULL,
                      "init logit 1e210");
  /* Negative logits count by magnitude. */
  m.K[5 * FD + 1] = -1e60;
  h = sentinel();
  expect_init_failure(att_init(&h, FN, FD, m.Q, m.K, m.V, NULL), &h, ATT_E_RANGE, NULL,
                      "init logit -1e210");
  /* Huge Q and K entries are fine while their products stay in range. */
  m.K[5 * FD + 1] = 1e-160;
  h = tu_init(&m, NULL);
  tu_check_all(h, &m, TOL, "init with Q entry 1e150 and small K");
  att_free(h);
  tu_mirror_free(&m);
}

/* ---- NULL handles and outputs ------------------------------------------------------- */

static void test_null_handle_and_out(void **state) {
  int pending;
  (void)state;
  for (pending = 0; pending < 2; ++pending) {
    fixture fx;
    double out = 12345.0;
    fixture_setup(&fx, pending, NULL, 100 + (uint64_t)pending);

    mark_last_error(fx.h);
    assert_int_equal(att_update_k(NULL, 0, 0, 1.0), ATT_E_NULL);
    assert_string_not_equal(att_last_error(), "");
    assert_null(strstr(att_last_error(), "777777"));
    mark_last_error(fx.h);
    assert_int_equal(att_update_v(NULL, 0, 0, 1.0), ATT_E_NULL);
    assert_string_not_equal(att_last_error(), "");
    assert_null(strstr(att_last_error(), "777777"));
    mark_last_error(fx.h);
    assert_int_equal(att_query(NULL, 0, 0, &out), ATT_E_NULL);
    assert_true(out == 12345.0); /* untouched */
    assert_string_not_equal(att_last_error(), "");
    assert_null(strstr(att_last_error(), "777777"));

    snapshot(&fx);
    expect_failure(&fx, att_query(fx.h, 0, 0, NULL), ATT_E_NULL, NULL, "query out=NULL");
    fixture_finish(&fx);
  }
}

/* ---- Indices -------------------------------------------------------------------------- */

static void test_index(void **state) {
  const int64_t bad_i[] = {-1, FN, FN + 1, 1000000, INT64_MAX, INT64_MIN, (int64_t)INT32_MAX + 1};
  const int64_t bad_j[] = {-1, FD, FD + 1, 4096, INT64_MAX, INT64_MIN, (int64_t)INT32_MAX + 1};
  int pending;
  size_t a;
  (void)state;
  for (pending = 0; pending < 2; ++pending) {
    fixture fx;
    fixture_setup(&fx, pending, NULL, 200 + (uint64_t)pending);
    for (a = 0; a < sizeof bad_i / sizeof bad_i[0]; ++a) {
      char needle[48], call[96];
      double out = -4.5;
      snprintf(needle, sizeof needle, "i=%lld", (long long)bad_i[a]);

      snapshot(&fx);
      snprintf(call, sizeof call, "update_k(i=%lld, 0)", (long long)bad_i[a]);
      expect_failure(&fx, att_update_k(fx.h, bad_i[a], 0, 0.5), ATT_E_INDEX, needle, call);

      snapshot(&fx);
      snprintf(call, sizeof call, "update_v(i=%lld, 1)", (long long)bad_i[a]);
      expect_failure(&fx, att_update_v(fx.h, bad_i[a], 1, 0.5), ATT_E_INDEX, needle, call);

      snapshot(&fx);
      snprintf(call, sizeof call, "query(i=%lld, 2)", (long long)bad_i[a]);
      expect_failure(&fx, att_query(fx.h, bad_i[a], 2, &out), ATT_E_INDEX, needle, call);
      assert_true(out == -4.5); /* untouched */
    }
    for (a = 0; a < sizeof bad_j / sizeof bad_j[0]; ++a) {
      char needle[48], call[96];
      double out = -4.5;
      snprintf(needle, sizeof needle, "j=%lld", (long long)bad_j[a]);

      snapshot(&fx);
      snprintf(call, sizeof call, "update_k(2, j=%lld)", (long long)bad_j[a]);
      expect_failure(&fx, att_update_k(fx.h, 2, bad_j[a], 0.5), ATT_E_INDEX, needle, call);

      snapshot(&fx);
      snprintf(call, sizeof call, "update_v(3, j=%lld)", (long long)bad_j[a]);
      expect_failure(&fx, att_update_v(fx.h, 3, bad_j[a], 0.5), ATT_E_INDEX, needle, call);

      snapshot(&fx);
      snprintf(call, sizeof call, "query(5, j=%lld)", (long long)bad_j[a]);
      expect_failure(&fx, att_query(fx.h, 5, bad_j[a], &out), ATT_E_INDEX, needle, call);
      assert_true(out == -4.5);
    }
    /* Both indices bad: still an index error. */
    snapshot(&fx);
    expect_failure(&fx, att_update_k(fx.h, -1, FD, 1.0), ATT_E_INDEX, NULL, "update_k(-1, d)");
    fixture_finish(&fx);
  }
}

/* ---- Non-finite deltas ---------------------------------------------------------------- */

static void test_nonfinite_delta(void **state) {
  const double bad[] = {NAN, -NAN, INFINITY, -INFINITY};
  int pending;
  size_t a;
  (void)state;
  for (pending = 0; pending < 2; ++pending) {
    fixture fx;
    fixture_setup(&fx, pending, NULL, 300 + (uint64_t)pending);
    for (a = 0; a < sizeof bad / sizeof bad[0]; ++a) {
      char call[64];
      snapshot(&fx);
      snprintf(call, sizeof call, "update_k(1, 2, %g)", bad[a]);
      expect_failure(&fx, att_update_k(fx.h, 1, 2, bad[a]), ATT_E_NONFINITE, NULL, call);
      snapshot(&fx);
      snprintf(call, sizeof call, "update_v(1, 2, %g)", bad[a]);
      expect_failure(&fx, att_update_v(fx.h, 1, 2, bad[a]), ATT_E_NONFINITE, NULL, call);
      snapshot(&fx);
      snprintf(call, sizeof call, "update_k(0, 0, %g)", bad[a]);
      expect_failure(&fx, att_update_k(fx.h, 0, 0, bad[a]), ATT_E_NONFINITE, NULL, call);
    }
    fixture_finish(&fx);
  }
}

/* ---- A delta that makes K itself non-finite --------------------------------------------
 * Column 0 of Q is zero, so K[2][0] = 1e308 gives zero logits and is
 * accepted; K[2][0] += 1e308 overflows to +inf. */

static void customize_huge_k(tu_mirror *m) {
  int64_t i;
  for (i = 0; i < FN; ++i) m->Q[i * FD] = 0.0;
  m->K[2 * FD] = 1e308;
  m->K[4 * FD] = -1e308;
}

static void test_k_becomes_nonfinite(void **state) {
  int pending;
  (void)state;
  for (pending = 0; pending < 2; ++pending) {
    fixture fx;
    fixture_setup(&fx, pending, customize_huge_k, 400 + (uint64_t)pending);
    snapshot(&fx);
    expect_failure(&fx, att_update_k(fx.h, 2, 0, 1e308), ATT_E_NONFINITE, NULL,
                   "update_k: K = 1e308 + 1e308");
    snapshot(&fx);
    expect_failure(&fx, att_update_k(fx.h, 4, 0, -DBL_MAX), ATT_E_NONFINITE, NULL,
                   "update_k: K = -1e308 - DBL_MAX");
    /* A valid change of the same entry is still accepted afterwards. */
    tu_update_k(&fx.m, fx.h, 2, 0, -5e307);
    tu_check_all(fx.h, &fx.m, TOL, "after K = 1e308 - 5e307");
    fixture_finish(&fx);
  }
}

/* ---- A delta that pushes a logit past ATT_MAX_LOGIT ------------------------------------
 * Column 0 of Q is 1e150 and column 1 is 1e300 in every row, with K's
 * columns 0 and 1 zero: the logits start small. */

static void customize_huge_q(tu_mirror *m) {
  int64_t i;
  for (i = 0; i < FN; ++i) {
    m->Q[i * FD] = 1e150;
    m->Q[i * FD + 1] = 1e300;
    m->K[i * FD] = 0.0;
    m->K[i * FD + 1] = 0.0;
  }
}

static void test_logit_range(void **state) {
  int pending;
  (void)state;
  for (pending = 0; pending < 2; ++pending) {
    fixture fx;
    fixture_setup(&fx, pending, customize_huge_q, 500 + (uint64_t)pending);
    /* 1e150 * 1e60 = 1e210 > 2^664. */
    snapshot(&fx);
    expect_failure(&fx, att_update_k(fx.h, 3, 0, 1e60), ATT_E_RANGE, NULL, "logit 1e210");
    snapshot(&fx);
    expect_failure(&fx, att_update_k(fx.h, 0, 0, -1e60), ATT_E_RANGE, NULL, "logit -1e210");
    /* 1e300 * 1e-99 = 1e201, finite, above the limit. */
    snapshot(&fx);
    expect_failure(&fx, att_update_k(fx.h, 5, 1, 1e-99), ATT_E_RANGE, NULL, "logit 1e201");
    /* 1e300 * 1e10 overflows: a non-finite logit, which the header files
     * under both ATT_E_NONFINITE ("a logit it produces is not finite") and
     * ATT_E_RANGE ("would exceed ATT_MAX_LOGIT"); either is correct. */
    snapshot(&fx);
    expect_failure2(&fx, att_update_k(fx.h, 2, 1, 1e10), ATT_E_NONFINITE, ATT_E_RANGE, NULL,
                    "logit 1e310 (inf)");
    /* Small valid changes of the same entries are accepted: logits 1e-50
     * and 1e-5. */
    tu_update_k(&fx.m, fx.h, 3, 0, 1e-200);
    tu_update_k(&fx.m, fx.h, 5, 1, 1e-305);
    tu_check_all(fx.h, &fx.m, TOL, "after tiny updates of the huge-Q columns");
    fixture_finish(&fx);
  }
}

/* ---- A delta that pushes V past ATT_MAX_VALUE ------------------------------------------ */

/* 5e199 is just below ATT_MAX_VALUE = 2^664 ~ 7.65e199. */
static void customize_big_v(tu_mirror *m) { m->V[3 * FD + 1] = 5e199; }

static void test_value_range(void **state) {
  int pending;
  (void)state;
  for (pending = 0; pending < 2; ++pending) {
    fixture fx;
    fixture_setup(&fx, pending, customize_big_v, 600 + (uint64_t)pending);
    snapshot(&fx);
    expect_failure(&fx, att_update_v(fx.h, 3, 1, 5e199), ATT_E_RANGE, NULL, "V = 5e199 + 5e199");
    snapshot(&fx);
    expect_failure(&fx, att_update_v(fx.h, 3, 1, -1.5e200), ATT_E_RANGE, NULL,
                   "V = 5e199 - 1.5e200");
    snapshot(&fx);
    expect_failure(&fx, att_update_v(fx.h, 0, 0, 1e201), ATT_E_RANGE, NULL, "V += 1e201");
    snapshot(&fx);
    expect_failure(&fx, att_update_v(fx.h, 0, 1, DBL_MAX), ATT_E_RANGE, NULL, "V += DBL_MAX");
    snapshot(&fx);
    expect_failure(&fx, att_update_v(fx.h, 5, 0, -DBL_MAX), ATT_E_RANGE, NULL, "V += -DBL_MAX");
    /* A valid change of the same entry is accepted. (Bringing it all the way
     * down to O(1) is a cancellation test: test_numerics covers that.) */
    tu_update_v(&fx.m, fx.h, 3, 1, -1e199);
    tu_check_all(fx.h, &fx.m, TOL, "after V = 5e199 - 1e199");
    fixture_finish(&fx);
  }
}

/* ---- The detail message is sticky and per call ------------------------------------------ */

static void test_last_error_sticky(void **state) {
  fixture fx;
  char saved[256];
  double out;
  att_config *cfg = NULL;
  att_state *h2;
  (void)state;
  fixture_setup(&fx, 1, NULL, 700);
  assert_int_equal(att_update_k(fx.h, 99, 0, 1.0), ATT_E_INDEX);
  assert_non_null(strstr(att_last_error(), "i=99"));
  snprintf(saved, sizeof saved, "%s", att_last_error());
  /* Successful calls of every kind do not clear it. */
  assert_int_equal(att_query(fx.h, 0, 0, &out), ATT_OK);
  tu_update_k(&fx.m, fx.h, 0, 2, 0.1);
  tu_update_v(&fx.m, fx.h, 0, 2, 0.1);
  assert_int_equal(att_config_create(&cfg), ATT_OK);
  assert_int_equal(att_config_set_lazy_limit(cfg, 2), ATT_OK);
  h2 = tu_init(&fx.m, cfg);
  att_free(h2);
  att_config_free(cfg);
  (void)att_version_number();
  (void)att_status_string(ATT_E_INDEX);
  assert_string_equal(att_last_error(), saved);
  /* A different failure replaces it. */
  assert_int_equal(att_update_v(fx.h, 0, 7, 1.0), ATT_E_INDEX);
  assert_non_null(strstr(att_last_error(), "j=7"));
  assert_string_not_equal(att_last_error(), saved);
  fixture_finish(&fx);
}

/* ---- Config failures, for completeness (test_basic checks cfg is unchanged) ---- */

static void test_config_errors(void **state) {
  att_config *cfg = NULL;
  (void)state;
  assert_int_equal(att_config_create(NULL), ATT_E_NULL);
  assert_string_not_equal(att_last_error(), "");
  assert_int_equal(att_config_create(&cfg), ATT_OK);
  assert_int_equal(att_config_set_lazy_limit(cfg, -1), ATT_E_CONFIG);
  assert_non_null(strstr(att_last_error(), "-1"));
  assert_int_equal(att_config_set_lazy_limit(cfg, (INT64_C(1) << 20) + 1), ATT_E_CONFIG);
  assert_non_null(strstr(att_last_error(), "1048577"));
  assert_int_equal(att_config_set_lazy_exponent(cfg, 0.0), ATT_E_CONFIG);
  assert_string_not_equal(att_last_error(), "");
  assert_int_equal(att_config_set_logit_scale(cfg, -2.0), ATT_E_CONFIG);
  assert_string_not_equal(att_last_error(), "");
  assert_int_equal(att_config_set_lazy_limit(NULL, 1), ATT_E_NULL);
  assert_int_equal(att_config_set_lazy_exponent(NULL, 0.5), ATT_E_NULL);
  assert_int_equal(att_config_set_logit_scale(NULL, 1.0), ATT_E_NULL);
  assert_int_equal(att_config_set_storage(NULL, ATT_STORAGE_DENSE), ATT_E_NULL);
  assert_int_equal(att_config_set_storage(cfg, (att_storage)3), ATT_E_ENUM);
  assert_non_null(strstr(att_last_error(), "3"));
  assert_int_equal(att_config_set_storage(cfg, (att_storage)-1), ATT_E_ENUM);
  assert_non_null(strstr(att_last_error(), "-1"));
  assert_int_equal(att_config_set_memory_budget(NULL, 0), ATT_E_NULL);
  assert_int_equal(att_config_set_memory_budget(cfg, -1), ATT_E_CONFIG);
  assert_non_null(strstr(att_last_error(), "-1"));
  assert_int_equal(att_config_set_strategy(NULL, ATT_STRATEGY_LAZY), ATT_E_NULL);
  assert_int_equal(att_config_set_strategy(cfg, ATT_STRATEGY_EAGER), ATT_OK);
  assert_int_equal(att_config_set_strategy(cfg, (att_strategy)3), ATT_E_ENUM);
  assert_non_null(strstr(att_last_error(), "strategy=3"));
  assert_int_equal(att_config_set_strategy(cfg, (att_strategy)-1), ATT_E_ENUM);
  assert_non_null(strstr(att_last_error(), "strategy=-1"));
  {
    /* The failed calls left the eager strategy in place. */
    static const double q[2] = {0.5, -0.25}, k[2] = {1.0, 0.0}, v[2] = {2.0, -1.0};
    att_state *h = NULL;
    int64_t strategy = -1;
    assert_int_equal(att_init(&h, 2, 1, q, k, v, cfg), ATT_OK);
    assert_int_equal(att_stat(h, ATT_STAT_STRATEGY, &strategy), ATT_OK);
    assert_int_equal(strategy, ATT_STRATEGY_EAGER);
    att_free(h);
  }
  att_config_free(cfg);
}

/* ATT_STORAGE_AUTO: dense within the budget, streamed beyond it; an explicit
 * choice ignores the budget. */
static void test_storage_choice(void **state) {
  static const struct {
    int storage;    /* -1: leave the default */
    int64_t budget; /* -1: leave the default */
    int64_t expected;
  } cases[] = {
      {-1, -1, ATT_STORAGE_DENSE},
      {-1, 1, ATT_STORAGE_STREAMED},
      {ATT_STORAGE_AUTO, 1, ATT_STORAGE_STREAMED},
      /* Room for A (9 x 9 doubles) but not for the rest of the dense store. */
      {ATT_STORAGE_AUTO, 8 * 9 * 9, ATT_STORAGE_STREAMED},
      {ATT_STORAGE_AUTO, INT64_C(1) << 40, ATT_STORAGE_DENSE},
      {ATT_STORAGE_AUTO, 0, ATT_STORAGE_DENSE},
      {ATT_STORAGE_DENSE, 1, ATT_STORAGE_DENSE},
      {ATT_STORAGE_STREAMED, -1, ATT_STORAGE_STREAMED},
  };
  size_t c;
  tu_mirror m;
  tu_rng r;
  (void)state;
  tu_rng_seed(&r, 77);
  tu_mirror_alloc(&m, 9, 3, 1.0);
  tu_mirror_randomize(&m, &r, 1.0, 1.0);
  for (c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
    att_config *cfg = NULL;
    att_state *h;
    int64_t kind = -1;
    assert_int_equal(att_config_create(&cfg), ATT_OK);
    if (cases[c].storage >= 0)
      assert_int_equal(att_config_set_storage(cfg, (att_storage)cases[c].storage), ATT_OK);
    if (cases[c].budget >= 0)
      assert_int_equal(att_config_set_memory_budget(cfg, cases[c].budget), ATT_OK);
    h = tu_init(&m, cfg);
    att_config_free(cfg);
    assert_int_equal(att_stat(h, ATT_STAT_STORAGE, &kind), ATT_OK);
    assert_int_equal(kind, cases[c].expected);
    tu_check_all(h, &m, TOL, "storage choice");
    att_free(h);
  }
  tu_mirror_free(&m);
}

/* ---- The 0.2.0 operations ---------------------------------------------------------- */

/* Updates that must fail and leave the handle as it was, in a fresh handle
 * and inside a window of pending updates. */
static void test_new_update_errors(void **state) {
  int pending;
  (void)state;
  for (pending = 0; pending < 2; ++pending) {
    fixture fx;
    double row[2 * FD];
    int64_t bi[4], bj[4];
    double bv[4];
    int t;
    fixture_setup(&fx, pending, NULL, 4100 + (uint64_t)pending);
    for (t = 0; t < 2 * FD; ++t) row[t] = 0.5;

    snapshot(&fx);
    expect_failure(&fx, att_update_q(NULL, 0, 0, 1.0), ATT_E_NULL, "state", "update_q NULL");
    snapshot(&fx);
    expect_failure(&fx, att_update_q(fx.h, FN, 0, 1.0), ATT_E_INDEX, "i=6", "update_q i");
    snapshot(&fx);
    expect_failure(&fx, att_update_q(fx.h, 0, FD, 1.0), ATT_E_INDEX, "j=3", "update_q j");
    snapshot(&fx);
    expect_failure(&fx, att_update_q(fx.h, 0, 0, NAN), ATT_E_NONFINITE, NULL, "update_q NaN");
    snapshot(&fx);
    expect_failure(&fx, att_update_q(fx.h, 2, 1, 1e300), ATT_E_RANGE, "Q[2", "update_q range");

    snapshot(&fx);
    expect_failure(&fx, att_set_entry(fx.h, (att_matrix)7, 0, 0, 1.0), ATT_E_ENUM, "7",
                   "set_entry which");
    snapshot(&fx);
    expect_failure(&fx, att_set_entry(fx.h, ATT_MATRIX_V, 0, 0, 1e300), ATT_E_RANGE, "V[0][0]",
                   "set_entry V range");
    snapshot(&fx);
    expect_failure(&fx, att_set_entry(fx.h, ATT_MATRIX_K, 0, 0, INFINITY), ATT_E_NONFINITE,
                   "K[0][0]", "set_entry K inf");
    snapshot(&fx);
    expect_failure(&fx, att_set_entry(fx.h, ATT_MATRIX_K, 4, 1, 1e300), ATT_E_RANGE, "K[4][1]",
                   "set_entry K logit range");
    snapshot(&fx);
    expect_failure(&fx, att_set_entry(fx.h, ATT_MATRIX_Q, FN, 0, 1.0), ATT_E_INDEX, "i=6",
                   "set_entry Q index");

    snapshot(&fx);
    expect_failure(&fx, att_set_row(fx.h, ATT_MATRIX_K, 0, NULL, 1), ATT_E_NULL, "row",
                   "set_row NULL");
    snapshot(&fx);
    expect_failure(&fx, att_set_row(fx.h, ATT_MATRIX_K, 0, row, 0), ATT_E_SIZE, "inc=0",
                   "set_row inc");
    /* Strides whose row extent, (FD - 1) inc doubles, no address space holds:
     * refused before t * inc can overflow (the sanitized build halts on that). */
    snapshot(&fx);
    expect_failure(&fx, att_set_row(fx.h, ATT_MATRIX_K, 0, row, INT64_MAX), ATT_E_SIZE, "overflow",
                   "set_row inc INT64_MAX");
    snapshot(&fx);
    expect_failure(&fx, att_set_row(fx.h, ATT_MATRIX_V, 1, row, INT64_C(1) << 61), ATT_E_SIZE,
                   "overflow", "set_row inc 2^61");
    snapshot(&fx);
    expect_failure(&fx, att_set_row(fx.h, ATT_MATRIX_V, FN, row, 1), ATT_E_INDEX, "i=6",
                   "set_row index");
    row[2 * (FD - 1)] = NAN; /* the last element at stride 2 */
    snapshot(&fx);
    expect_failure(&fx, att_set_row(fx.h, ATT_MATRIX_Q, 1, row, 2), ATT_E_NONFINITE, "Q[1][2]",
                   "set_row NaN last");
    row[2 * (FD - 1)] = 1e300;
    snapshot(&fx);
    expect_failure(&fx, att_set_row(fx.h, ATT_MATRIX_V, 1, row, 2), ATT_E_RANGE, "V[1][2]",
                   "set_row V range");
    snapshot(&fx);
    expect_failure(&fx, att_set_row(fx.h, ATT_MATRIX_K, 3, row, 2), ATT_E_RANGE, "K[3",
                   "set_row K logit range");
    snapshot(&fx);
    expect_failure(&fx, att_set_row(fx.h, ATT_MATRIX_Q, 3, row, 2), ATT_E_RANGE, "Q[3",
                   "set_row Q logit range");

    /* Batches: a valid first part, then one bad entry; nothing is applied. */
    bi[0] = 0, bj[0] = 0, bv[0] = 0.25;
    bi[1] = 1, bj[1] = 1, bv[1] = -0.5;
    bi[2] = 0, bj[2] = 2, bv[2] = 0.125;
    bi[3] = 5, bj[3] = FD, bv[3] = 1.0;
    snapshot(&fx);
    expect_failure(&fx, att_update_batch(fx.h, ATT_MATRIX_K, 4, bi, bj, bv), ATT_E_INDEX, "entry 3",
                   "batch index");
    bj[3] = 0;
    bv[3] = NAN;
    snapshot(&fx);
    expect_failure(&fx, att_set_batch(fx.h, ATT_MATRIX_V, 4, bi, bj, bv), ATT_E_NONFINITE,
                   "entry 3", "batch NaN");
    bv[3] = 1e300; /* K[5][0] += 1e300: logits out of range */
    snapshot(&fx);
    expect_failure(&fx, att_update_batch(fx.h, ATT_MATRIX_K, 4, bi, bj, bv), ATT_E_RANGE, "K[5",
                   "batch K logit range");
    snapshot(&fx);
    expect_failure(&fx, att_update_batch(fx.h, ATT_MATRIX_Q, 4, bi, bj, bv), ATT_E_RANGE, "Q[5",
                   "batch Q logit range");
    /* Each delta is fine on its own; their running sum is not. */
    bi[2] = 5, bj[2] = 0, bv[2] = 5e199;
    bv[3] = 5e199;
    snapshot(&fx);
    expect_failure(&fx, att_update_batch(fx.h, ATT_MATRIX_V, 4, bi, bj, bv), ATT_E_RANGE, "entry 3",
                   "batch V running sum");
    bv[2] = DBL_MAX;
    bv[3] = DBL_MAX;
    snapshot(&fx);
    expect_failure(&fx, att_update_batch(fx.h, ATT_MATRIX_K, 4, bi, bj, bv), ATT_E_NONFINITE,
                   "entry 3", "batch K overflow");
    /* Two bad entries, the first in call order in the later row: the call
     * names it, whichever row the checks reach first. */
    bi[0] = 5, bj[0] = 0, bv[0] = 1e300;
    bi[1] = 1, bj[1] = 0, bv[1] = 1e300;
    snapshot(&fx);
    expect_failure(&fx, att_update_batch(fx.h, ATT_MATRIX_V, 2, bi, bj, bv), ATT_E_RANGE,
                   "entry 0: |new V[5][0]|", "batch V first bad entry");
    snapshot(&fx);
    expect_failure(&fx, att_update_batch(fx.h, ATT_MATRIX_K, 2, bi, bj, bv), ATT_E_RANGE,
                   "entry 0: changing K[5][0]", "batch K first bad entry");
    snapshot(&fx);
    expect_failure(&fx, att_update_batch(fx.h, ATT_MATRIX_K, -1, bi, bj, bv), ATT_E_SIZE,
                   "count=-1", "batch count");
    snapshot(&fx);
    expect_failure(&fx, att_update_batch(fx.h, ATT_MATRIX_K, 2, NULL, bj, bv), ATT_E_NULL, "rows",
                   "batch rows NULL");
    snapshot(&fx);
    expect_failure(&fx, att_set_batch(fx.h, (att_matrix)-1, 2, bi, bj, bv), ATT_E_ENUM, "-1",
                   "batch which");
    snapshot(&fx);
    expect_failure(&fx, att_fold(NULL), ATT_E_NULL, "state", "fold NULL");
    assert_int_equal(att_update_batch(fx.h, ATT_MATRIX_K, 0, NULL, NULL, NULL), ATT_OK);
    fixture_finish(&fx);
  }
}

/* Queries that must fail, leave their output untouched and the handle as
 * it was. */
static void test_new_query_errors(void **state) {
  fixture fx;
  double out[64];
  int64_t v = 77, t;
  (void)state;
  fixture_setup(&fx, 1, NULL, 4200);
  for (t = 0; t < 64; ++t) out[t] = -1.0;
#define EXPECT_QUERY(call, want, needle)                             \
  do {                                                               \
    snapshot(&fx);                                                   \
    expect_failure(&fx, call, want, needle, #call);                  \
    for (t = 0; t < 64; ++t)                                         \
      if (out[t] != -1.0) fail_msg("%s wrote to its output", #call); \
    assert_int_equal(v, 77);                                         \
  } while (0)
  EXPECT_QUERY(att_query_row(NULL, 0, out), ATT_E_NULL, "state");
  EXPECT_QUERY(att_query_row(fx.h, 0, NULL), ATT_E_NULL, "out");
  EXPECT_QUERY(att_query_row(fx.h, FN, out), ATT_E_INDEX, "i=6");
  EXPECT_QUERY(att_query_row(fx.h, -1, out), ATT_E_INDEX, "i=-1");
  EXPECT_QUERY(att_query_rows(fx.h, 4, 3, ATT_ROW_MAJOR, out, FD), ATT_E_INDEX, "rows");
  EXPECT_QUERY(att_query_rows(fx.h, 0, -1, ATT_ROW_MAJOR, out, FD), ATT_E_SIZE, "count");
  EXPECT_QUERY(att_query_rows(fx.h, 0, 2, ATT_ROW_MAJOR, out, FD - 1), ATT_E_SIZE, "ld");
  EXPECT_QUERY(att_query_rows(fx.h, 0, 2, ATT_COL_MAJOR, out, 1), ATT_E_SIZE, "ld");
  EXPECT_QUERY(att_query_rows(fx.h, 0, 2, (att_layout)2, out, FD), ATT_E_ENUM, "layout");
  EXPECT_QUERY(att_output(fx.h, ATT_COL_MAJOR, out, FN - 1), ATT_E_SIZE, "ld");
  EXPECT_QUERY(att_output(fx.h, ATT_ROW_MAJOR, NULL, FD), ATT_E_NULL, "out");
  EXPECT_QUERY(att_query_lse(fx.h, FN, 1, out), ATT_E_INDEX, "rows");
  EXPECT_QUERY(att_query_lse(fx.h, 0, -2, out), ATT_E_SIZE, "count");
  EXPECT_QUERY(att_stat(fx.h, (att_stat_kind)999, &v), ATT_E_ENUM, "999");
  EXPECT_QUERY(att_stat(fx.h, ATT_STAT_FOLDS, NULL), ATT_E_NULL, "out");
  EXPECT_QUERY(att_get_matrix(fx.h, ATT_MATRIX_V, ATT_ROW_MAJOR, out, FD - 1), ATT_E_SIZE, "ld");
  EXPECT_QUERY(att_get_matrix(fx.h, (att_matrix)3, ATT_ROW_MAJOR, out, FD), ATT_E_ENUM, "3");
  EXPECT_QUERY(att_shape(NULL, &v, &v, &v, &v), ATT_E_NULL, "state");
#undef EXPECT_QUERY
  assert_int_equal(att_shape(fx.h, NULL, NULL, NULL, NULL), ATT_OK);
  fixture_finish(&fx);
}

/* att_init_general and att_config_set_causal. */
static void test_init_general_errors(void **state) {
  double Q[12] = {0}, K[12] = {0}, V[12] = {0};
  att_config *cfg = NULL;
  att_state *h;
  (void)state;
  h = sentinel();
  expect_init_failure(att_init_general(&h, 2, 3, 2, 2, ATT_ROW_MAJOR, Q, 1, K, 2, V, 2, NULL), &h,
                      ATT_E_SIZE, "ldq=1", "ldq too small");
  h = sentinel();
  expect_init_failure(att_init_general(&h, 2, 3, 2, 2, ATT_COL_MAJOR, Q, 2, K, 2, V, 3, NULL), &h,
                      ATT_E_SIZE, "ldk=2", "ldk too small (column-major)");
  h = sentinel();
  expect_init_failure(att_init_general(&h, 2, 3, 2, 2, (att_layout)9, Q, 2, K, 2, V, 2, NULL), &h,
                      ATT_E_ENUM, "layout=9", "layout");
  h = sentinel();
  expect_init_failure(att_init_general(&h, 2, 0, 2, 2, ATT_ROW_MAJOR, Q, 2, K, 2, V, 2, NULL), &h,
                      ATT_E_SIZE, "n_kv=0", "n_kv=0");
  h = sentinel();
  expect_init_failure(att_init_general(&h, 2, 3, 2, 2, ATT_ROW_MAJOR, Q, 2, NULL, 2, V, 2, NULL),
                      &h, ATT_E_NULL, "K", "K NULL");
  V[5] = NAN;
  h = sentinel();
  expect_init_failure(att_init_general(&h, 2, 3, 2, 2, ATT_ROW_MAJOR, Q, 2, K, 2, V, 2, NULL), &h,
                      ATT_E_NONFINITE, "V[2][1]", "V NaN");
  assert_int_equal(att_config_create(&cfg), ATT_OK);
  assert_int_equal(att_config_set_causal(cfg, 2), ATT_E_CONFIG);
  assert_non_null(strstr(att_last_error(), "causal=2"));
  assert_int_equal(att_config_set_causal(NULL, 1), ATT_E_NULL);
  assert_int_equal(att_config_set_causal(cfg, 1), ATT_OK);
  V[5] = 0.0;
  h = sentinel();
  expect_init_failure(att_init_general(&h, 4, 3, 2, 2, ATT_ROW_MAJOR, Q, 2, K, 2, V, 2, cfg), &h,
                      ATT_E_SIZE, "n_q <= n_kv", "causal n_q > n_kv");
  assert_int_equal(att_init_general(&h, 3, 4, 2, 2, ATT_ROW_MAJOR, Q, 2, K, 2, V, 2, cfg), ATT_OK);
  att_free(h);
  att_config_free(cfg);
}

/* Every status has its own name. */
static void test_status_strings(void **state) {
  int a, b;
  static const att_status all[] = {ATT_OK,          ATT_E_NULL,    ATT_E_SIZE,    ATT_E_INDEX,
                                   ATT_E_NONFINITE, ATT_E_NOMEM,   ATT_E_CONFIG,  ATT_E_INTERNAL,
                                   ATT_E_RANGE,     ATT_E_FORMAT,  ATT_E_VERSION, ATT_E_ENDIAN,
                                   ATT_E_TRUNCATED, ATT_E_CORRUPT, ATT_E_IO,      ATT_E_ENUM};
  const int n = (int)(sizeof all / sizeof all[0]);
  (void)state;
  for (a = 0; a < n; ++a) {
    assert_string_not_equal(att_status_string(all[a]), "unknown status");
    for (b = 0; b < a; ++b)
      assert_string_not_equal(att_status_string(all[a]), att_status_string(all[b]));
  }
  assert_string_equal(att_status_string((att_status)19), "unknown status");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_null),
      cmocka_unit_test(test_init_size),
      cmocka_unit_test(test_init_nomem),
      cmocka_unit_test(test_init_nonfinite),
      cmocka_unit_test(test_init_range),
      cmocka_unit_test(test_null_handle_and_out),
      cmocka_unit_test(test_index),
      cmocka_unit_test(test_nonfinite_delta),
      cmocka_unit_test(test_k_becomes_nonfinite),
      cmocka_unit_test(test_logit_range),
      cmocka_unit_test(test_value_range),
      cmocka_unit_test(test_last_error_sticky),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_storage_choice),
      cmocka_unit_test(test_new_update_errors),
      cmocka_unit_test(test_new_query_errors),
      cmocka_unit_test(test_init_general_errors),
      cmocka_unit_test(test_init_general_sizes),
      cmocka_unit_test(test_status_strings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
