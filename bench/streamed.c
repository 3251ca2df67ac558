/* dynattn-streamed: measurements of the streamed kernel store.
 *
 *   dynattn-streamed init N D
 *     Streamed-mode att_init at n = N, d = D: wall time, the rate it reaches
 *     in units of its 4 N^2 D flops (the two products of the logits and of
 *     A V), the dgemm rate measured in the same run on the same two products
 *     in tiles of 512 query rows x 1024 keys (just before the init and just
 *     after it; the ratio is against their mean, so that a change of the
 *     shared machine's speed during the run weighs on both sides), and the
 *     process's peak resident set (getrusage).
 *   dynattn-streamed update N D U
 *     Amortized att_update_k over U random updates (folds included, the
 *     default lazy limit) in dense and in streamed mode, at n = N, d = D.
 *   dynattn-streamed rows N D E C
 *     The same for C calls of att_set_row of K, each changing E of a random
 *     key row's D entries (1 <= E <= D).
 *   dynattn-streamed batch N D C
 *     att_update_batch of C random entries of K, of Q and of V against the
 *     same updates made one by one, on twin handles in dense and in streamed
 *     mode: amortized time per update of each (an att_fold after each,
 *     included) and their ratio. The twins' outputs must then agree to
 *     1e-9 of the largest output, or the run fails.
 *
 * Inputs are uniform in [-1, 1] with logit scale 1/sqrt(D).
 */
#define _POSIX_C_SOURCE 200809L

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cbench.h"
#include "dynattn.h"

static double *random_matrix(int64_t count) {
  double *m = allocate((size_t)count, sizeof *m);
  int64_t i;
  for (i = 0; i < count; ++i) m[i] = uniform();
  return m;
}

/* The dgemm rate of the two products a streamed init computes, in tiles of
 * bq query rows x bk keys: (bk x bq) = K_t Q_t^T, k = D, then (bq x D) +=
 * T^T V_t, k = bk, over all key tiles of the N keys. Operands as large as
 * the library's: the rate is what BLAS reaches on these products from
 * memory. */
static double dgemm_rate(int64_t n, int64_t d, int64_t bq, int64_t bk, int reps) {
  double *K = random_matrix(n * d), *Q = random_matrix(bq * d), *V = random_matrix(n * d);
  double *T = random_matrix(bk * bq), *out = random_matrix(bq * d);
  double t0, t;
  int r;
  int64_t c0;
  t0 = now();
  for (r = 0; r < reps; ++r) {
    for (c0 = 0; c0 < n; c0 += bk) {
      const int64_t b = n - c0 < bk ? n - c0 : bk;
      cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)b, (int)bq, (int)d, 1.0, K + c0,
                  (int)n, Q, (int)bq, 0.0, T, (int)b);
      cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)bq, (int)d, (int)b, 1.0, T, (int)b,
                  V + c0, (int)n, c0 == 0 ? 0.0 : 1.0, out, (int)bq);
    }
  }
  t = now() - t0;
  free(K);
  free(Q);
  free(V);
  free(T);
  free(out);
  return 4.0 * (double)n * (double)bq * (double)d * reps / t;
}

static void bench_init(int64_t n, int64_t d) {
  double *Q = random_matrix(n * d), *K = random_matrix(n * d), *V = random_matrix(n * d);
  /* Tiles of 512 queries x 1024 keys (fewer when n is smaller), on which
   * OpenBLAS runs near its peak on the development machine: the library's
   * own tiles (192 x 256 per thread, src/softmax_tiles.hpp) would hold
   * dgemm below it. */
  const int64_t bq = n < 512 ? n : 512, bk = n < 1024 ? n : 1024;
  const int reps = (int)(n / bq < 16 ? n / bq : 16);
  const double before = dgemm_rate(n, d, bq, bk, reps > 0 ? reps : 1);
  double after, rate, t0, t, flops;
  int64_t bytes = 0, kind = -1;
  struct rusage ru;
  att_state *h;
  t0 = now();
  h = init_handle(n, d, Q, K, V, ATT_STORAGE_STREAMED);
  t = now() - t0;
  check(att_stat(h, ATT_STAT_BYTES, &bytes), "att_stat");
  check(att_stat(h, ATT_STAT_STORAGE, &kind), "att_stat");
  /* The peak before the second rate's operands exist. */
  getrusage(RUSAGE_SELF, &ru);
  att_free(h);
  after = dgemm_rate(n, d, bq, bk, reps > 0 ? reps : 1);
  rate = 0.5 * (before + after);
  flops = 4.0 * (double)n * (double)n * (double)d;
  printf(
      "init n=%lld d=%lld storage=%lld: %.2f s, %.1f GFLOP/s of 4n^2d; dgemm on the same "
      "products %.1f GFLOP/s (%.1f before, %.1f after); ratio %.1f %%\n",
      (long long)n, (long long)d, (long long)kind, t, flops / t * 1e-9, rate * 1e-9, before * 1e-9,
      after * 1e-9, 100.0 * flops / t / rate);
  printf("  ATT_STAT_BYTES %.1f MiB, peak RSS %.1f MiB (dense A alone would be %.1f GiB)\n",
         (double)bytes / 1048576.0, (double)ru.ru_maxrss / 1024.0,
         8.0 * (double)n * (double)n / 1073741824.0);
  free(Q);
  free(K);
  free(V);
}

/* Key changes in dense and in streamed mode from the same start: with
 * entries = 0, att_update_k of single random entries; otherwise att_set_row
 * of a random key row with `entries` consecutive entries (from a random one,
 * cyclically) moved by up to 0.01. Prints the amortized time of each. */
static void bench_key_changes(int64_t n, int64_t d, int64_t count, int64_t entries) {
  double *Q = random_matrix(n * d), *K = random_matrix(n * d), *V = random_matrix(n * d);
  double *rows = allocate((size_t)(n * d), sizeof *rows);
  const att_storage modes[2] = {ATT_STORAGE_DENSE, ATT_STORAGE_STREAMED};
  double per[2];
  int m;
  for (m = 0; m < 2; ++m) {
    att_state *h = init_handle(n, d, Q, K, V, modes[m]);
    int64_t u, t, k = 0;
    double t0, q = 0.0;
    memcpy(rows, K, sizeof *rows * (size_t)(n * d));
    rng_state = 12345;
    check(att_stat(h, ATT_STAT_LAZY_LIMIT, &k), "att_stat");
    t0 = now();
    for (u = 0; u < count; ++u) {
      const int64_t i = uniform_index(n);
      const int64_t j = uniform_index(d);
      if (entries == 0) {
        check(att_update_k(h, i, j, 0.01 * uniform()), "att_update_k");
        continue;
      }
      for (t = 0; t < entries; ++t) rows[i * d + (j + t) % d] += 0.01 * uniform();
      check(att_set_row(h, ATT_MATRIX_K, i, rows + i * d, 1), "att_set_row");
    }
    per[m] = (now() - t0) / (double)count;
    check(att_query(h, 0, 0, &q), "att_query");
    if (entries == 0) {
      printf("update_k n=%lld d=%lld k=%lld %s: %.1f us per update (amortized over %lld, ",
             (long long)n, (long long)d, (long long)k, m == 0 ? "dense" : "streamed", per[m] * 1e6,
             (long long)count);
    } else {
      printf(
          "set_row K, %lld of %lld entries, n=%lld k=%lld %s: %.1f us per call (amortized over "
          "%lld, ",
          (long long)entries, (long long)d, (long long)n, (long long)k,
          m == 0 ? "dense" : "streamed", per[m] * 1e6, (long long)count);
    }
    printf("B[0][0]=%.6g)\n", q);
    att_free(h);
  }
  printf("  streamed / dense = %.2f\n", per[1] / per[0]);
  free(Q);
  free(K);
  free(V);
  free(rows);
}

/* The largest |a - b| over the two handles' outputs, relative to their
 * largest |a|. */
static double output_difference(const att_state *a, const att_state *b, int64_t n, int64_t d) {
  double *oa = allocate((size_t)(n * d), sizeof *oa), *ob = allocate((size_t)(n * d), sizeof *ob);
  double diff = 0.0, scale = 0.0;
  int64_t t;
  check(att_output(a, ATT_ROW_MAJOR, oa, d), "att_output");
  check(att_output(b, ATT_ROW_MAJOR, ob, d), "att_output");
  for (t = 0; t < n * d; ++t) {
    diff = fmax(diff, fabs(oa[t] - ob[t]));
    scale = fmax(scale, fabs(oa[t]));
  }
  free(oa);
  free(ob);
  return diff / scale;
}

/* One batch of `count` random entries of each matrix against the same
 * updates one by one (bench_batches in the usage above). */
static void bench_batches(int64_t n, int64_t d, int64_t count) {
  double *Q = random_matrix(n * d), *K = random_matrix(n * d), *V = random_matrix(n * d);
  double *deltas = allocate((size_t)count, sizeof *deltas);
  int64_t *rows = allocate((size_t)count, sizeof *rows),
          *cols = allocate((size_t)count, sizeof *cols);
  const att_storage modes[2] = {ATT_STORAGE_DENSE, ATT_STORAGE_STREAMED};
  const att_matrix which[3] = {ATT_MATRIX_K, ATT_MATRIX_Q, ATT_MATRIX_V};
  const char *names = "KQV";
  int m, w;
  for (m = 0; m < 2; ++m) {
    for (w = 0; w < 3; ++w) {
      /* Two clones, so that both start with their memory touched alike. */
      att_state *base = init_handle(n, d, Q, K, V, modes[m]), *single = NULL, *batch = NULL;
      double t0, one_by_one, batched, diff;
      int64_t t;
      check(att_clone(base, &single), "att_clone");
      check(att_clone(base, &batch), "att_clone");
      att_free(base);
      for (t = 0; t < count; ++t) {
        rows[t] = uniform_index(n);
        cols[t] = uniform_index(d);
        deltas[t] = 0.01 * uniform();
      }
      t0 = now();
      for (t = 0; t < count; ++t) {
        if (which[w] == ATT_MATRIX_K) {
          check(att_update_k(single, rows[t], cols[t], deltas[t]), "att_update_k");
        } else if (which[w] == ATT_MATRIX_Q) {
          check(att_update_q(single, rows[t], cols[t], deltas[t]), "att_update_q");
        } else {
          check(att_update_v(single, rows[t], cols[t], deltas[t]), "att_update_v");
        }
      }
      check(att_fold(single), "att_fold");
      one_by_one = (now() - t0) / (double)count;
      t0 = now();
      check(att_update_batch(batch, which[w], count, rows, cols, deltas), "att_update_batch");
      check(att_fold(batch), "att_fold");
      batched = (now() - t0) / (double)count;
      diff = output_difference(single, batch, n, d);
      printf(
          "%c n=%lld d=%lld %s, %lld entries: one by one %.2f us per update, batch %.2f us; "
          "batch / one by one = %.2f (outputs agree to %.1e)\n",
          names[w], (long long)n, (long long)d, m == 0 ? "dense" : "streamed", (long long)count,
          one_by_one * 1e6, batched * 1e6, batched / one_by_one, diff);
      if (!(diff <= 1e-9)) {
        fprintf(stderr, "the batch and the single updates disagree by %.3g\n", diff);
        exit(1);
      }
      att_free(single);
      att_free(batch);
    }
  }
  free(Q);
  free(K);
  free(V);
  free(deltas);
  free(rows);
  free(cols);
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "init") == 0) {
    bench_init(atoll(argv[2]), atoll(argv[3]));
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "update") == 0) {
    bench_key_changes(atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), 0);
    return 0;
  }
  if (argc == 6 && strcmp(argv[1], "rows") == 0 && atoll(argv[4]) >= 1 &&
      atoll(argv[4]) <= atoll(argv[3])) {
    bench_key_changes(atoll(argv[2]), atoll(argv[3]), atoll(argv[5]), atoll(argv[4]));
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "batch") == 0 && atoll(argv[4]) >= 1) {
    bench_batches(atoll(argv[2]), atoll(argv[3]), atoll(argv[4]));
    return 0;
  }
  fprintf(stderr,
          "usage: %s init N D | update N D UPDATES | rows N D ENTRIES CALLS | batch N D COUNT\n",
          argv[0]);
  return 2;
}
