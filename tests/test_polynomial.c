/*
 * The polynomial method, att_attention_poly() and att_poly_plan(): results
 * within the error bound they report (and within the requested tolerance)
 * against the long-double reference, for random and adversarial bounded
 * inputs (logits at both ends of [-R, R]), both layouts, d = 1 and n = 1;
 * the rank C(d + g, g); Chebyshev's bound below Taylor's; and refusals with
 * ATT_E_APPROXIMATION (unbounded entries, a polynomial that is not positive,
 * a rank beyond the limit) that leave the output untouched.
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
#include "static_util.h"
#include "test_util.h"

#define SENTINEL 31.5

static int64_t binomial(int64_t d, int64_t g) {
  long double r = 1.0L;
  int64_t k;
  for (k = 1; k <= g; ++k) r = r * (long double)(d + k) / (long double)k;
  return (int64_t)(r + 0.5L);
}

static att_poly_config *config(double tol, int64_t degree, att_poly_basis basis, int64_t max_rank) {
  att_poly_config *c = NULL;
  assert_int_equal(att_poly_config_create(&c), ATT_OK);
  assert_non_null(c);
  if (tol > 0.0) assert_int_equal(att_poly_config_set_tolerance(c, tol), ATT_OK);
  assert_int_equal(att_poly_config_set_degree(c, degree), ATT_OK);
  assert_int_equal(att_poly_config_set_basis(c, basis), ATT_OK);
  assert_int_equal(att_poly_config_set_max_rank(c, max_rank), ATT_OK);
  return c;
}

typedef struct run {
  int64_t degree, rank;
  double bound, error;
} run;

/* Runs the polynomial method on row-major Q, K, V (packed into `layout` with
 * padding `pad`) and measures the scaled error against the reference. */
static run run_poly(int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v, const double *Q,
                    const double *K, const double *V, double scale, const att_poly_config *cfg,
                    att_layout layout, int64_t pad) {
  const int row = layout == ATT_ROW_MAJOR;
  const int64_t ldq = (row ? d_k : n_q) + pad, ldk = (row ? d_k : n_kv) + pad;
  const int64_t ldv = (row ? d_v : n_kv) + pad, ldo = (row ? d_v : n_q) + pad;
  double *Qp = su_pack(Q, n_q, d_k, layout, ldq), *Kp = su_pack(K, n_kv, d_k, layout, ldk);
  double *Vp = su_pack(V, n_kv, d_v, layout, ldv);
  double *out = su_output(n_q, d_v, layout, ldo, SENTINEL);
  long double *B = (long double *)tu_xmalloc((size_t)(n_q * d_v) * sizeof *B);
  run res = {-1, -1, -1.0, -1.0};
  att_status st = att_attention_poly(n_q, n_kv, d_k, d_v, Qp, ldq, Kp, ldk, Vp, ldv, scale, layout,
                                     cfg, out, ldo, &res.degree, &res.rank, &res.bound);
  if (st != ATT_OK) fail_msg("att_attention_poly: status %d: %s", (int)st, att_last_error());
  assert_true(su_padding_intact(out, n_q, d_v, layout, ldo, SENTINEL));
  su_attention(n_q, n_kv, d_k, d_v, Q, K, V, scale, 0, B, NULL);
  res.error = su_scaled_error(out, layout, ldo, B, n_q, n_kv, d_v, V);
  assert_int_equal(res.rank, binomial(d_k, res.degree));
  free(Qp);
  free(Kp);
  free(Vp);
  free(out);
  free(B);
  return res;
}

typedef struct input {
  int64_t n_q, n_kv, d_k, d_v;
  double *Q, *K, *V;
} input;

/* Entries uniform in [-b, b] (the paper's bounded entries). */
static input bounded(tu_rng *r, int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v, double b) {
  input in = {n_q, n_kv, d_k, d_v, NULL, NULL, NULL};
  in.Q = tu_alloc_doubles(n_q * d_k);
  in.K = tu_alloc_doubles(n_kv * d_k);
  in.V = tu_alloc_doubles(n_kv * d_v);
  tu_fill_uniform(r, in.Q, n_q * d_k, -b, b);
  tu_fill_uniform(r, in.K, n_kv * d_k, -b, b);
  tu_fill_normal(r, in.V, n_kv * d_v, 1.0);
  return in;
}

static void input_free(input *in) {
  free(in->Q);
  free(in->K);
  free(in->V);
}

/* Automatic degree: the result meets the reported bound, which meets the
 * tolerance. */
static void test_tolerance_met(void **state) {
  static const struct {
    int64_t n_q, n_kv, d_k, d_v;
    double b, tol;
  } cases[] = {
      {300, 400, 4, 3, 1.0, 1e-6}, {257, 129, 2, 5, 1.5, 1e-9},  {1, 600, 3, 2, 1.0, 1e-6},
      {500, 1, 3, 2, 1.0, 1e-6},   {400, 300, 1, 1, 2.0, 1e-10}, {200, 700, 8, 4, 1.0, 1e-4},
  };
  tu_rng r;
  size_t k;
  (void)state;
  tu_rng_seed(&r, 801);
  for (k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
    input in = bounded(&r, cases[k].n_q, cases[k].n_kv, cases[k].d_k, cases[k].d_v, cases[k].b);
    /* An explicit rank limit: at these small n the automatic one (break-even
     * with the exact method) would refuse most degrees; test_refusals covers
     * it. */
    att_poly_config *cfg = config(cases[k].tol, -1, ATT_POLY_CHEBYSHEV, 1 << 20);
    const run res =
        run_poly(in.n_q, in.n_kv, in.d_k, in.d_v, in.Q, in.K, in.V, 1.0 / (double)in.d_k, cfg,
                 k % 2 ? ATT_COL_MAJOR : ATT_ROW_MAJOR, (int64_t)k % 3);
    if (!(res.error <= res.bound && res.bound <= cases[k].tol))
      fail_msg("case %zu: error %g, bound %g, tolerance %g (degree %lld)", k, res.error, res.bound,
               cases[k].tol, (long long)res.degree);
    att_poly_config_free(cfg);
    input_free(&in);
  }
}

/* Fixed degrees, both bases: error <= bound, bounds fall with the degree, and
 * Chebyshev's bound is below Taylor's (the default's justification). */
static void test_degrees(void **state) {
  tu_rng r;
  input in;
  int64_t g;
  double previous[2] = {INFINITY, INFINITY};
  (void)state;
  tu_rng_seed(&r, 802);
  in = bounded(&r, 300, 300, 3, 2, 1.2);
  for (g = 3; g <= 8; ++g) {
    int basis;
    double bounds[2];
    for (basis = 0; basis < 2; ++basis) {
      att_poly_config *cfg = config(0.0, g, (att_poly_basis)basis, 1 << 20);
      const run res = run_poly(in.n_q, in.n_kv, in.d_k, in.d_v, in.Q, in.K, in.V, 1.0 / 3.0, cfg,
                               ATT_ROW_MAJOR, 0);
      assert_int_equal(res.degree, g);
      if (!(res.error <= res.bound))
        fail_msg("basis %d degree %lld: error %g > bound %g", basis, (long long)g, res.error,
                 res.bound);
      assert_true(res.bound < previous[basis]);
      previous[basis] = res.bound;
      bounds[basis] = res.bound;
      att_poly_config_free(cfg);
    }
    assert_true(bounds[ATT_POLY_CHEBYSHEV] < bounds[ATT_POLY_TAYLOR]);
  }
  input_free(&in);
}

/* Adversarial bounded input: every key is +-(a query), so logits reach both
 * ends of [-R, R] where the polynomial's error is largest. */
static void test_extreme_logits(void **state) {
  tu_rng r;
  input in;
  int64_t i, t;
  att_poly_config *cfg = config(1e-7, -1, ATT_POLY_CHEBYSHEV, 1 << 20);
  run res;
  (void)state;
  tu_rng_seed(&r, 803);
  in = bounded(&r, 256, 512, 4, 3, 1.0);
  for (i = 0; i < in.n_kv; ++i)
    for (t = 0; t < in.d_k; ++t)
      in.K[i * in.d_k + t] = (i % 2 ? -1.0 : 1.0) * in.Q[(i / 2) * in.d_k + t];
  /* The row of largest norm attains R = s max|q|^2. */
  res = run_poly(in.n_q, in.n_kv, in.d_k, in.d_v, in.Q, in.K, in.V, 0.5, cfg, ATT_COL_MAJOR, 1);
  if (!(res.error <= res.bound && res.bound <= 1e-7))
    fail_msg("error %g, bound %g", res.error, res.bound);
  att_poly_config_free(cfg);
  input_free(&in);
}

static void expect_refusal(const input *in, double scale, const att_poly_config *cfg,
                           const char *what, int64_t *degree, int64_t *rank) {
  double *out = su_output(in->n_q, in->d_v, ATT_ROW_MAJOR, in->d_v, SENTINEL);
  double bound = -7.0;
  int64_t k;
  const att_status st =
      att_attention_poly(in->n_q, in->n_kv, in->d_k, in->d_v, in->Q, in->d_k, in->K, in->d_k, in->V,
                         in->d_v, scale, ATT_ROW_MAJOR, cfg, out, in->d_v, degree, rank, &bound);
  if (st != ATT_E_APPROXIMATION)
    fail_msg("%s: expected ATT_E_APPROXIMATION, got %d (%s)", what, (int)st, att_last_error());
  assert_true(strlen(att_last_error()) > 0);
  assert_true(bound == -7.0);
  for (k = 0; k < in->n_q * in->d_v; ++k)
    if (out[k] != SENTINEL) fail_msg("%s: out written", what);
  free(out);
}

/* Unusable inputs are refused with ATT_E_APPROXIMATION, never answered
 * wrongly. */
static void test_refusals(void **state) {
  tu_rng r;
  input in;
  int64_t degree = -1, rank = -1;
  att_poly_config *cfg;
  (void)state;
  tu_rng_seed(&r, 804);
  /* Unbounded entries: logits up to ~100, no degree <= 64 reaches 1e-6. */
  in = bounded(&r, 64, 64, 4, 2, 10.0);
  expect_refusal(&in, 1.0, NULL, "large entries", &degree, &rank);
  assert_int_equal(degree, 65);
  /* A low fixed degree on that range is not positive. */
  cfg = config(0.0, 3, ATT_POLY_TAYLOR, 0);
  expect_refusal(&in, 1.0, cfg, "degree 3 on [-100, 100]", &degree, &rank);
  assert_int_equal(degree, 3);
  assert_int_equal(rank, binomial(4, 3));
  att_poly_config_free(cfg);
  input_free(&in);
  /* Moderate logits in d = 16: the degree is fine but its rank is far beyond
   * what beats the exact method at n = 64. */
  in = bounded(&r, 64, 64, 16, 2, 1.0);
  expect_refusal(&in, 1.0 / 16.0, NULL, "rank beyond break-even", &degree, &rank);
  assert_true(degree >= 4);
  assert_int_equal(rank, binomial(16, degree));
  /* An explicit small rank limit. */
  cfg = config(0.0, 2, ATT_POLY_CHEBYSHEV, 100);
  expect_refusal(&in, 1.0 / 16.0, cfg, "explicit rank limit", &degree, &rank);
  assert_int_equal(rank, binomial(16, 2));
  att_poly_config_free(cfg);
  input_free(&in);
}

/* The planner agrees with the function and scales as the paper says: the
 * degree needed for a fixed tolerance grows with R, and r = C(d + g, g). */
static void test_plan(void **state) {
  int64_t g = -1, r = -1, g_prev = -1;
  double bound = -1.0, R;
  att_poly_config *cfg = config(1e-8, -1, ATT_POLY_CHEBYSHEV, 0);
  (void)state;
  for (R = 0.0; R <= 8.0; R += 0.5) {
    const att_status st = att_poly_plan(1000000, 1000000, 4, 4, R, cfg, &g, &r, &bound);
    assert_int_equal(st, ATT_OK);
    assert_true(g >= g_prev);
    assert_true(bound <= 1e-8);
    assert_int_equal(r, binomial(4, g));
    g_prev = g;
  }
  assert_int_equal(att_poly_plan(100, 100, 4, 4, 0.0, NULL, &g, &r, &bound), ATT_OK);
  assert_true(g <= 2);
  /* Saturated rank for a huge d. */
  assert_int_equal(att_poly_plan(10, 10, INT64_C(2000000000), 1, 1.0, cfg, &g, &r, &bound),
                   ATT_E_APPROXIMATION);
  assert_true(r > INT64_C(1) << 40);
  /* C(82, 64) = 585151976303390925 fits in 64 bits although a product on
   * the way to it does not. */
  {
    att_poly_config *fixed = config(1e-8, 64, ATT_POLY_CHEBYSHEV, 0);
    assert_int_equal(att_poly_plan(10, 10, 18, 1, 1.0, fixed, &g, &r, &bound), ATT_E_APPROXIMATION);
    assert_int_equal(g, 64);
    assert_true(r == INT64_C(585151976303390925));
    att_poly_config_free(fixed);
  }
  assert_int_equal(att_poly_plan(10, 10, 4, 4, -1.0, cfg, &g, &r, &bound), ATT_E_CONFIG);
  assert_int_equal(att_poly_plan(10, 10, 4, 4, NAN, cfg, &g, &r, &bound), ATT_E_CONFIG);
  assert_int_equal(att_poly_plan(0, 10, 4, 4, 1.0, cfg, &g, &r, &bound), ATT_E_SIZE);
  assert_int_equal(att_poly_plan(100000, 100000, 4, 4, 1.0, cfg, NULL, NULL, NULL), ATT_OK);
  /* Logit bounds so large that the polynomial's coefficients overflow a
   * double (about e^R) are refused, whatever the degree: the error estimate
   * was NaN, and taken for 0. */
  {
    static const double huge[] = {740.0, 12000.0, 1e6};
    att_poly_config *fixed = config(1e-8, 2, ATT_POLY_CHEBYSHEV, 0);
    size_t i;
    for (i = 0; i < sizeof huge / sizeof huge[0]; ++i) {
      assert_int_equal(att_poly_plan(1000000, 1000000, 1, 1, huge[i], cfg, &g, &r, &bound),
                       ATT_E_APPROXIMATION);
      assert_true(strstr(att_last_error(), "no degree") != NULL);
      assert_int_equal(att_poly_plan(1000000, 1000000, 1, 1, huge[i], fixed, &g, &r, &bound),
                       ATT_E_APPROXIMATION);
      assert_true(strstr(att_last_error(), "relative error inf") != NULL);
    }
    att_poly_config_free(fixed);
  }
  /* Tiny problems: the exact method is cheaper than any useful rank. */
  assert_int_equal(att_poly_plan(10, 10, 4, 4, 1.0, cfg, &g, &r, &bound), ATT_E_APPROXIMATION);
  assert_true(strstr(att_last_error(), "exact method is faster") != NULL);
  att_poly_config_free(cfg);
}

static void test_config_errors(void **state) {
  att_poly_config *cfg = NULL;
  double Q[4] = {0.1, 0.2, 0.3, 0.4}, out[4] = {SENTINEL, SENTINEL, SENTINEL, SENTINEL};
  (void)state;
  assert_int_equal(att_poly_config_create(NULL), ATT_E_NULL);
  assert_int_equal(att_poly_config_create(&cfg), ATT_OK);
  assert_int_equal(att_poly_config_set_tolerance(NULL, 1e-3), ATT_E_NULL);
  assert_int_equal(att_poly_config_set_tolerance(cfg, 0.0), ATT_E_CONFIG);
  assert_int_equal(att_poly_config_set_tolerance(cfg, 1.0), ATT_E_CONFIG);
  assert_int_equal(att_poly_config_set_tolerance(cfg, 1e-16), ATT_E_CONFIG);
  assert_int_equal(att_poly_config_set_tolerance(cfg, NAN), ATT_E_CONFIG);
  assert_int_equal(att_poly_config_set_degree(cfg, -2), ATT_E_CONFIG);
  assert_int_equal(att_poly_config_set_degree(cfg, 65), ATT_E_CONFIG);
  assert_int_equal(att_poly_config_set_degree(NULL, 3), ATT_E_NULL);
  assert_int_equal(att_poly_config_set_max_rank(cfg, -1), ATT_E_CONFIG);
  assert_int_equal(att_poly_config_set_max_rank(cfg, INT64_C(1) << 31), ATT_E_CONFIG);
  assert_int_equal(att_poly_config_set_basis(cfg, (att_poly_basis)2), ATT_E_CONFIG);
  assert_int_equal(att_poly_config_set_basis(NULL, ATT_POLY_TAYLOR), ATT_E_NULL);
  att_poly_config_free(cfg);
  att_poly_config_free(NULL);
  /* Argument checks shared with att_attention. */
  Q[1] = NAN;
  assert_int_equal(att_attention_poly(2, 2, 2, 2, Q, 2, Q, 2, Q, 2, 1.0, ATT_ROW_MAJOR, NULL, out,
                                      2, NULL, NULL, NULL),
                   ATT_E_NONFINITE);
  Q[1] = 0.2;
  assert_int_equal(att_attention_poly(2, 2, 2, 2, Q, 2, Q, 1, Q, 2, 1.0, ATT_ROW_MAJOR, NULL, out,
                                      2, NULL, NULL, NULL),
                   ATT_E_SIZE);
  assert_int_equal(att_attention_poly(2, 2, 2, 2, Q, 2, Q, 2, Q, 2, -1.0, ATT_ROW_MAJOR, NULL, out,
                                      2, NULL, NULL, NULL),
                   ATT_E_CONFIG);
  assert_int_equal(att_attention_poly(2, 2, 2, 2, Q, 2, Q, 2, NULL, 2, 1.0, ATT_ROW_MAJOR, NULL,
                                      out, 2, NULL, NULL, NULL),
                   ATT_E_NULL);
  assert_true(out[0] == SENTINEL && out[3] == SENTINEL);
  cfg = config(0.0, -1, ATT_POLY_CHEBYSHEV, 1000);
  assert_int_equal(att_attention_poly(2, 2, 2, 2, Q, 2, Q, 2, Q, 2, 1.0, ATT_ROW_MAJOR, cfg, out, 2,
                                      NULL, NULL, NULL),
                   ATT_OK);
  assert_true(isfinite(out[0]) && out[0] != SENTINEL);
  att_poly_config_free(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tolerance_met),  cmocka_unit_test(test_degrees),
      cmocka_unit_test(test_extreme_logits), cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_plan),           cmocka_unit_test(test_config_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
