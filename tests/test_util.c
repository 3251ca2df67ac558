/*
 * Shared helpers of the dynattn test suite. See test_util.h.
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

#include "reference.h"
#include "test_util.h"

/* ---- PRNG ---------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void tu_rng_seed(tu_rng *r, uint64_t seed) {
  uint64_t x = seed;
  int i;
  for (i = 0; i < 4; ++i) r->s[i] = splitmix64(&x);
}

uint64_t tu_rng_next(tu_rng *r) {
  uint64_t *s = r->s;
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double tu_uniform(tu_rng *r) { return (double)(tu_rng_next(r) >> 11) * 0x1p-53; }

double tu_range(tu_rng *r, double lo, double hi) { return lo + (hi - lo) * tu_uniform(r); }

double tu_normal(tu_rng *r) {
  double u1 = tu_uniform(r), u2 = tu_uniform(r);
  if (u1 < 0x1p-60) u1 = 0x1p-60;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int64_t tu_below(tu_rng *r, int64_t bound) {
  /* bound is small in every test; the modulo bias (< 2^-40) is irrelevant. */
  return (int64_t)(tu_rng_next(r) % (uint64_t)bound);
}

void tu_fill_uniform(tu_rng *r, double *a, int64_t count, double lo, double hi) {
  int64_t i;
  for (i = 0; i < count; ++i) a[i] = tu_range(r, lo, hi);
}

void tu_fill_normal(tu_rng *r, double *a, int64_t count, double sd) {
  int64_t i;
  for (i = 0; i < count; ++i) a[i] = sd * tu_normal(r);
}

/* ---- Allocation --------------------------------------------------------- */

void *tu_xmalloc(size_t bytes) {
  void *p = malloc(bytes == 0 ? 1 : bytes);
  if (p == NULL) fail_msg("test allocation of %zu bytes failed", bytes);
  return p;
}

double *tu_alloc_doubles(int64_t count) {
  double *p = tu_xmalloc((size_t)count * sizeof *p);
  int64_t i;
  for (i = 0; i < count; ++i) p[i] = 0.0;
  return p;
}

/* ---- Mirror --------------------------------------------------------------- */

void tu_mirror_alloc(tu_mirror *m, int64_t n, int64_t d, double scale) {
  m->n = n;
  m->d = d;
  m->scale = scale;
  m->Q = tu_alloc_doubles(n * d);
  m->K = tu_alloc_doubles(n * d);
  m->V = tu_alloc_doubles(n * d);
}

void tu_mirror_free(tu_mirror *m) {
  free(m->Q);
  free(m->K);
  free(m->V);
  m->Q = m->K = m->V = NULL;
}

void tu_mirror_randomize(tu_mirror *m, tu_rng *r, double qk, double vsd) {
  tu_fill_uniform(r, m->Q, m->n * m->d, -qk, qk);
  tu_fill_uniform(r, m->K, m->n * m->d, -qk, qk);
  tu_fill_normal(r, m->V, m->n * m->d, vsd);
}

/* DYNATTN_TEST_STORAGE=dense or =streamed in the environment makes tu_config
 * and tu_init(m, NULL) ask for that store (other values: the default). */
static int storage_from_env(att_storage *out) {
  const char *s = getenv("DYNATTN_TEST_STORAGE");
  if (s == NULL) return 0;
  if (strcmp(s, "dense") == 0)
    *out = ATT_STORAGE_DENSE;
  else if (strcmp(s, "streamed") == 0)
    *out = ATT_STORAGE_STREAMED;
  else
    return 0;
  return 1;
}

att_config *tu_config(int64_t lazy_limit, double exponent, double scale) {
  att_config *cfg = NULL;
  att_storage storage;
  assert_int_equal(att_config_create(&cfg), ATT_OK);
  assert_non_null(cfg);
  if (storage_from_env(&storage)) assert_int_equal(att_config_set_storage(cfg, storage), ATT_OK);
  if (lazy_limit >= 0)
    assert_int_equal(att_config_set_lazy_limit(cfg, lazy_limit), ATT_OK);
  else if (exponent > 0.0)
    assert_int_equal(att_config_set_lazy_exponent(cfg, exponent), ATT_OK);
  assert_int_equal(att_config_set_logit_scale(cfg, scale), ATT_OK);
  return cfg;
}

att_state *tu_init(const tu_mirror *m, const att_config *cfg) {
  att_state *h = NULL;
  att_config *own = NULL;
  att_storage storage;
  att_status st;
  if (cfg == NULL && storage_from_env(&storage)) {
    assert_int_equal(att_config_create(&own), ATT_OK);
    assert_int_equal(att_config_set_storage(own, storage), ATT_OK);
    cfg = own;
  }
  st = att_init(&h, m->n, m->d, m->Q, m->K, m->V, cfg);
  att_config_free(own);
  if (st != ATT_OK)
    fail_msg("att_init(n=%lld, d=%lld) = %d (%s): %s", (long long)m->n, (long long)m->d, (int)st,
             att_status_string(st), att_last_error());
  assert_non_null(h);
  return h;
}

void tu_update_k(tu_mirror *m, att_state *h, int64_t i, int64_t j, double delta) {
  att_status st = att_update_k(h, i, j, delta);
  if (st != ATT_OK)
    fail_msg("att_update_k(%lld, %lld, %.17g) = %d (%s): %s", (long long)i, (long long)j, delta,
             (int)st, att_status_string(st), att_last_error());
  m->K[i * m->d + j] += delta;
}

void tu_update_v(tu_mirror *m, att_state *h, int64_t i, int64_t j, double delta) {
  att_status st = att_update_v(h, i, j, delta);
  if (st != ATT_OK)
    fail_msg("att_update_v(%lld, %lld, %.17g) = %d (%s): %s", (long long)i, (long long)j, delta,
             (int)st, att_status_string(st), att_last_error());
  m->V[i * m->d + j] += delta;
}

void tu_query_all(const att_state *h, int64_t n, int64_t d, double *out) {
  int64_t i, j;
  for (i = 0; i < n; ++i)
    for (j = 0; j < d; ++j) {
      att_status st = att_query(h, i, j, &out[i * d + j]);
      if (st != ATT_OK)
        fail_msg("att_query(%lld, %lld) = %d (%s): %s", (long long)i, (long long)j, (int)st,
                 att_status_string(st), att_last_error());
    }
}

/* ---- Checker --------------------------------------------------------------- */

static double worst_ratio_seen = 0.0;

double tu_worst_ratio(void) { return worst_ratio_seen; }
void tu_reset_worst_ratio(void) { worst_ratio_seen = 0.0; }

void tu_report(const char *label) {
  const char *v = getenv("DYNATTN_TEST_VERBOSE");
  if (v != NULL && v[0] != '\0' && strcmp(v, "0") != 0)
    print_message("%s: worst error/bound = %.3g\n", label, worst_ratio_seen);
}

int tu_all_finite(const double *a, int64_t count) {
  int64_t i;
  for (i = 0; i < count; ++i)
    if (!isfinite(a[i])) return 0;
  return 1;
}

/* The worst entry seen by one call of the checker. */
typedef struct worst_case {
  double ratio;
  int64_t i, j;
  double got, ref, bound;
  int failed;
} worst_case;

static void compare_entry(const tu_mirror *m, double tol, int64_t i, int64_t j, double got,
                          double ref, double logit_sum, worst_case *w) {
  const double vmax = ref_col_abs_max(m->n, m->d, m->V, j);
  const double bound = ref_tolerance(tol, m->d, logit_sum, vmax);
  const double err = fabs(got - ref);
  double ratio;
  int bad = !isfinite(got) || !(err <= bound);
  if (!isfinite(got))
    ratio = INFINITY;
  else if (bound > 0.0)
    ratio = err / bound;
  else
    ratio = err > 0.0 ? INFINITY : 0.0;
  /* A failing entry always wins over a passing one with a larger ratio. */
  if ((bad && !w->failed) || (bad == w->failed && ratio > w->ratio) || (w->i < 0)) {
    w->ratio = ratio;
    w->i = i;
    w->j = j;
    w->got = got;
    w->ref = ref;
    w->bound = bound;
    w->failed = w->failed || bad;
  }
}

static double finish(const worst_case *w, const tu_mirror *m, const char *label) {
  if (w->failed)
    fail_msg(
        "%s: n=%lld d=%lld: worst entry (i=%lld, j=%lld): query=%.17g "
        "reference=%.17g |diff|=%.3g > bound=%.3g (ratio %.3g)",
        label, (long long)m->n, (long long)m->d, (long long)w->i, (long long)w->j, w->got, w->ref,
        fabs(w->got - w->ref), w->bound, w->ratio);
  if (w->ratio > worst_ratio_seen) worst_ratio_seen = w->ratio;
  return w->ratio;
}

double tu_check_all(const att_state *h, const tu_mirror *m, double tol, const char *label) {
  const int64_t n = m->n, d = m->d;
  double *got = tu_xmalloc((size_t)(n * d) * sizeof *got);
  double *ref = tu_xmalloc((size_t)(n * d) * sizeof *ref);
  worst_case w = {0.0, -1, -1, 0.0, 0.0, 0.0, 0};
  int64_t i, j;
  double ratio;
  tu_query_all(h, n, d, got);
  ref_attention(n, d, m->Q, m->K, m->V, m->scale, ref);
  for (i = 0; i < n; ++i) {
    const double logit_sum = ref_row_logit_abs_sum(n, d, m->Q, m->K, m->scale, i);
    for (j = 0; j < d; ++j)
      compare_entry(m, tol, i, j, got[i * d + j], ref[i * d + j], logit_sum, &w);
  }
  free(got);
  free(ref);
  ratio = finish(&w, m, label);
  return ratio;
}

double tu_check_entry(const att_state *h, const tu_mirror *m, int64_t i, int64_t j, double tol,
                      const char *label) {
  double *ref = tu_xmalloc((size_t)m->d * sizeof *ref);
  worst_case w = {0.0, -1, -1, 0.0, 0.0, 0.0, 0};
  double got = NAN;
  att_status st = att_query(h, i, j, &got);
  if (st != ATT_OK)
    fail_msg("%s: att_query(%lld, %lld) = %d (%s): %s", label, (long long)i, (long long)j, (int)st,
             att_status_string(st), att_last_error());
  ref_attention_row(m->n, m->d, m->Q, m->K, m->V, m->scale, i, ref);
  compare_entry(m, tol, i, j, got, ref[j],
                ref_row_logit_abs_sum(m->n, m->d, m->Q, m->K, m->scale, i), &w);
  free(ref);
  return finish(&w, m, label);
}
