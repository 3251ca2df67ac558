/*
 * The calls that include/dynattn.h says never allocate (and, for updates,
 * never start a thread) must not: this executable defines malloc, calloc,
 * realloc, the aligned allocations, mmap, mremap and pthread_create, which
 * take the C library's place for the whole process (the test is linked with
 * --export-dynamic, and not built with sanitizers, which interpose the
 * allocator themselves), forward to it, and count the calls while a counted
 * call runs, on any thread. OpenBLAS keeps work buffers of its own, which the
 * header leaves out: every sequence runs first on a twin handle of the same
 * shape, so that whatever OpenBLAS and the process's helper threads set up
 * once is in place, and then, counted, on a second handle.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>

#include "dynattn.h"
#include "test_util.h"

/* ---- The counting allocator ---------------------------------------------- */

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *p, size_t size);
void __libc_free(void *p);
void *__libc_memalign(size_t alignment, size_t size);

static atomic_int armed;
static atomic_long n_allocations, n_frees, n_maps, n_threads;

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef void *(*mremap_fn)(void *, size_t, size_t, int, ...);
typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static mmap_fn real_mmap;
static mremap_fn real_mremap;
static pthread_create_fn real_pthread_create;

/* Zeroes the counters and arms them (counting = 1) or not. */
static void start_counting(int counting) {
  atomic_store(&n_allocations, 0);
  atomic_store(&n_frees, 0);
  atomic_store(&n_maps, 0);
  atomic_store(&n_threads, 0);
  atomic_store(&armed, counting);
}

static void count(atomic_long *counter) {
  if (atomic_load(&armed)) atomic_fetch_add(counter, 1);
}

void *malloc(size_t size) {
  count(&n_allocations);
  return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
  count(&n_allocations);
  return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size) {
  count(&n_allocations);
  return __libc_realloc(p, size);
}

void free(void *p) {
  if (p != NULL) count(&n_frees);
  __libc_free(p);
}

void *memalign(size_t alignment, size_t size) {
  count(&n_allocations);
  return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
  count(&n_allocations);
  return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
  void *p;
  count(&n_allocations);
  p = __libc_memalign(alignment, size);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

/* The C library's function `name`, looked up on first use (shared
 * libraries' constructors, OpenBLAS's among them, run before this
 * executable's), in the way POSIX gives for converting dlsym's pointer to a
 * function pointer. */
#define REAL(fn, name)                                      \
  do {                                                      \
    if (fn == NULL) *(void **)&fn = dlsym(RTLD_NEXT, name); \
  } while (0)

void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset) {
  count(&n_maps);
  REAL(real_mmap, "mmap");
  return real_mmap(addr, length, prot, flags, fd, offset);
}

void *mremap(void *old, size_t old_size, size_t new_size, int flags, ...) {
  void *where = NULL;
  count(&n_maps);
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    where = va_arg(ap, void *);
    va_end(ap);
  }
  REAL(real_mremap, "mremap");
  return real_mremap(old, old_size, new_size, flags, where);
}

int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                   void *arg) {
  count(&n_threads);
  REAL(real_pthread_create, "pthread_create");
  return real_pthread_create(thread, attr, start, arg);
}

/* ---- The counted calls ----------------------------------------------------- */

/* One call, counted when `counting`: it must return want and, counted,
 * have allocated, mapped and started nothing; a refused call (want !=
 * ATT_OK) may allocate what it frees before it returns (the header's
 * conventions). */
static void call(int counting, const char *what, att_status want, att_status (*fn)(void *),
                 void *arg) {
  att_status got;
  long allowed;
  start_counting(counting);
  got = fn(arg);
  atomic_store(&armed, 0);
  if (got != want)
    fail_msg("%s: status %s, expected %s (%s)", what, att_status_string(got),
             att_status_string(want), att_last_error());
  allowed = want == ATT_OK ? 0 : atomic_load(&n_frees);
  if (atomic_load(&n_allocations) > allowed || atomic_load(&n_maps) + atomic_load(&n_threads) != 0)
    fail_msg("%s: %ld allocations (%ld freed), %ld mappings and %ld threads started", what,
             atomic_load(&n_allocations), atomic_load(&n_frees), atomic_load(&n_maps),
             atomic_load(&n_threads));
}

enum { N = 600, D = 16 };

/* What the calls work on: the handle, their arguments' state, and the
 * caller's buffers (allocated before anything is counted). */
typedef struct work {
  att_state *h;
  tu_rng r;
  double row[D], out[N * D], lse[N], *saved;
  int64_t saved_size;
} work;

static double delta(work *w) { return 0.05 * tu_range(&w->r, -1.0, 1.0); }

/* `count` single updates of which[i][j] at random (i, j). */
static att_status updates(work *w, att_matrix which, int count) {
  att_status st = ATT_OK;
  int t;
  for (t = 0; t < count && st == ATT_OK; ++t) {
    const int64_t i = tu_below(&w->r, N), j = tu_below(&w->r, D);
    const double x = delta(w);
    st = which == ATT_MATRIX_K   ? att_update_k(w->h, i, j, x)
         : which == ATT_MATRIX_V ? att_update_v(w->h, i, j, x)
                                 : att_update_q(w->h, i, j, x);
  }
  return st;
}

static att_status update_k(void *p) { return updates(p, ATT_MATRIX_K, 300); }
static att_status update_v(void *p) { return updates(p, ATT_MATRIX_V, 300); }
static att_status update_q(void *p) { return updates(p, ATT_MATRIX_Q, 4); }

static att_status set_entries(void *p) {
  work *w = p;
  const att_matrix which[] = {ATT_MATRIX_Q, ATT_MATRIX_K, ATT_MATRIX_V};
  att_status st = ATT_OK;
  int t;
  for (t = 0; t < 3 && st == ATT_OK; ++t)
    st = att_set_entry(w->h, which[t], tu_below(&w->r, N), tu_below(&w->r, D), delta(w));
  return st;
}

static att_status set_rows(void *p) {
  work *w = p;
  const att_matrix which[] = {ATT_MATRIX_Q, ATT_MATRIX_K, ATT_MATRIX_V};
  att_status st = ATT_OK;
  int t, c;
  for (t = 0; t < 3 && st == ATT_OK; ++t) {
    for (c = 0; c < D; ++c) w->row[c] = delta(w);
    st = att_set_row(w->h, which[t], tu_below(&w->r, N), w->row, 1);
  }
  return st;
}

/* A key change whose logits would exceed ATT_MAX_LOGIT: refused, with a
 * message. */
static att_status refused_update(void *p) {
  work *w = p;
  return att_update_k(w->h, 3, 0, 1e300);
}

static att_status fold(void *p) { return att_fold(((work *)p)->h); }

static att_status queries(void *p) {
  work *w = p;
  att_status st = ATT_OK;
  int t;
  for (t = 0; t < 100 && st == ATT_OK; ++t)
    st = att_query(w->h, tu_below(&w->r, N), tu_below(&w->r, D), w->out);
  if (st == ATT_OK) st = att_query_row(w->h, tu_below(&w->r, N), w->row);
  if (st == ATT_OK) st = att_query_rows(w->h, 0, N, ATT_COL_MAJOR, w->out, N);
  if (st == ATT_OK) st = att_output(w->h, ATT_ROW_MAJOR, w->out, D);
  if (st == ATT_OK) st = att_query_lse(w->h, 0, N, w->lse);
  return st;
}

static att_status reads(void *p) {
  work *w = p;
  int64_t n_q = 0, n_kv = 0, d_k = 0, d_v = 0, written = 0;
  att_status st = att_shape(w->h, &n_q, &n_kv, &d_k, &d_v);
  if (st == ATT_OK) st = att_get_matrix(w->h, ATT_MATRIX_K, ATT_ROW_MAJOR, w->out, D);
  if (st == ATT_OK) st = att_save_buffer(w->h, w->saved, w->saved_size, &written);
  return st;
}

/* The sequence, on w's handle: updates of every kind and size (folds,
 * sweeps and recomputed rows among them), a refused update, queries of
 * every kind and reads. With pending terms before the queries. */
static void sequence(work *w, int counting) {
  call(counting, "att_update_k", ATT_OK, update_k, w);
  call(counting, "att_update_v", ATT_OK, update_v, w);
  call(counting, "att_update_q", ATT_OK, update_q, w);
  call(counting, "att_set_entry", ATT_OK, set_entries, w);
  call(counting, "att_set_row", ATT_OK, set_rows, w);
  call(counting, "a refused att_update_k", ATT_E_RANGE, refused_update, w);
  call(counting, "the queries", ATT_OK, queries, w);
  call(counting, "att_fold", ATT_OK, fold, w);
  call(counting, "the queries after the fold", ATT_OK, queries, w);
  call(counting, "att_shape, att_get_matrix, att_save_buffer", ATT_OK, reads, w);
}

static void init_work(work *w, const double *Q, const double *K, const double *V,
                      const att_config *cfg, uint64_t seed) {
  memset(w, 0, sizeof *w);
  tu_rng_seed(&w->r, seed);
  assert_int_equal(att_init(&w->h, N, D, Q, K, V, cfg), ATT_OK);
  assert_int_equal(att_save_size(w->h, &w->saved_size), ATT_OK);
  w->saved = tu_xmalloc((size_t)w->saved_size);
}

static void free_work(work *w) {
  att_free(w->h);
  free(w->saved);
}

/* In both storages, under the lazy and the adaptive strategy (k = 16, so
 * that the streams fold often), the counted sequence allocates nothing. */
static void test_updates_and_queries_never_allocate(void **state) {
  static const att_storage storages[] = {ATT_STORAGE_DENSE, ATT_STORAGE_STREAMED};
  static const att_strategy strategies[] = {ATT_STRATEGY_LAZY, ATT_STRATEGY_ADAPTIVE};
  tu_mirror m;
  size_t a, s;
  tu_rng r;
  (void)state;
  tu_rng_seed(&r, 91);
  tu_mirror_alloc(&m, N, D, 1.0);
  tu_mirror_randomize(&m, &r, 1.0, 1.0);
  for (a = 0; a < sizeof storages / sizeof storages[0]; ++a)
    for (s = 0; s < sizeof strategies / sizeof strategies[0]; ++s) {
      att_config *cfg = NULL;
      work warm, counted;
      assert_int_equal(att_config_create(&cfg), ATT_OK);
      assert_int_equal(att_config_set_storage(cfg, storages[a]), ATT_OK);
      assert_int_equal(att_config_set_strategy(cfg, strategies[s]), ATT_OK);
      assert_int_equal(att_config_set_lazy_limit(cfg, 16), ATT_OK);
      init_work(&warm, m.Q, m.K, m.V, cfg, 5);
      init_work(&counted, m.Q, m.K, m.V, cfg, 5);
      sequence(&warm, 0);
      sequence(&counted, 1);
      free_work(&warm);
      free_work(&counted);
      att_config_free(cfg);
    }
  tu_mirror_free(&m);
}

/* The counter counts what the test and the library do: a thread started
 * here, and the allocations of a configuration and of a handle whose 1024 x
 * 1024 kernel (8 MiB) the library maps from the kernel. */
static void *idle(void *arg) { return arg; }

static void test_counter_counts(void **state) {
  enum { n = 1024, d = 4 };
  double *Q = tu_alloc_doubles(n * d), *K = tu_alloc_doubles(n * d), *V = tu_alloc_doubles(n * d);
  att_config *cfg = NULL;
  att_state *h = NULL;
  pthread_t thread;
  (void)state;
  start_counting(1);
  assert_int_equal(pthread_create(&thread, NULL, idle, NULL), 0);
  assert_int_equal(att_config_create(&cfg), ATT_OK);
  assert_int_equal(att_config_set_storage(cfg, ATT_STORAGE_DENSE), ATT_OK);
  assert_int_equal(att_init(&h, n, d, Q, K, V, cfg), ATT_OK);
  atomic_store(&armed, 0);
  assert_int_equal(pthread_join(thread, NULL), 0);
  assert_true(atomic_load(&n_threads) >= 1);
  assert_true(atomic_load(&n_allocations) >= 2);
  assert_true(atomic_load(&n_maps) >= 1);
  att_free(h);
  att_config_free(cfg);
  free(Q);
  free(K);
  free(V);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counter_counts),
      cmocka_unit_test(test_updates_and_queries_never_allocate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
