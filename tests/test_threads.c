/*
 * Thread safety as the header states it: const calls (att_query) may run
 * concurrently on one handle, the detail message of att_last_error() is per
 * thread, and distinct handles are independent.
 *
 * SPDX-License-Identifier: MIT
 *
 * tests/meson.build runs this with OPENBLAS_NUM_THREADS=1, as the header
 * asks of applications that run their own threads and call init/update from
 * several of them (test_distinct_handles).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynattn.h"
#include "reference.h"
#include "test_util.h"

#define NTHREADS 4
#define REPEATS 25
#define TN 96
#define TD 12

/* ---- Concurrent queries on one const handle ------------------------------------ */

typedef struct query_job {
  const att_state *h;
  const double *expected; /* single-threaded results, TN x TD */
  int id;
  pthread_barrier_t *barrier;
  /* results */
  int64_t mismatches;
  int64_t failures;
  int64_t first_bad; /* flat index of the first mismatch, or -1 */
  int message_ok;
  int initially_empty;
} query_job;

static void *query_worker(void *arg)
{
  query_job *job = arg;
  const int64_t total = (int64_t)TN * TD;
  char needle[32];
  int rep;
  int64_t t;
  double out;
  job->mismatches = 0;
  job->failures = 0;
  job->first_bad = -1;
  /* A new thread has no failed call yet: its message is empty, whatever
   * other threads did. */
  job->initially_empty = att_last_error()[0] == '\0';
  pthread_barrier_wait(job->barrier);
  for (rep = 0; rep < REPEATS; ++rep) {
    /* Each thread walks the entries in its own order: a stride coprime with
     * TN * TD = 1152 = 2^7 3^2 visits every entry once. */
    static const int64_t strides[] = {1, 5, 7, 11};
    const int64_t stride = strides[job->id % 4];
    for (t = 0; t < total; ++t) {
      const int64_t e = (t * stride + rep + job->id) % total;
      if (att_query(job->h, e / TD, e % TD, &out) != ATT_OK) {
        ++job->failures;
        continue;
      }
      if (memcmp(&out, &job->expected[e], sizeof out) != 0) {
        if (job->first_bad < 0)
          job->first_bad = e;
        ++job->mismatches;
      }
    }
  }
  /* Every thread fails with its own index while the others run; each must
   * read its own message back. */
  snprintf(needle, sizeof needle, "i=%d", 5000 + job->id);
  if (att_query(job->h, 5000 + job->id, 0, &out) != ATT_E_INDEX)
    ++job->failures;
  pthread_barrier_wait(job->barrier);
  job->message_ok = strstr(att_last_error(), needle) != NULL;
  return NULL;
}

static void run_concurrent_queries(int64_t lazy_limit, int updates)
{
  tu_rng r;
  tu_mirror m;
  att_config *cfg = tu_config(lazy_limit, 0.0, 1.0);
  att_state *h;
  double *expected = tu_alloc_doubles((int64_t)TN * TD);
  pthread_t threads[NTHREADS];
  query_job jobs[NTHREADS];
  pthread_barrier_t barrier;
  int t, u;
  tu_rng_seed(&r, 8080 + (uint64_t)lazy_limit);
  tu_mirror_alloc(&m, TN, TD, 1.0);
  tu_mirror_randomize(&m, &r, 1.0, 1.0);
  h = tu_init(&m, cfg);
  att_config_free(cfg);
  /* Leave updates pending so that queries also sum pending terms. */
  for (u = 0; u < updates; ++u) {
    tu_update_k(&m, h, tu_below(&r, TN), tu_below(&r, TD), 0.3 * tu_normal(&r));
    tu_update_v(&m, h, tu_below(&r, TN), tu_below(&r, TD), tu_normal(&r));
  }
  tu_check_all(h, &m, 1e-10, "before the threads");
  tu_query_all(h, TN, TD, expected);

  /* Make the main thread's message non-empty: other threads must not see it. */
  {
    double x;
    assert_int_equal(att_query(h, -1, 0, &x), ATT_E_INDEX);
  }
  assert_int_equal(pthread_barrier_init(&barrier, NULL, NTHREADS), 0);
  for (t = 0; t < NTHREADS; ++t) {
    jobs[t].h = h;
    jobs[t].expected = expected;
    jobs[t].id = t;
    jobs[t].barrier = &barrier;
    assert_int_equal(pthread_create(&threads[t], NULL, query_worker, &jobs[t]), 0);
  }
  for (t = 0; t < NTHREADS; ++t)
    assert_int_equal(pthread_join(threads[t], NULL), 0);
  pthread_barrier_destroy(&barrier);
  for (t = 0; t < NTHREADS; ++t) {
    if (jobs[t].mismatches != 0)
      fail_msg("k=%lld thread %d: %lld queries differ bitwise from the single-threaded ones "
               "(first at entry %lld)",
               (long long)lazy_limit, t, (long long)jobs[t].mismatches,
               (long long)jobs[t].first_bad);
    assert_int_equal(jobs[t].failures, 0);
    assert_true(jobs[t].initially_empty);
    assert_true(jobs[t].message_ok);
  }
  /* The main thread's own message is still its own. */
  assert_non_null(strstr(att_last_error(), "i=-1"));
  /* And the handle is unchanged by all that reading. */
  {
    double *again = tu_alloc_doubles((int64_t)TN * TD);
    tu_query_all(h, TN, TD, again);
    assert_memory_equal(again, expected, sizeof(double) * TN * TD);
    free(again);
  }
  free(expected);
  att_free(h);
  tu_mirror_free(&m);
}

static void test_concurrent_queries(void **state)
{
  (void)state;
  run_concurrent_queries(0, 0);      /* right after init */
  run_concurrent_queries(0, 20);     /* automatic k with pending updates */
  run_concurrent_queries(100000, 300); /* a long pending window */
  run_concurrent_queries(1, 50);     /* everything folded */
}

/* ---- Distinct handles updated concurrently ---------------------------------------- */

typedef struct handle_job {
  uint64_t seed;
  double worst;
  int ok;
  char error[256];
} handle_job;

static void *handle_worker(void *arg)
{
  handle_job *job = arg;
  tu_rng r;
  tu_mirror m;
  att_state *h = NULL;
  att_config *cfg = NULL;
  double *got, *ref;
  int op;
  int64_t e;
  job->ok = 0;
  job->worst = 0.0;
  job->error[0] = '\0';
  tu_rng_seed(&r, job->seed);
  /* No cmocka asserts off the main thread: plain checks, reported back. */
  m.n = 40;
  m.d = 6;
  m.scale = 1.0;
  m.Q = calloc(240, sizeof(double));
  m.K = calloc(240, sizeof(double));
  m.V = calloc(240, sizeof(double));
  got = calloc(240, sizeof(double));
  ref = calloc(240, sizeof(double));
  if (!m.Q || !m.K || !m.V || !got || !ref)
    goto out;
  tu_fill_uniform(&r, m.Q, 240, -1.0, 1.0);
  tu_fill_uniform(&r, m.K, 240, -1.0, 1.0);
  tu_fill_normal(&r, m.V, 240, 1.0);
  if (att_config_create(&cfg) != ATT_OK || att_config_set_lazy_limit(cfg, 5) != ATT_OK) {
    snprintf(job->error, sizeof job->error, "config: %s", att_last_error());
    goto out;
  }
  if (att_init(&h, 40, 6, m.Q, m.K, m.V, cfg) != ATT_OK) {
    snprintf(job->error, sizeof job->error, "init: %s", att_last_error());
    goto out;
  }
  for (op = 0; op < 3000; ++op) {
    const int64_t i = tu_below(&r, 40), j = tu_below(&r, 6);
    const double delta = 0.2 * tu_normal(&r);
    att_status st;
    if (op % 2) {
      st = att_update_k(h, i, j, delta);
      m.K[i * 6 + j] += delta;
    } else {
      st = att_update_v(h, i, j, delta);
      m.V[i * 6 + j] += delta;
    }
    if (st != ATT_OK) {
      snprintf(job->error, sizeof job->error, "update %d: %s", op, att_last_error());
      goto out;
    }
  }
  for (e = 0; e < 240; ++e)
    if (att_query(h, e / 6, e % 6, &got[e]) != ATT_OK) {
      snprintf(job->error, sizeof job->error, "query: %s", att_last_error());
      goto out;
    }
  ref_attention(40, 6, m.Q, m.K, m.V, 1.0, ref);
  job->ok = 1;
  for (e = 0; e < 240; ++e) {
    const double vmax = ref_col_abs_max(40, 6, m.V, e % 6);
    const double bound =
        ref_tolerance(1e-10, 6, ref_row_logit_abs_sum(40, 6, m.Q, m.K, 1.0, e / 6), vmax);
    const double err = got[e] - ref[e] < 0 ? ref[e] - got[e] : got[e] - ref[e];
    if (!(err <= bound)) {
      job->ok = 0;
      snprintf(job->error, sizeof job->error, "entry (%lld, %lld): %.17g vs reference %.17g",
               (long long)(e / 6), (long long)(e % 6), got[e], ref[e]);
      break;
    }
    if (err / bound > job->worst)
      job->worst = err / bound;
  }
out:
  att_free(h);
  att_config_free(cfg);
  free(m.Q);
  free(m.K);
  free(m.V);
  free(got);
  free(ref);
  return NULL;
}

static void test_distinct_handles(void **state)
{
  pthread_t threads[NTHREADS];
  handle_job jobs[NTHREADS];
  int t;
  (void)state;
  for (t = 0; t < NTHREADS; ++t) {
    jobs[t].seed = 90210 + (uint64_t)t;
    assert_int_equal(pthread_create(&threads[t], NULL, handle_worker, &jobs[t]), 0);
  }
  for (t = 0; t < NTHREADS; ++t)
    assert_int_equal(pthread_join(threads[t], NULL), 0);
  for (t = 0; t < NTHREADS; ++t)
    if (!jobs[t].ok)
      fail_msg("thread %d: %s", t, jobs[t].error);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_concurrent_queries),
      cmocka_unit_test(test_distinct_handles),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
