/*
 * The reduction of the paper's lower bound (Lemma 5.9, section 5.4), run
 * through the library: a Boolean matrix product M P V is read off attention
 * queries after a few key updates.
 *
 * SPDX-License-Identifier: MIT
 *
 * Construction (paper indices made 0-based; N = 2n):
 *   Q~ = [[M, 1-M], [0, 0]]   (N x N)     K~ = 0 (N x N) at init
 *   V~ = [[V, 0], [0, 0]]     (V in the top-left n x n block)
 * Phase 2 sets K~ = diag(P, P) with one update_k(c, c, 1) per nonzero of the
 * diagonal 0/1 matrix P (K~ is diagonal, so K~^T = K~ = P~). Then for i < n
 * the logit (Q~ K~^T)[i][c] is 1 exactly when Q~[i][c] = 1 and P~[c] = 1.
 * For every c < n exactly one of Q~[i][c], Q~[i][c+n] is 1, so row i has
 * nnz(P) entries e and 2n - nnz(P) entries 1:
 *   D_i = 2n + nnz(P) (e - 1),
 *   B[i][j] D_i - sum_{c<n} V[c][j] = (e - 1) * #{c : M[i][c] P[c] V[c][j] = 1}
 * so the Boolean product (M P V)[i][j] is 1 exactly when that difference is
 * above 0.5 (it is 0 or at least e - 1 = 1.718...). Rows i >= n of Q~ are
 * zero: their B rows are the column means of V~.
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

#define TOL 1e-10
#define E_MINUS_1 1.718281828459045235360287471352662498L

typedef struct instance {
  int64_t n;
  unsigned char *M, *V; /* n x n Boolean */
  unsigned char *P;     /* the diagonal of P, length n */
  int64_t nnz;
} instance;

static void instance_make(instance *in, int64_t n, double tau, tu_rng *r, double density) {
  int64_t t, placed = 0;
  in->n = n;
  in->M = tu_xmalloc((size_t)(n * n));
  in->V = tu_xmalloc((size_t)(n * n));
  in->P = tu_xmalloc((size_t)n);
  for (t = 0; t < n * n; ++t) {
    in->M[t] = tu_uniform(r) < density;
    in->V[t] = tu_uniform(r) < density;
  }
  for (t = 0; t < n; ++t) in->P[t] = 0;
  in->nnz = (int64_t)ceil(pow((double)n, tau));
  while (placed < in->nnz) {
    const int64_t c = tu_below(r, n);
    if (!in->P[c]) {
      in->P[c] = 1;
      ++placed;
    }
  }
}

static void instance_free(instance *in) {
  free(in->M);
  free(in->V);
  free(in->P);
}

/* The Boolean product (M P V)[i][j], directly. */
static int boolean_mpv(const instance *in, int64_t i, int64_t j) {
  int64_t c;
  for (c = 0; c < in->n; ++c)
    if (in->M[i * in->n + c] && in->P[c] && in->V[c * in->n + j]) return 1;
  return 0;
}

static int64_t count_mpv(const instance *in, int64_t i, int64_t j) {
  int64_t c, cnt = 0;
  for (c = 0; c < in->n; ++c) cnt += in->M[i * in->n + c] && in->P[c] && in->V[c * in->n + j];
  return cnt;
}

/* Phase 1: the ODAMV instance of size N = 2n with K~ = 0. */
static void build_phase1(const instance *in, tu_mirror *m) {
  const int64_t n = in->n, N = 2 * n;
  int64_t i, c;
  tu_mirror_alloc(m, N, N, 1.0); /* zero-filled; the paper's s = 1 */
  for (i = 0; i < n; ++i)
    for (c = 0; c < n; ++c) {
      m->Q[i * N + c] = in->M[i * n + c];
      m->Q[i * N + c + n] = 1.0 - in->M[i * n + c];
      m->V[i * N + c] = in->V[i * n + c];
    }
}

/* Phase 2: set K~ = diag(P, P) through update_k, in a random order. */
static void phase2_apply(const instance *in, tu_mirror *m, att_state *h, tu_rng *r, double sign) {
  const int64_t n = in->n;
  int64_t *order = tu_xmalloc((size_t)(2 * n) * sizeof *order);
  int64_t cnt = 0, t;
  for (t = 0; t < n; ++t)
    if (in->P[t]) {
      order[cnt++] = t;
      order[cnt++] = t + n;
    }
  for (t = cnt - 1; t > 0; --t) { /* Fisher-Yates */
    const int64_t u = tu_below(r, t + 1);
    const int64_t tmp = order[t];
    order[t] = order[u];
    order[u] = tmp;
  }
  for (t = 0; t < cnt; ++t) tu_update_k(m, h, order[t], order[t], sign);
  free(order);
}

/* Phase 3: recover M P V from queries and compare with the direct product. */
static void phase3_check(const instance *in, const tu_mirror *m, const att_state *h,
                         const char *label) {
  const int64_t n = in->n, N = 2 * n;
  const long double Di = (long double)(2 * n) + (long double)in->nnz * E_MINUS_1;
  int64_t i, j, c;
  int64_t ones = 0;
  for (i = 0; i < n; ++i)
    for (j = 0; j < n; ++j) {
      double b;
      long double colsum = 0.0L, recovered;
      const int expect = boolean_mpv(in, i, j);
      assert_int_equal(att_query(h, i, j, &b), ATT_OK);
      for (c = 0; c < n; ++c) colsum += in->V[c * n + j];
      recovered = (long double)b * Di - colsum;
      if ((recovered > 0.5L) != expect)
        fail_msg(
            "%s: (M P V)[%lld][%lld] is %d but the attention query gives B=%.17g, "
            "B*D_i - sum V = %.6Lg",
            label, (long long)i, (long long)j, expect, b, recovered);
      /* Stronger: the recovered count is (e - 1) times an integer. */
      if (fabsl(recovered - E_MINUS_1 * (long double)count_mpv(in, i, j)) > 1e-8L)
        fail_msg("%s: (%lld, %lld): recovered %.12Lg, expected (e-1)*%lld", label, (long long)i,
                 (long long)j, recovered, (long long)count_mpv(in, i, j));
      ones += expect;
    }
  (void)ones;
  /* Rows n..N-1 of Q~ are zero: B there is the plain column mean of V~. */
  for (i = n; i < N; ++i)
    for (j = 0; j < N; ++j) {
      double b;
      long double mean = 0.0L;
      assert_int_equal(att_query(h, i, j, &b), ATT_OK);
      for (c = 0; c < N; ++c) mean += m->V[c * N + j];
      mean /= (long double)N;
      assert_true(fabsl((long double)b - mean) <= 1e-12L);
    }
  /* Columns n..N-1 of V~ are zero: B is exactly zero there. */
  for (i = 0; i < N; ++i)
    for (j = n; j < N; ++j) {
      double b = 1.0;
      assert_int_equal(att_query(h, i, j, &b), ATT_OK);
      assert_true(b == 0.0);
    }
  tu_check_all(h, m, TOL, label);
}

static void run_reduction(int64_t n, double tau, int64_t lazy_limit, uint64_t seed) {
  tu_rng r;
  instance in;
  tu_mirror m;
  att_config *cfg = tu_config(lazy_limit, 0.0, 1.0);
  att_state *h;
  char label[128];
  tu_rng_seed(&r, seed);
  instance_make(&in, n, tau, &r, 0.3);
  build_phase1(&in, &m);
  h = tu_init(&m, cfg);
  att_config_free(cfg);
  snprintf(label, sizeof label, "Lemma 5.9 n=%lld tau=%g k=%lld seed=%llu phase 1", (long long)n,
           tau, (long long)lazy_limit, (unsigned long long)seed);
  tu_check_all(h, &m, TOL, label);

  phase2_apply(&in, &m, h, &r, 1.0);
  snprintf(label, sizeof label, "Lemma 5.9 n=%lld tau=%g k=%lld seed=%llu", (long long)n, tau,
           (long long)lazy_limit, (unsigned long long)seed);
  phase3_check(&in, &m, h, label);

  /* The same handle answers a second instance: undo P, draw a new P,
   * apply it, and recover M P' V. */
  phase2_apply(&in, &m, h, &r, -1.0);
  tu_check_all(h, &m, TOL, "after undoing P");
  {
    int64_t t, placed = 0;
    for (t = 0; t < n; ++t) in.P[t] = 0;
    while (placed < in.nnz) {
      const int64_t c = tu_below(&r, n);
      if (!in.P[c]) {
        in.P[c] = 1;
        ++placed;
      }
    }
  }
  phase2_apply(&in, &m, h, &r, 1.0);
  snprintf(label, sizeof label, "Lemma 5.9 n=%lld tau=%g k=%lld seed=%llu second P", (long long)n,
           tau, (long long)lazy_limit, (unsigned long long)seed);
  phase3_check(&in, &m, h, label);

  att_free(h);
  tu_mirror_free(&m);
  instance_free(&in);
}

static void test_lemma_5_9(void **state) {
  static const int64_t limits[] = {1, 3, 0};
  static const int64_t sizes[] = {16, 24};
  size_t a, b;
  uint64_t seed;
  (void)state;
  tu_reset_worst_ratio();
  for (a = 0; a < sizeof limits / sizeof limits[0]; ++a)
    for (b = 0; b < sizeof sizes / sizeof sizes[0]; ++b)
      for (seed = 1; seed <= 4; ++seed)
        run_reduction(sizes[b], 0.5, limits[a], seed * 1000 + (uint64_t)sizes[b]);
  tu_report("test_lemma_5_9");
}

/* tau = 1 (P = I, every key updated) and a denser M, V. */
static void test_lemma_5_9_dense(void **state) {
  static const int64_t limits[] = {1, 3, 0, 100000};
  size_t a;
  (void)state;
  for (a = 0; a < sizeof limits / sizeof limits[0]; ++a) {
    run_reduction(16, 1.0, limits[a], 77 + a);
    run_reduction(20, 0.75, limits[a], 99 + a);
  }
}

/* The checker itself: with a wrong P the recovery must disagree with the
 * direct product (the test can fail). */
static void test_reduction_detects_wrong_answer(void **state) {
  tu_rng r;
  instance in;
  tu_mirror m;
  att_state *h;
  int64_t i, j, c, mismatches = 0;
  const int64_t n = 16;
  long double Di;
  (void)state;
  tu_rng_seed(&r, 4711);
  instance_make(&in, n, 0.5, &r, 0.5);
  build_phase1(&in, &m);
  h = tu_init(&m, NULL);
  /* Do not apply phase 2: the data structure answers for P = 0. */
  Di = (long double)(2 * n) + (long double)in.nnz * E_MINUS_1;
  for (i = 0; i < n; ++i)
    for (j = 0; j < n; ++j) {
      double b;
      long double colsum = 0.0L;
      assert_int_equal(att_query(h, i, j, &b), ATT_OK);
      for (c = 0; c < n; ++c) colsum += in.V[c * n + j];
      mismatches += ((long double)b * Di - colsum > 0.5L) != boolean_mpv(&in, i, j);
    }
  assert_true(mismatches > 0);
  att_free(h);
  tu_mirror_free(&m);
  instance_free(&in);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lemma_5_9),
      cmocka_unit_test(test_lemma_5_9_dense),
      cmocka_unit_test(test_reduction_detects_wrong_answer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
