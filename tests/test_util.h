/*
 * Shared helpers of the dynattn test suite: a seeded PRNG, random matrices,
 * a mirror of the current Q, K, V, whole-handle queries and the checker that
 * compares a handle against the long-double reference (reference.h).
 *
 * SPDX-License-Identifier: MIT
 *
 * Include order for users: <stdarg.h>, <stddef.h>, <stdint.h>, <setjmp.h>,
 * <cmocka.h>, then this header (cmocka needs the first four).
 */
#ifndef DYNATTN_TESTS_TEST_UTIL_H
#define DYNATTN_TESTS_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "dynattn.h"

/* ---- PRNG: xoshiro256** seeded through splitmix64 ---------------------- */

typedef struct tu_rng {
  uint64_t s[4];
} tu_rng;

void tu_rng_seed(tu_rng *r, uint64_t seed);
uint64_t tu_rng_next(tu_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double tu_uniform(tu_rng *r);
/* Uniform in [lo, hi). */
double tu_range(tu_rng *r, double lo, double hi);
/* Standard normal (Box-Muller). */
double tu_normal(tu_rng *r);
/* Uniform integer in [0, bound), bound >= 1. */
int64_t tu_below(tu_rng *r, int64_t bound);

void tu_fill_uniform(tu_rng *r, double *a, int64_t count, double lo, double hi);
void tu_fill_normal(tu_rng *r, double *a, int64_t count, double sd);

/* ---- Allocation that fails the test instead of returning NULL --------- */

void *tu_xmalloc(size_t bytes);
double *tu_alloc_doubles(int64_t count); /* zero-filled */

/* ---- Mirror: the test's own copy of the current problem ---------------- */

typedef struct tu_mirror {
  int64_t n, d;
  double scale; /* the logit scale the handle was configured with */
  double *Q, *K, *V;
} tu_mirror;

/* Zero-filled n x d Q, K, V. */
void tu_mirror_alloc(tu_mirror *m, int64_t n, int64_t d, double scale);
void tu_mirror_free(tu_mirror *m);

/* Fill Q, K uniform in [-qk, qk) and V normal with standard deviation vsd. */
void tu_mirror_randomize(tu_mirror *m, tu_rng *r, double qk, double vsd);

/* A configuration: lazy_limit >= 0 sets att_config_set_lazy_limit (0 is the
 * automatic choice), else exponent > 0 sets att_config_set_lazy_exponent;
 * the logit scale is always set. Asserts success. Free with
 * att_config_free(). */
att_config *tu_config(int64_t lazy_limit, double exponent, double scale);

/* att_init from the mirror; asserts ATT_OK and returns the handle. */
att_state *tu_init(const tu_mirror *m, const att_config *cfg);

/* K[i][j] += delta / V[i][j] += delta on both the handle and the mirror;
 * asserts ATT_OK. The mirror does exactly the double addition the library
 * documents, so both hold bitwise the same K and V. */
void tu_update_k(tu_mirror *m, att_state *h, int64_t i, int64_t j, double delta);
void tu_update_v(tu_mirror *m, att_state *h, int64_t i, int64_t j, double delta);

/* out[i*d + j] = att_query(h, i, j) for every entry; asserts ATT_OK. */
void tu_query_all(const att_state *h, int64_t n, int64_t d, double *out);

/* ---- The checker --------------------------------------------------------
 * Asserts |query(i,j) - reference(i,j)| <= ref_tolerance(tol, ...) and that
 * every query is finite, for every entry (tu_check_all) or one entry
 * (tu_check_entry). On failure it reports the label, the worst (i, j), the
 * value, the reference and the bound, and fails the current cmocka test.
 * Returns the worst ratio error / bound seen (< 1 on success). */
double tu_check_all(const att_state *h, const tu_mirror *m, double tol, const char *label);
double tu_check_entry(const att_state *h, const tu_mirror *m, int64_t i, int64_t j, double tol,
                      const char *label);

/* Largest ratio error / bound seen by the checker since the last reset
 * (reported by the tests when DYNATTN_TEST_VERBOSE is set). */
double tu_worst_ratio(void);
void tu_reset_worst_ratio(void);
/* Print "label: worst error/bound = x" when DYNATTN_TEST_VERBOSE is set. */
void tu_report(const char *label);

/* Every entry of a[0..count) is finite. */
int tu_all_finite(const double *a, int64_t count);

#endif /* DYNATTN_TESTS_TEST_UTIL_H */
