/* dynattn-threads: key updates under OpenBLAS's own thread count and under one
 * thread, in alternating chunks of one process.
 *
 *   dynattn-threads [N [D [CHUNKS]]]     (defaults 4096 128 40)
 *
 * Dense storage, default configuration, random entries of K changed by steps
 * uniform in [-0.25, 0.25]. Chunk c runs 4096 att_update_k calls (64 folds at
 * the default lazy limit) with OpenBLAS at its starting thread count when c is
 * even and at one thread when c is odd, and prints the median single call
 * (which is a key column's eager work, no fold) and the amortized time (folds
 * included). A chunk is "slow" when its median exceeds twice the median of
 * the one-thread chunks' medians. Since the two kinds of chunk alternate
 * every fraction of a second in the same process, on the same matrices, a
 * slowdown that only one kind shows comes from what the BLAS's other thread
 * does meanwhile, not from the process's data or a drift of the machine.
 * docs/PERFORMANCE.md ("Slow phases") tells what it found.
 *
 * Inputs are uniform in [-1, 1] with logit scale 1/sqrt(D).
 */
#define _GNU_SOURCE /* sched_getcpu */

#include <cblas.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cbench.h"
#include "dynattn.h"

enum { kPerChunk = 4096 };

int main(int argc, char **argv) {
  const int64_t n = argc > 1 ? atoll(argv[1]) : 4096, d = argc > 2 ? atoll(argv[2]) : 128;
  const int64_t chunks = argc > 3 ? atoll(argv[3]) : 40;
  const int threads = openblas_get_num_threads();
  const int64_t per_kind = (chunks + 1) / 2;
  double *call, *med[2], *amortized[2];
  att_state *h;
  int64_t c, u, count[2] = {0, 0};
  double limit;
  int kind;
  rng_state = 0x2545f4914f6cdd1du;
  if (argc > 4 || n < 1 || d < 1 || chunks < 2) {
    fprintf(stderr, "usage: %s [N [D [CHUNKS]]]  (N, D >= 1, CHUNKS >= 2)\n", argv[0]);
    return 2;
  }
  call = allocate(kPerChunk, sizeof *call);
  for (kind = 0; kind < 2; ++kind) {
    med[kind] = allocate((size_t)per_kind, sizeof *med[kind]);
    amortized[kind] = allocate((size_t)per_kind, sizeof *amortized[kind]);
  }
  h = uniform_problem(n, d);
  printf(
      "att_update_k, n = %lld, d = %lld: chunks of %d calls, OpenBLAS at %d thread(s) in the "
      "even chunks and 1 in the odd ones\n",
      (long long)n, (long long)d, kPerChunk, threads);
  printf("chunk threads  median us  amortized us  cpu at start, end\n");
  for (c = 0; c < chunks; ++c) {
    /* kind 0: OpenBLAS's own thread count, kind 1: one thread. */
    const int64_t at = count[c % 2]++;
    const int cpu = sched_getcpu();
    double total = 0.0;
    kind = (int)(c % 2);
    openblas_set_num_threads(kind == 0 ? threads : 1);
    for (u = 0; u < kPerChunk; ++u) {
      const int64_t i = uniform_index(n);
      const int64_t j = uniform_index(d);
      const double delta = 0.25 * uniform(), t0 = now();
      check(att_update_k(h, i, j, delta), "att_update_k");
      call[u] = now() - t0;
      total += call[u];
    }
    med[kind][at] = median(call, kPerChunk) * 1e6;
    amortized[kind][at] = total / kPerChunk * 1e6;
    printf("%5lld %7d %10.2f %13.2f  %d, %d\n", (long long)c, kind == 0 ? threads : 1,
           med[kind][at], amortized[kind][at], cpu, sched_getcpu());
    fflush(stdout);
  }
  openblas_set_num_threads(threads);
  /* median() sorts: the slow chunks are counted from the sorted medians. */
  limit = 2.0 * median(med[1], count[1]);
  printf("slow chunks: median above %.2f us (twice the one-thread chunks')\n", limit);
  for (kind = 0; kind < 2; ++kind) {
    int64_t slow = 0;
    for (c = 0; c < count[kind]; ++c) slow += med[kind][c] > limit;
    printf(
        "%d thread(s): %lld of %lld chunks slow; medians over the chunks: median call %.2f us, "
        "amortized %.2f us\n",
        kind == 0 ? threads : 1, (long long)slow, (long long)count[kind],
        median(med[kind], count[kind]), median(amortized[kind], count[kind]));
  }
  att_free(h);
  free(call);
  for (kind = 0; kind < 2; ++kind) {
    free(med[kind]);
    free(amortized[kind]);
  }
  return 0;
}
