/*
 * Exact static attention, att_attention(): general shapes (including n = 1,
 * d = 1 and shapes that cross the 192-row blocks, the 256-key tiles and the
 * 24 x 8 register tiles of the products in every direction), both
 * layouts with padded leading dimensions, the causal mask, logits large
 * enough that only the online rescaling keeps exp finite, mass that would
 * underflow, and every error path (the output untouched on failure). Judged
 * against the long-double reference of static_util.c with the tolerance
 * model of reference.h.
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
#include "static_util.h"
#include "test_util.h"

#define TOL 1e-13
#define SENTINEL -12345.5

typedef struct problem {
  int64_t n_q, n_kv, d_k, d_v;
  double *Q, *K, *V; /* row-major, tight */
} problem;

static void problem_random(problem *p, tu_rng *r, int64_t n_q, int64_t n_kv, int64_t d_k,
                           int64_t d_v, double qk) {
  p->n_q = n_q;
  p->n_kv = n_kv;
  p->d_k = d_k;
  p->d_v = d_v;
  p->Q = tu_alloc_doubles(n_q * d_k);
  p->K = tu_alloc_doubles(n_kv * d_k);
  p->V = tu_alloc_doubles(n_kv * d_v);
  tu_fill_uniform(r, p->Q, n_q * d_k, -qk, qk);
  tu_fill_uniform(r, p->K, n_kv * d_k, -qk, qk);
  tu_fill_normal(r, p->V, n_kv * d_v, 1.0);
}

static void problem_free(problem *p) {
  free(p->Q);
  free(p->K);
  free(p->V);
}

/* Runs att_attention in `layout` with `pad` extra elements per leading
 * dimension and checks every entry against the reference with the
 * tolerance model, the padding of out, and that the inputs were not
 * written. Returns the worst error / bound. */
static double check_problem(const problem *p, double scale, att_mask mask, att_layout layout,
                            int64_t pad, const char *label) {
  const int row = layout == ATT_ROW_MAJOR;
  const int64_t ldq = (row ? p->d_k : p->n_q) + pad, ldk = (row ? p->d_k : p->n_kv) + pad;
  const int64_t ldv = (row ? p->d_v : p->n_kv) + pad, ldo = (row ? p->d_v : p->n_q) + pad;
  double *Q = su_pack(p->Q, p->n_q, p->d_k, layout, ldq);
  double *K = su_pack(p->K, p->n_kv, p->d_k, layout, ldk);
  double *V = su_pack(p->V, p->n_kv, p->d_v, layout, ldv);
  double *out = su_output(p->n_q, p->d_v, layout, ldo, SENTINEL);
  long double *B = (long double *)tu_xmalloc((size_t)(p->n_q * p->d_v) * sizeof *B);
  double *L = tu_alloc_doubles(p->n_q);
  double worst = 0.0;
  int64_t i, j, c;
  att_status st;

  su_attention(p->n_q, p->n_kv, p->d_k, p->d_v, p->Q, p->K, p->V, scale, mask == ATT_MASK_CAUSAL, B,
               L);
  st = att_attention(p->n_q, p->n_kv, p->d_k, p->d_v, Q, ldq, K, ldk, V, ldv, scale, mask, layout,
                     out, ldo);
  if (st != ATT_OK) fail_msg("%s: status %d (%s)", label, (int)st, att_last_error());
  for (j = 0; j < p->d_v; ++j) {
    double vmax = 0.0;
    for (c = 0; c < p->n_kv; ++c)
      if (fabs(p->V[c * p->d_v + j]) > vmax) vmax = fabs(p->V[c * p->d_v + j]);
    for (i = 0; i < p->n_q; ++i) {
      const double got = su_at(out, layout, ldo, i, j);
      const double bound = ref_tolerance(TOL, p->d_k, L[i], vmax);
      const double err = (double)fabsl((long double)got - B[i * p->d_v + j]);
      if (!isfinite(got) || !(err <= bound))
        fail_msg("%s: out[%lld][%lld] = %.17g, reference %.17Lg, bound %g", label, (long long)i,
                 (long long)j, got, B[i * p->d_v + j], bound);
      if (bound > 0.0 && err / bound > worst) worst = err / bound;
    }
  }
  assert_true(su_padding_intact(out, p->n_q, p->d_v, layout, ldo, SENTINEL));
  /* Inputs are only read (compare with fresh packs). */
  {
    double *Q2 = su_pack(p->Q, p->n_q, p->d_k, layout, ldq);
    const int64_t nq = su_extent(p->n_q, p->d_k, layout, ldq);
    assert_memory_equal(Q, Q2, (size_t)nq * sizeof *Q);
    free(Q2);
  }
  free(Q);
  free(K);
  free(V);
  free(out);
  free(B);
  free(L);
  return worst;
}

static void test_shapes(void **state) {
  static const int64_t shapes[][4] = {
      {1, 1, 1, 1},     {1, 7, 3, 2},      {5, 1, 4, 3},      {7, 9, 1, 1},
      {3, 300, 16, 5},  {600, 1100, 3, 4}, {513, 1025, 8, 2}, {64, 2048, 2, 9},
      {1030, 40, 5, 1}, {17, 19, 33, 40},  {193, 257, 25, 9}, {385, 770, 64, 64},
  };
  static const att_layout layouts[] = {ATT_ROW_MAJOR, ATT_COL_MAJOR};
  tu_rng r;
  size_t s, l;
  (void)state;
  tu_rng_seed(&r, 501);
  for (s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
    problem p;
    char label[96];
    problem_random(&p, &r, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], 1.5);
    for (l = 0; l < 2; ++l) {
      const att_mask mask = (s + l) % 2 == 0 || p.n_q > p.n_kv ? ATT_MASK_NONE : ATT_MASK_CAUSAL;
      snprintf(label, sizeof label, "shape %zu layout %zu mask %d", s, l, (int)mask);
      check_problem(&p, 1.0 / sqrt((double)p.d_k), mask, layouts[l], (int64_t)(s % 3) * 2, label);
      if (p.n_q <= p.n_kv)
        check_problem(&p, 0.7, mask == ATT_MASK_NONE ? ATT_MASK_CAUSAL : ATT_MASK_NONE, layouts[l],
                      1, label);
    }
    problem_free(&p);
  }
}

/* Causal with n_q = n_kv: row i is the softmax over keys 0..i, so row 0 is
 * exactly V[0,:] and the mask must matter. */
static void test_causal_first_row(void **state) {
  tu_rng r;
  problem p;
  double out[40 * 3], full[40 * 3];
  int64_t j;
  (void)state;
  tu_rng_seed(&r, 502);
  problem_random(&p, &r, 40, 40, 4, 3, 2.0);
  assert_int_equal(att_attention(40, 40, 4, 3, p.Q, 4, p.K, 4, p.V, 3, 1.0, ATT_MASK_CAUSAL,
                                 ATT_ROW_MAJOR, out, 3),
                   ATT_OK);
  assert_int_equal(att_attention(40, 40, 4, 3, p.Q, 4, p.K, 4, p.V, 3, 1.0, ATT_MASK_NONE,
                                 ATT_ROW_MAJOR, full, 3),
                   ATT_OK);
  for (j = 0; j < 3; ++j) assert_true(out[j] == p.V[j]);
  assert_true(fabs(out[3 * 10] - full[3 * 10]) > 1e-6);
  assert_true(fabs(out[3 * 39] - full[3 * 39]) < 1e-14 * 4);
  problem_free(&p);
}

/* Logits up to about 2e6, increasing along the keys so that every key tile
 * raises the running maximum (the online rescaling path), and decreasing
 * ones where later tiles underflow entirely. */
static void test_large_logits(void **state) {
  tu_rng r;
  problem p;
  int64_t c, t;
  (void)state;
  tu_rng_seed(&r, 503);
  problem_random(&p, &r, 70, 3000, 2, 3, 1.0);
  for (c = 0; c < p.n_kv; ++c)
    for (t = 0; t < 2; ++t)
      p.K[c * 2 + t] = 300.0 * (double)c / (double)p.n_kv + tu_range(&r, -1, 1);
  for (c = 0; c < p.n_q * 2; ++c) p.Q[c] = tu_range(&r, -1000.0, 1000.0);
  check_problem(&p, 1.0, ATT_MASK_NONE, ATT_ROW_MAJOR, 0, "increasing keys");
  check_problem(&p, 1.0, ATT_MASK_CAUSAL, ATT_COL_MAJOR, 3, "increasing keys, causal");
  for (c = 0; c < p.n_kv * 2; ++c) p.K[c] = -p.K[c];
  check_problem(&p, 1.0, ATT_MASK_NONE, ATT_ROW_MAJOR, 0, "decreasing keys");
  /* Scale so large that all weight of a row is on one key. */
  check_problem(&p, 1e6, ATT_MASK_NONE, ATT_COL_MAJOR, 0, "scale 1e6");
  problem_free(&p);
}

/* Identical keys: every row is the mean of V's rows. Zero Q: likewise. */
static void test_uniform_rows(void **state) {
  tu_rng r;
  problem p;
  double out[8 * 2];
  int64_t i, j, c;
  (void)state;
  tu_rng_seed(&r, 504);
  problem_random(&p, &r, 8, 1500, 3, 2, 1.0);
  memset(p.Q, 0, 8 * 3 * sizeof(double));
  assert_int_equal(att_attention(8, 1500, 3, 2, p.Q, 3, p.K, 3, p.V, 2, 1.0, ATT_MASK_NONE,
                                 ATT_ROW_MAJOR, out, 2),
                   ATT_OK);
  for (j = 0; j < 2; ++j) {
    long double mean = 0.0L;
    for (c = 0; c < 1500; ++c) mean += p.V[c * 2 + j];
    mean /= 1500;
    for (i = 0; i < 8; ++i) assert_true(fabsl(out[i * 2 + j] - mean) < 1e-13L);
  }
  problem_free(&p);
}

/* Every failure: status, message, out untouched. */
static void expect_failure(att_status expected, att_status got, const double *out,
                           const char *what) {
  int64_t k;
  if (got != expected)
    fail_msg("%s: expected status %d, got %d (%s)", what, (int)expected, (int)got,
             att_last_error());
  assert_true(strlen(att_last_error()) > 0);
  for (k = 0; k < 12; ++k)
    if (out[k] != SENTINEL) fail_msg("%s: out[%lld] was written", what, (long long)k);
}

static void test_errors(void **state) {
  double Q[12], K[12], V[12], out[12];
  int64_t k;
  (void)state;
  for (k = 0; k < 12; ++k) {
    Q[k] = 0.1 * (double)k;
    K[k] = -0.05 * (double)k;
    V[k] = (double)k;
    out[k] = SENTINEL;
  }
#define CALL(nq, nkv, dk, dv, q, ldq, kk, ldk, v, ldv, s, mask, layout, o, ldo) \
  att_attention(nq, nkv, dk, dv, q, ldq, kk, ldk, v, ldv, s, mask, layout, o, ldo)
  expect_failure(ATT_E_NULL, CALL(3, 4, 3, 3, NULL, 3, K, 3, V, 3, 1, 0, 0, out, 3), out, "Q");
  expect_failure(ATT_E_NULL, CALL(3, 4, 3, 3, Q, 3, NULL, 3, V, 3, 1, 0, 0, out, 3), out, "K");
  expect_failure(ATT_E_NULL, CALL(3, 4, 3, 3, Q, 3, K, 3, NULL, 3, 1, 0, 0, out, 3), out, "V");
  assert_int_equal(CALL(3, 4, 3, 3, Q, 3, K, 3, V, 3, 1, 0, 0, NULL, 3), ATT_E_NULL);
  expect_failure(ATT_E_SIZE, CALL(0, 4, 3, 3, Q, 3, K, 3, V, 3, 1, 0, 0, out, 3), out, "n_q 0");
  expect_failure(ATT_E_SIZE, CALL(3, -1, 3, 3, Q, 3, K, 3, V, 3, 1, 0, 0, out, 3), out, "n_kv");
  expect_failure(ATT_E_SIZE, CALL(3, 4, 0, 3, Q, 3, K, 3, V, 3, 1, 0, 0, out, 3), out, "d_k");
  expect_failure(ATT_E_SIZE, CALL(3, 4, 3, 0, Q, 3, K, 3, V, 3, 1, 0, 0, out, 3), out, "d_v");
  expect_failure(ATT_E_SIZE, CALL(3, INT64_C(1) << 31, 3, 3, Q, 3, K, 3, V, 3, 1, 0, 0, out, 3),
                 out, "n_kv > INT32_MAX");
  expect_failure(ATT_E_SIZE, CALL(3, 4, 3, 3, Q, 2, K, 3, V, 3, 1, 0, 0, out, 3), out, "ldq");
  expect_failure(ATT_E_SIZE, CALL(3, 4, 3, 3, Q, 3, K, 3, V, 3, 1, 0, 1, out, 3), out,
                 "col-major ldk < n_kv");
  expect_failure(ATT_E_SIZE, CALL(3, 4, 3, 3, Q, 3, K, 3, V, 3, 1, 0, 0, out, 2), out, "ldo");
  expect_failure(ATT_E_SIZE, CALL(3, 4, 3, 3, Q, INT64_C(1) << 32, K, 3, V, 3, 1, 0, 0, out, 3),
                 out, "ldq > INT32_MAX");
  expect_failure(
      ATT_E_SIZE,
      CALL(INT64_C(2000000000), 4, 3, 3, Q, INT64_C(2000000000), K, 3, V, 3, 1, 0, 0, out, 3), out,
      "extent overflows");
  expect_failure(ATT_E_SIZE, CALL(4, 3, 3, 3, Q, 3, K, 3, V, 3, 1, 1, 0, out, 3), out,
                 "causal n_q > n_kv");
  expect_failure(ATT_E_CONFIG, CALL(3, 4, 3, 3, Q, 3, K, 3, V, 3, 0.0, 0, 0, out, 3), out,
                 "scale 0");
  expect_failure(ATT_E_CONFIG, CALL(3, 4, 3, 3, Q, 3, K, 3, V, 3, NAN, 0, 0, out, 3), out,
                 "scale NaN");
  expect_failure(ATT_E_CONFIG, CALL(3, 4, 3, 3, Q, 3, K, 3, V, 3, INFINITY, 0, 0, out, 3), out,
                 "scale inf");
  expect_failure(ATT_E_CONFIG, CALL(3, 4, 3, 3, Q, 3, K, 3, V, 3, 1, (att_mask)2, 0, out, 3), out,
                 "mask");
  expect_failure(ATT_E_CONFIG, CALL(3, 4, 3, 3, Q, 3, K, 3, V, 3, 1, 0, (att_layout)2, out, 3), out,
                 "layout");
  Q[4] = NAN;
  expect_failure(ATT_E_NONFINITE, CALL(3, 4, 3, 3, Q, 3, K, 3, V, 3, 1, 0, 0, out, 3), out,
                 "Q NaN");
  /* Sizes are checked before any entry is read. */
  expect_failure(ATT_E_SIZE, CALL(4, 3, 3, 3, Q, 3, K, 3, V, 3, 1, 1, 0, out, 3), out,
                 "causal n_q > n_kv, Q NaN");
  Q[4] = 0.4;
  K[11] = -INFINITY;
  expect_failure(ATT_E_NONFINITE, CALL(3, 4, 3, 3, Q, 3, K, 3, V, 3, 1, 0, 0, out, 3), out,
                 "K inf");
  K[11] = 0.0;
  V[0] = INFINITY;
  expect_failure(ATT_E_NONFINITE, CALL(3, 4, 3, 3, Q, 3, K, 3, V, 3, 1, 0, 0, out, 3), out,
                 "V inf");
  V[0] = 2.0 * ATT_MAX_VALUE;
  expect_failure(ATT_E_RANGE, CALL(3, 4, 3, 3, Q, 3, K, 3, V, 3, 1, 0, 0, out, 3), out,
                 "V too large");
  V[0] = 0.0;
  Q[0] = 1e300;
  K[0] = 1e300;
  expect_failure(ATT_E_RANGE, CALL(3, 4, 3, 3, Q, 3, K, 3, V, 3, 1, 0, 0, out, 3), out,
                 "logits too large");
  /* Padding is not read: NaN there is fine. */
  Q[0] = 0.0;
  K[0] = 0.0;
  Q[2] = NAN;
  assert_int_equal(CALL(3, 4, 2, 3, Q, 3, K, 3, V, 3, 1, 0, 0, out, 3), ATT_OK);
  for (k = 0; k < 9; ++k) assert_true(isfinite(out[k]));
#undef CALL
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shapes),       cmocka_unit_test(test_causal_first_row),
      cmocka_unit_test(test_large_logits), cmocka_unit_test(test_uniform_rows),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
