/*
 * examples/example.c: a complete, minimal use of dynattn.
 *
 * It maintains B = D^-1 exp(s Q K^T) V for three tokens with two features,
 * changes one entry of K and one of V, reads B after each step, and shows how
 * a failed call reports itself. Build it against an installed library with
 *
 *   cc -std=c99 example.c $(pkg-config --cflags --libs dynattn) -o example
 *
 * SPDX-License-Identifier: MIT
 */
#include <dynattn.h>

#include <stdio.h>

enum { N = 3, D = 2 };

/* Report a failed call with its status name and the per-thread detail. */
static int ok(att_status status, const char *what) {
  if (status == ATT_OK) return 1;
  fprintf(stderr, "%s failed: %s (%s)\n", what, att_status_string(status), att_last_error());
  return 0;
}

/* Print every entry of B; each query costs O(k) and never allocates. */
static int print_b(const att_state *s, const char *label) {
  printf("%s\n", label);
  for (int64_t i = 0; i < N; ++i) {
    for (int64_t j = 0; j < D; ++j) {
      double b = 0.0;
      if (!ok(att_query(s, i, j, &b), "att_query")) return 0;
      printf(" %10.6f", b);
    }
    printf("\n");
  }
  return 1;
}

int main(void) {
  /* Row-major n x d matrices: element [i][j] is at i*D + j. */
  const double Q[N * D] = {1.0, 0.0, 0.0, 1.0, 0.5, -0.5};
  const double K[N * D] = {0.5, 1.0, -1.0, 0.5, 0.0, 2.0};
  const double V[N * D] = {1.0, 2.0, 3.0, 4.0, 5.0, 6.0};
  att_config *cfg = NULL;
  att_state *s = NULL;
  att_status status = ATT_OK;
  double b = 0.0;
  int exit_code = 1;

  printf("dynattn %s\n", att_version_string());

  /* Options live in an opaque config; transformer attention uses s = 1/sqrt(d). */
  if (!ok(att_config_create(&cfg), "att_config_create")) goto done;
  if (!ok(att_config_set_logit_scale(cfg, 0.70710678118654752), "att_config_set_logit_scale"))
    goto done;
  /* att_init copies Q, K and V; the handle does not keep cfg either. */
  if (!ok(att_init(&s, N, D, Q, K, V, cfg), "att_init")) goto done;
  att_config_free(cfg);
  cfg = NULL;
  if (!print_b(s, "B after att_init:")) goto done;

  /* K[2][0] += 1.5 and V[1][1] -= 2.0; B follows both changes exactly. */
  if (!ok(att_update_k(s, 2, 0, 1.5), "att_update_k")) goto done;
  if (!ok(att_update_v(s, 1, 1, -2.0), "att_update_v")) goto done;
  if (!print_b(s, "B after K[2][0] += 1.5 and V[1][1] -= 2.0:")) goto done;

  /* A failed call returns a status, leaves the handle as it was and leaves
   * a message for the calling thread. Row 3 does not exist (n = 3). */
  status = att_query(s, 3, 0, &b);
  printf("att_query(s, 3, 0) returned %d: %s\n", (int)status, att_status_string(status));
  printf("  detail: %s\n", att_last_error());
  if (status != ATT_E_INDEX) goto done;

  exit_code = 0;
done:
  att_free(s); /* both free functions accept NULL */
  att_config_free(cfg);
  return exit_code;
}
