/*
 * Thread safety as the header states it: const calls (att_query and every
 * other function taking a const handle: row, block and full-output queries,
 * log-sum-exps, read-back, statistics, saves and clones) may run
 * concurrently on one handle, in dense and streamed storage, the detail message of att_last_error()
 * is per thread, and distinct handles are independent.
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

static void *query_worker(void *arg) {
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
        if (job->first_bad < 0) job->first_bad = e;
        ++job->mismatches;
      }
    }
  }
  /* Every thread fails with its own index while the others run; each must
   * read its own message back. */
  snprintf(needle, sizeof needle, "i=%d", 5000 + job->id);
  if (att_query(job->h, 5000 + job->id, 0, &out) != ATT_E_INDEX) ++job->failures;
  pthread_barrier_wait(job->barrier);
  job->message_ok = strstr(att_last_error(), needle) != NULL;
  return NULL;
}

static void run_concurrent_queries(int64_t lazy_limit, int updates) {
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
  for (t = 0; t < NTHREADS; ++t) assert_int_equal(pthread_join(threads[t], NULL), 0);
  pthread_barrier_destroy(&barrier);
  for (t = 0; t < NTHREADS; ++t) {
    if (jobs[t].mismatches != 0)
      fail_msg(
          "k=%lld thread %d: %lld queries differ bitwise from the single-threaded ones "
          "(first at entry %lld)",
          (long long)lazy_limit, t, (long long)jobs[t].mismatches, (long long)jobs[t].first_bad);
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

static void test_concurrent_queries(void **state) {
  (void)state;
  run_concurrent_queries(0, 0);        /* right after init */
  run_concurrent_queries(0, 20);       /* automatic k with pending updates */
  run_concurrent_queries(100000, 300); /* a long pending window */
  run_concurrent_queries(1, 50);       /* everything folded */
}

/* ---- Every other const call, concurrently, in both storages -------------------- */

/* What single-threaded calls returned before the threads start. */
typedef struct read_expect {
  const att_state *h;
  const double *out; /* att_output, TN x TD row-major */
  const double *lse; /* att_query_lse of every row */
  const double *key; /* att_get_matrix(K), TN x TD row-major */
  int64_t stats[ATT_STAT_FOLD_THRESHOLD + 1];
  const unsigned char *saved; /* bytes of att_save_buffer */
  int64_t saved_size;
  int compare_bytes; /* query work is not counted: saves are byte-stable */
} read_expect;

typedef struct read_job {
  const read_expect *e;
  int id;
  pthread_barrier_t *barrier;
  char error[256]; /* empty: every check passed */
} read_job;

/* The whole output of `h` is bitwise `want`. */
static int same_output(const att_state *h, const double *want, double *scratch) {
  return att_output(h, ATT_ROW_MAJOR, scratch, TD) == ATT_OK &&
         memcmp(scratch, want, sizeof(double) * TN * TD) == 0;
}

static void *read_worker(void *arg) {
  read_job *job = arg;
  const read_expect *e = job->e;
  double *buf = calloc((size_t)TN * TD, sizeof(double));
  unsigned char *bytes = malloc((size_t)e->saved_size);
  int rep;
  job->error[0] = '\0';
  if (buf == NULL || bytes == NULL) {
    snprintf(job->error, sizeof job->error, "out of memory");
    goto out;
  }
  pthread_barrier_wait(job->barrier);
  for (rep = 0; rep < 40; ++rep) {
    const int64_t i = (rep * 37 + job->id * 11) % TN;
    const int64_t count = 1 + (rep + job->id) % 8;
    const int64_t i0 = i + count > TN ? TN - count : i;
    const int64_t kind = (rep + job->id) % (ATT_STAT_FOLD_THRESHOLD + 1);
    int64_t t, c, value = -1, written = 0;
    att_state *copy = NULL;
    if (att_query_row(e->h, i, buf) != ATT_OK || memcmp(buf, e->out + i * TD, TD * 8) != 0) {
      snprintf(job->error, sizeof job->error, "att_query_row(%lld)", (long long)i);
      goto out;
    }
    /* A column-major block with leading dimension count + 1. */
    if (att_query_rows(e->h, i0, count, ATT_COL_MAJOR, buf, count + 1) != ATT_OK) {
      snprintf(job->error, sizeof job->error, "att_query_rows: %s", att_last_error());
      goto out;
    }
    for (t = 0; t < count; ++t)
      for (c = 0; c < TD; ++c)
        if (memcmp(&buf[c * (count + 1) + t], &e->out[(i0 + t) * TD + c], 8) != 0) {
          snprintf(job->error, sizeof job->error, "att_query_rows(%lld, %lld)", (long long)i0,
                   (long long)count);
          goto out;
        }
    if (!same_output(e->h, e->out, buf)) {
      snprintf(job->error, sizeof job->error, "att_output");
      goto out;
    }
    if (att_query_lse(e->h, 0, TN, buf) != ATT_OK || memcmp(buf, e->lse, TN * 8) != 0) {
      snprintf(job->error, sizeof job->error, "att_query_lse");
      goto out;
    }
    if (att_get_matrix(e->h, ATT_MATRIX_K, ATT_ROW_MAJOR, buf, TD) != ATT_OK ||
        memcmp(buf, e->key, sizeof(double) * TN * TD) != 0) {
      snprintf(job->error, sizeof job->error, "att_get_matrix");
      goto out;
    }
    if (att_stat(e->h, (att_stat_kind)kind, &value) != ATT_OK ||
        (kind != ATT_STAT_QUERY_WORK && value != e->stats[kind])) {
      snprintf(job->error, sizeof job->error, "att_stat(%lld) = %lld, expected %lld",
               (long long)kind, (long long)value, (long long)e->stats[kind]);
      goto out;
    }
    if (rep % 8 == job->id % 8) { /* the expensive ones now and then */
      if (att_save_buffer(e->h, bytes, e->saved_size, &written) != ATT_OK ||
          written != e->saved_size ||
          (e->compare_bytes && memcmp(bytes, e->saved, (size_t)written) != 0)) {
        snprintf(job->error, sizeof job->error, "att_save_buffer: %s", att_last_error());
        goto out;
      }
      if (att_load_buffer(&copy, bytes, written) != ATT_OK || !same_output(copy, e->out, buf)) {
        snprintf(job->error, sizeof job->error, "loading a concurrent save");
        att_free(copy);
        goto out;
      }
      att_free(copy);
      copy = NULL;
      if (att_clone(e->h, &copy) != ATT_OK || !same_output(copy, e->out, buf)) {
        snprintf(job->error, sizeof job->error, "att_clone");
        att_free(copy);
        goto out;
      }
      att_free(copy);
    }
  }
out:
  free(buf);
  free(bytes);
  return NULL;
}

static void run_concurrent_reads(att_storage storage, att_strategy strategy) {
  tu_rng r;
  tu_mirror m;
  att_config *cfg = tu_config(40, 0.0, 1.0);
  att_state *h;
  read_expect e;
  double *out = tu_alloc_doubles((int64_t)TN * TD), *lse = tu_alloc_doubles(TN);
  double *key = tu_alloc_doubles((int64_t)TN * TD);
  unsigned char *saved;
  pthread_t threads[NTHREADS];
  read_job jobs[NTHREADS];
  pthread_barrier_t barrier;
  int t, u;
  int64_t kind, written = 0;
  assert_int_equal(att_config_set_storage(cfg, storage), ATT_OK);
  assert_int_equal(att_config_set_strategy(cfg, strategy), ATT_OK);
  tu_rng_seed(&r, 7070 + (uint64_t)storage * 10 + (uint64_t)strategy);
  tu_mirror_alloc(&m, TN, TD, 1.0);
  tu_mirror_randomize(&m, &r, 1.0, 1.0);
  h = tu_init(&m, cfg);
  att_config_free(cfg);
  for (u = 0; u < 15; ++u) { /* pending key and value terms */
    tu_update_k(&m, h, tu_below(&r, TN), tu_below(&r, TD), 0.3 * tu_normal(&r));
    tu_update_v(&m, h, tu_below(&r, TN), tu_below(&r, TD), tu_normal(&r));
  }
  tu_check_all(h, &m, 1e-10, "before the threads");
  assert_int_equal(att_output(h, ATT_ROW_MAJOR, out, TD), ATT_OK);
  assert_int_equal(att_query_lse(h, 0, TN, lse), ATT_OK);
  assert_int_equal(att_get_matrix(h, ATT_MATRIX_K, ATT_ROW_MAJOR, key, TD), ATT_OK);
  assert_true(memcmp(key, m.K, sizeof(double) * TN * TD) == 0);
  e.h = h;
  e.out = out;
  e.lse = lse;
  e.key = key;
  for (kind = 0; kind <= ATT_STAT_FOLD_THRESHOLD; ++kind)
    assert_int_equal(att_stat(h, (att_stat_kind)kind, &e.stats[kind]), ATT_OK);
  assert_int_equal(e.stats[ATT_STAT_STORAGE], storage);
  assert_true(e.stats[ATT_STAT_PENDING_KEY_UPDATES] > 0);
  assert_int_equal(att_save_size(h, &e.saved_size), ATT_OK);
  saved = tu_xmalloc((size_t)e.saved_size);
  assert_int_equal(att_save_buffer(h, saved, e.saved_size, &written), ATT_OK);
  e.saved = saved;
  e.compare_bytes = strategy == ATT_STRATEGY_LAZY;

  assert_int_equal(pthread_barrier_init(&barrier, NULL, NTHREADS), 0);
  for (t = 0; t < NTHREADS; ++t) {
    jobs[t].e = &e;
    jobs[t].id = t;
    jobs[t].barrier = &barrier;
    assert_int_equal(pthread_create(&threads[t], NULL, read_worker, &jobs[t]), 0);
  }
  for (t = 0; t < NTHREADS; ++t) assert_int_equal(pthread_join(threads[t], NULL), 0);
  pthread_barrier_destroy(&barrier);
  for (t = 0; t < NTHREADS; ++t)
    if (jobs[t].error[0] != '\0')
      fail_msg("storage %d, strategy %d, thread %d: %s", (int)storage, (int)strategy, t,
               jobs[t].error);
  /* Reading changed nothing but, under the adaptive strategy, the query work. */
  tu_check_all(h, &m, 1e-10, "after the threads");
  free(saved);
  free(out);
  free(lse);
  free(key);
  att_free(h);
  tu_mirror_free(&m);
}

static void test_concurrent_reads(void **state) {
  (void)state;
  run_concurrent_reads(ATT_STORAGE_DENSE, ATT_STRATEGY_LAZY);
  run_concurrent_reads(ATT_STORAGE_DENSE, ATT_STRATEGY_ADAPTIVE);
  run_concurrent_reads(ATT_STORAGE_STREAMED, ATT_STRATEGY_LAZY);
  run_concurrent_reads(ATT_STORAGE_STREAMED, ATT_STRATEGY_ADAPTIVE);
}

/* ---- Distinct handles updated concurrently ---------------------------------------- */

typedef struct handle_job {
  uint64_t seed;
  double worst;
  int ok;
  char error[256];
} handle_job;

static void *handle_worker(void *arg) {
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
  if (!m.Q || !m.K || !m.V || !got || !ref) goto out;
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
    if (err / bound > job->worst) job->worst = err / bound;
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

static void test_distinct_handles(void **state) {
  pthread_t threads[NTHREADS];
  handle_job jobs[NTHREADS];
  int t;
  (void)state;
  for (t = 0; t < NTHREADS; ++t) {
    jobs[t].seed = 90210 + (uint64_t)t;
    assert_int_equal(pthread_create(&threads[t], NULL, handle_worker, &jobs[t]), 0);
  }
  for (t = 0; t < NTHREADS; ++t) assert_int_equal(pthread_join(threads[t], NULL), 0);
  for (t = 0; t < NTHREADS; ++t)
    if (!jobs[t].ok) fail_msg("thread %d: %s", t, jobs[t].error);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_concurrent_queries),
      cmocka_unit_test(test_concurrent_reads),
      cmocka_unit_test(test_distinct_handles),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
