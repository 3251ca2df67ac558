/* dynattn-values: amortized value updates, stream by stream.
 *
 *   dynattn-values [N [D [UPDATES [STREAMS]]]]     (defaults 4096 128 300000 3)
 *
 * Dense storage, default configuration, inputs uniform in [-1, 1] with logit
 * scale 1/sqrt(D). Each stream makes UPDATES att_update_v calls on random
 * entries with steps uniform in [-0.25, 0.25], drawn before the stream is
 * timed, and prints the amortized time per update (folds and the background
 * sweep's blocks included) and the folds it made; the last line gives the
 * median over the streams. A value update costs almost only its share of the
 * fold's memory traffic (docs/PERFORMANCE.md, "Value updates"), which the
 * full benchmark times in streams of 8192; this program times longer ones,
 * on the public interface alone, so that two builds of the library can be
 * compared by running it against each in alternation (LD_LIBRARY_PATH).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cbench.h"
#include "dynattn.h"

int main(int argc, char **argv) {
  const int64_t n = argc > 1 ? atoll(argv[1]) : 4096, d = argc > 2 ? atoll(argv[2]) : 128;
  const int64_t updates = argc > 3 ? atoll(argv[3]) : 300000;
  const int64_t streams = argc > 4 ? atoll(argv[4]) : 3;
  double *step, *amortized;
  int64_t *row, *col, u, t, folds = 0;
  att_state *h;
  if (argc > 5 || n < 1 || d < 1 || updates < 1 || streams < 1) {
    fprintf(stderr, "usage: %s [N [D [UPDATES [STREAMS]]]]  (all >= 1)\n", argv[0]);
    return 2;
  }
  row = allocate((size_t)updates, sizeof *row);
  col = allocate((size_t)updates, sizeof *col);
  step = allocate((size_t)updates, sizeof *step);
  amortized = allocate((size_t)streams, sizeof *amortized);
  h = uniform_problem(n, d);
  printf("att_update_v, n = %lld, d = %lld: %lld streams of %lld calls\n", (long long)n,
         (long long)d, (long long)streams, (long long)updates);
  printf("stream  amortized us  folds\n");
  for (t = 0; t < streams; ++t) {
    int64_t before = 0, after = 0;
    double t0;
    for (u = 0; u < updates; ++u) {
      row[u] = uniform_index(n);
      col[u] = uniform_index(d);
      step[u] = 0.25 * uniform();
    }
    check(att_stat(h, ATT_STAT_FOLDS, &before), "att_stat");
    t0 = now();
    for (u = 0; u < updates; ++u) check(att_update_v(h, row[u], col[u], step[u]), "att_update_v");
    amortized[t] = (now() - t0) / (double)updates * 1e6;
    check(att_stat(h, ATT_STAT_FOLDS, &after), "att_stat");
    folds += after - before;
    printf("%6lld %13.3f %6lld\n", (long long)t, amortized[t], (long long)(after - before));
    fflush(stdout);
  }
  printf("median over the streams: %.3f us per value update (%lld folds in all)\n",
         median(amortized, streams), (long long)folds);
  att_free(h);
  free(row);
  free(col);
  free(step);
  free(amortized);
  return 0;
}
