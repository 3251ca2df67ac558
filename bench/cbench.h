/* What the benchmark's C programs (streamed.c, threads.c) share: a clock,
 * a seedable uniform generator, and exits on a failed call or allocation.
 * Each program is one translation unit, so everything here is static. */
#ifndef DYNATTN_BENCH_CBENCH_H
#define DYNATTN_BENCH_CBENCH_H

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

#endif
