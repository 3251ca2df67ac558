/*
 * examples/save_load.c: saving a handle to a file and loading it back.
 *
 * A saved state holds everything, pending updates included, so the loaded
 * handle answers every query bit for bit like the one that was saved. The
 * file is written atomically: a crash mid-save never leaves a partial file.
 * Run as `dynattn-save-load [path]` (default: dynattn-example.state in the
 * current directory; the file is removed at the end).
 *
 * SPDX-License-Identifier: MIT
 */
#include <dynattn.h>

#include <stdio.h>
#include <string.h>

enum { N = 3, D = 2 };

static int ok(att_status status, const char *what) {
  if (status == ATT_OK) return 1;
  fprintf(stderr, "%s failed: %s (%s)\n", what, att_status_string(status), att_last_error());
  return 0;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "dynattn-example.state";
  const double Q[N * D] = {1.0, 0.0, 0.0, 1.0, 0.5, -0.5};
  const double K[N * D] = {0.5, 1.0, -1.0, 0.5, 0.0, 2.0};
  const double V[N * D] = {1.0, 2.0, 3.0, 4.0, 5.0, 6.0};
  double before[N * D], after[N * D];
  att_state *s = NULL, *loaded = NULL;
  int64_t bytes = 0;
  int exit_code = 1;

  if (!ok(att_init(&s, N, D, Q, K, V, NULL), "att_init")) goto done;
  /* Leave some updates pending, not yet folded into the product. */
  if (!ok(att_update_k(s, 2, 0, 1.5), "att_update_k")) goto done;
  if (!ok(att_update_q(s, 0, 1, -0.25), "att_update_q")) goto done;
  if (!ok(att_set_entry(s, ATT_MATRIX_V, 1, 1, 2.0), "att_set_entry")) goto done;

  if (!ok(att_save_size(s, &bytes), "att_save_size")) goto done;
  if (!ok(att_save_file(s, path), "att_save_file")) goto done;
  printf("saved %lld bytes to %s\n", (long long)bytes, path);
  if (!ok(att_load_file(&loaded, path), "att_load_file")) goto done;
  remove(path);

  if (!ok(att_output(s, ATT_ROW_MAJOR, before, D), "att_output")) goto done;
  if (!ok(att_output(loaded, ATT_ROW_MAJOR, after, D), "att_output")) goto done;
  printf("loaded handle is bit-identical: %s\n",
         memcmp(before, after, sizeof before) == 0 ? "yes" : "no");
  if (memcmp(before, after, sizeof before) != 0) goto done;

  /* Loading something else fails cleanly with a status. */
  att_state *bad = NULL;
  const att_status st = att_load_buffer(&bad, "not a state", 11);
  printf("loading junk: %s\n", att_status_string(st));
  if (st != ATT_E_FORMAT || bad != NULL) goto done;
  exit_code = 0;
done:
  att_free(s);
  att_free(loaded);
  return exit_code;
}
