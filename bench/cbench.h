/* What the benchmark's C programs (streamed.c, threads.c, values.c) share: a
 * clock, a seedable uniform generator, a median, and exits on a failed call
 * or allocation. Each program is one translation unit, so everything here
 * is static. */
#ifndef DYNATTN_BENCH_CBENCH_H
#define DYNATTN_BENCH_CBENCH_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dynattn.h"

/* Seconds on the monotonic clock. */
static inline double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The state of uniform(); a program may set it to start another sequence. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* Uniform in [-1, 1) (xorshift64). */
static inline double uniform(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) * 0x1p-52 - 1.0;
}

/* Uniform in [0, bound), from one uniform() draw. */
static inline int64_t uniform_index(int64_t bound) {
  return (int64_t)((uniform() + 1.0) * 0.5 * (double)bound) % bound;
}

static inline int by_value(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The median of v[0..count), count >= 1; sorts v. */
static inline double median(double *v, int64_t count) {
  qsort(v, (size_t)count, sizeof *v, by_value);
  return count % 2 ? v[count / 2] : 0.5 * (v[count / 2 - 1] + v[count / 2]);
}

/* Ends the program with the library's message when st is not ATT_OK. */
static inline void check(att_status st, const char *what) {
  if (st != ATT_OK) {
    fprintf(stderr, "%s: %s: %s\n", what, att_status_string(st), att_last_error());
    exit(1);
  }
}

/* Zeroed storage for count elements of size bytes, or the end of the
 * program. */
static inline void *allocate(size_t count, size_t size) {
  void *p = calloc(count, size);
  if (p == NULL) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  return p;
}

/* A handle on the n x d matrices Q, K, V in the given storage, with logit
 * scale 1/sqrt(d) and the other options at their defaults. */
static inline att_state *init_handle(int64_t n, int64_t d, const double *Q, const double *K,
                                     const double *V, att_storage storage) {
  att_config *cfg = NULL;
  att_state *h = NULL;
  check(att_config_create(&cfg), "att_config_create");
  check(att_config_set_storage(cfg, storage), "att_config_set_storage");
  check(att_config_set_logit_scale(cfg, 1.0 / sqrt((double)d)), "att_config_set_logit_scale");
  check(att_init(&h, n, d, Q, K, V, cfg), "att_init");
  att_config_free(cfg);
  return h;
}

/* A handle in the default storage (dense for these sizes) on n x d matrices
 * Q, K, V uniform in [-1, 1), drawn entry by entry in that order; the
 * matrices are freed again. */
static inline att_state *uniform_problem(int64_t n, int64_t d) {
  double *Q = allocate((size_t)(n * d), sizeof *Q), *K = allocate((size_t)(n * d), sizeof *K);
  double *V = allocate((size_t)(n * d), sizeof *V);
  att_state *h;
  int64_t u;
  for (u = 0; u < n * d; ++u) {
    Q[u] = uniform();
    K[u] = uniform();
    V[u] = uniform();
  }
  h = init_handle(n, d, Q, K, V, ATT_STORAGE_AUTO);
  free(Q);
  free(K);
  free(V);
  return h;
}

#endif
