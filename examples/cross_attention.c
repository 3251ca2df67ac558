/*
 * examples/cross_attention.c: cross-attention with general shapes.
 *
 * Two query rows attend to four key/value rows; keys have three features and
 * values two. The inputs are column-major, as a Julia or Fortran caller holds
 * them, and are passed without copying on the caller's side. A key vector is
 * replaced whole, a batch of value entries changes in one call, and whole
 * output rows and their log-sum-exps are read back.
 *
 * SPDX-License-Identifier: MIT
 */
#include <dynattn.h>

#include <stdio.h>

enum { NQ = 2, NKV = 4, DK = 3, DV = 2 };

static int ok(att_status status, const char *what) {
  if (status == ATT_OK) return 1;
  fprintf(stderr, "%s failed: %s (%s)\n", what, att_status_string(status), att_last_error());
  return 0;
}

static int print_rows(const att_state *s, const char *label) {
  double b[NQ * DV], lse[NQ];
  if (!ok(att_output(s, ATT_ROW_MAJOR, b, DV), "att_output")) return 0;
  if (!ok(att_query_lse(s, 0, NQ, lse), "att_query_lse")) return 0;
  printf("%s\n", label);
  for (int i = 0; i < NQ; ++i)
    printf("  B[%d] = (%9.6f, %9.6f)   log-sum-exp %9.6f\n", i, b[i * DV], b[i * DV + 1], lse[i]);
  return 1;
}

int main(void) {
  /* Column-major: element [i][j] at i + j * ld, here ld = number of rows. */
  const double Q[NQ * DK] = {1.0, 0.0, /* column 0 */ 0.0, 1.0, /* column 1 */ 0.5, -0.5};
  const double K[NKV * DK] = {0.5, -1.0, 0.0, 1.0, 1.0, 0.5, 2.0, 0.0, 0.0, 0.0, 1.0, -1.0};
  const double V[NKV * DV] = {1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0};
  att_state *s = NULL;
  int exit_code = 1;

  if (!ok(att_init_general(&s, NQ, NKV, DK, DV, ATT_COL_MAJOR, Q, NQ, K, NKV, V, NKV, NULL),
          "att_init_general"))
    goto done;
  if (!print_rows(s, "after att_init_general:")) goto done;

  /* Token 3's key vector changes: one column of A is recomputed. */
  const double k3[DK] = {1.0, 1.0, 0.0};
  if (!ok(att_set_row(s, ATT_MATRIX_K, 3, k3, 1), "att_set_row")) goto done;

  /* Three value entries change at once; all or nothing. */
  const int64_t rows[3] = {0, 0, 2};
  const int64_t cols[3] = {0, 1, 1};
  const double deltas[3] = {5.0, -1.0, 0.5};
  if (!ok(att_update_batch(s, ATT_MATRIX_V, 3, rows, cols, deltas), "att_update_batch")) goto done;
  if (!print_rows(s, "after replacing K[3] and a batch of V updates:")) goto done;

  int64_t folds = 0, pending = 0;
  if (!ok(att_stat(s, ATT_STAT_FOLDS, &folds), "att_stat")) goto done;
  if (!ok(att_stat(s, ATT_STAT_PENDING_VALUE_ROWS, &pending), "att_stat")) goto done;
  printf("folds so far: %lld, pending value rows: %lld\n", (long long)folds, (long long)pending);
  exit_code = 0;
done:
  att_free(s);
  return exit_code;
}
