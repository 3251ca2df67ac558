/*
 * examples/split_merge.c: the split-K merge with att_query_lse.
 *
 * Attention over a key set K = K1 u K2 can be computed from attention over
 * the two halves: with B1, B2 the outputs and l1, l2 the log-sum-exps of a
 * query row over each half,
 *
 *   l = max(l1, l2) + log(exp(l1 - max) + exp(l2 - max))
 *   B = exp(l1 - l) * B1 + exp(l2 - l) * B2.
 *
 * This program keeps one handle per half of the keys and one with all of
 * them, updates a key in the second half in both places, and checks that the
 * merged rows match the full handle.
 *
 * SPDX-License-Identifier: MIT
 */
#include <dynattn.h>

#include <math.h>
#include <stdio.h>

enum { NQ = 3, NKV = 8, HALF = NKV / 2, DK = 4, DV = 3 };

static int ok(att_status status, const char *what) {
  if (status == ATT_OK) return 1;
  fprintf(stderr, "%s failed: %s (%s)\n", what, att_status_string(status), att_last_error());
  return 0;
}

int main(void) {
  double Q[NQ * DK], K[NKV * DK], V[NKV * DV];
  for (int t = 0; t < NQ * DK; ++t) Q[t] = sin(1.0 + t);
  for (int t = 0; t < NKV * DK; ++t) K[t] = cos(0.5 * t);
  for (int t = 0; t < NKV * DV; ++t) V[t] = (double)(t % 7) - 3.0;
  att_state *all = NULL, *first = NULL, *second = NULL;
  int exit_code = 1;

  /* Row-major halves are plain sub-arrays: rows 0..3 and 4..7. */
  if (!ok(att_init_general(&all, NQ, NKV, DK, DV, ATT_ROW_MAJOR, Q, DK, K, DK, V, DV, NULL),
          "att_init_general (all)") ||
      !ok(att_init_general(&first, NQ, HALF, DK, DV, ATT_ROW_MAJOR, Q, DK, K, DK, V, DV, NULL),
          "att_init_general (first half)") ||
      !ok(att_init_general(&second, NQ, HALF, DK, DV, ATT_ROW_MAJOR, Q, DK, K + HALF * DK, DK,
                           V + HALF * DV, DV, NULL),
          "att_init_general (second half)"))
    goto done;

  /* Key 6 is key 2 of the second half. */
  if (!ok(att_update_k(all, 6, 1, 0.75), "att_update_k") ||
      !ok(att_update_k(second, 6 - HALF, 1, 0.75), "att_update_k"))
    goto done;

  double worst = 0.0;
  for (int64_t i = 0; i < NQ; ++i) {
    double b1[DV], b2[DV], b[DV], l1, l2, l_all;
    if (!ok(att_query_row(first, i, b1), "att_query_row") ||
        !ok(att_query_row(second, i, b2), "att_query_row") ||
        !ok(att_query_row(all, i, b), "att_query_row") ||
        !ok(att_query_lse(first, i, 1, &l1), "att_query_lse") ||
        !ok(att_query_lse(second, i, 1, &l2), "att_query_lse") ||
        !ok(att_query_lse(all, i, 1, &l_all), "att_query_lse"))
      goto done;
    const double top = l1 > l2 ? l1 : l2;
    const double l = top + log(exp(l1 - top) + exp(l2 - top));
    const double w1 = exp(l1 - l), w2 = exp(l2 - l);
    printf("row %lld: merged (", (long long)i);
    for (int j = 0; j < DV; ++j) {
      const double merged = w1 * b1[j] + w2 * b2[j];
      printf("%s%9.6f", j ? ", " : "", merged);
      worst = fmax(worst, fabs(merged - b[j]));
    }
    printf(")  log-sum-exp %9.6f (all keys: %9.6f)\n", l, l_all);
    worst = fmax(worst, fabs(l - l_all));
  }
  printf("largest difference from the handle holding all keys: %.2g\n", worst);
  if (worst <= 1e-12) exit_code = 0;
done:
  att_free(all);
  att_free(first);
  att_free(second);
  return exit_code;
}
