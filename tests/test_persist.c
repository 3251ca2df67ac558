/*
 * Clones, save and load: bit-identical results after a round trip, identical
 * evolution afterwards, atomic saves to a path, and loading of truncated,
 * corrupted and foreign data: every byte position of a small saved state is
 * flipped and every length truncated, and each load must fail with a clear
 * status, never crash, and leave *out NULL.
 *
 * SPDX-License-Identifier: MIT
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "dynattn.h"
#include "reference.h"
#include "states_v1.h"
#include "states_v2.h"
#include "states_v3.h"

/* The format version this library writes (docs/FORMAT.md). */
static const uint32_t kFormatVersion = 4;
#include "test_util.h"

#define HEADER 32

/* A small (causal, cross-attention) state in the given storage, lazy limit
 * 8, logit scale 1, with Q and K uniform in [-1, 1] and V normal from seed. */
static att_state *new_state(att_storage storage, int64_t n_q, int64_t n_kv, int64_t d_k,
                            int64_t d_v, int causal, uint64_t seed) {
  tu_rng r;
  double *Q = tu_alloc_doubles(n_q * d_k), *K = tu_alloc_doubles(n_kv * d_k);
  double *V = tu_alloc_doubles(n_kv * d_v);
  att_config *cfg = NULL;
  att_state *h = NULL;
  tu_rng_seed(&r, seed);
  tu_fill_uniform(&r, Q, n_q * d_k, -1, 1);
  tu_fill_uniform(&r, K, n_kv * d_k, -1, 1);
  tu_fill_normal(&r, V, n_kv * d_v, 1);
  assert_int_equal(att_config_create(&cfg), ATT_OK);
  assert_int_equal(att_config_set_lazy_limit(cfg, 8), ATT_OK);
  assert_int_equal(att_config_set_causal(cfg, causal), ATT_OK);
  assert_int_equal(att_config_set_storage(cfg, storage), ATT_OK);
  assert_int_equal(
      att_init_general(&h, n_q, n_kv, d_k, d_v, ATT_ROW_MAJOR, Q, d_k, K, d_k, V, d_v, cfg),
      ATT_OK);
  att_config_free(cfg);
  free(Q);
  free(K);
  free(V);
  return h;
}

/* new_state() with pending key and value terms. */
static att_state *stored_state(att_storage storage, int64_t n_q, int64_t n_kv, int64_t d_k,
                               int64_t d_v, int causal, uint64_t seed) {
  att_state *h = new_state(storage, n_q, n_kv, d_k, d_v, causal, seed);
  assert_int_equal(att_update_k(h, n_kv - 1, 0, 0.25), ATT_OK);
  assert_int_equal(att_update_v(h, 0, d_v - 1, -0.5), ATT_OK);
  assert_int_equal(att_update_q(h, n_q - 1, d_k - 1, 0.125), ATT_OK);
  assert_int_equal(att_update_k(h, 0, d_k - 1, -0.375), ATT_OK);
  return h;
}

static att_state *small_state(int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v, int causal,
                              uint64_t seed) {
  return stored_state(ATT_STORAGE_DENSE, n_q, n_kv, d_k, d_v, causal, seed);
}

static unsigned char *save(const att_state *h, int64_t *size) {
  unsigned char *buf;
  int64_t written = -1;
  assert_int_equal(att_save_size(h, size), ATT_OK);
  buf = tu_xmalloc((size_t)*size);
  assert_int_equal(att_save_buffer(h, buf, *size, &written), ATT_OK);
  assert_int_equal(written, *size);
  return buf;
}

/* All results and statistics bitwise equal. */
static void assert_identical(const att_state *a, const att_state *b) {
  int64_t n_q, n_kv, d_k, d_v, kind, i, j;
  double *x, *y;
  assert_int_equal(att_shape(a, &n_q, &n_kv, &d_k, &d_v), ATT_OK);
  x = tu_alloc_doubles(n_q * d_v + n_kv * (d_k + d_v));
  y = tu_alloc_doubles(n_q * d_v + n_kv * (d_k + d_v));
  for (i = 0; i < n_q; ++i)
    for (j = 0; j < d_v; ++j) {
      double u = NAN, v = NAN;
      assert_int_equal(att_query(a, i, j, &u), ATT_OK);
      assert_int_equal(att_query(b, i, j, &v), ATT_OK);
      if (memcmp(&u, &v, sizeof u) != 0)
        fail_msg("query(%lld, %lld): %.17g vs %.17g", (long long)i, (long long)j, u, v);
    }
  assert_int_equal(att_query_lse(a, 0, n_q, x), ATT_OK);
  assert_int_equal(att_query_lse(b, 0, n_q, y), ATT_OK);
  assert_memory_equal(x, y, (size_t)n_q * sizeof *x);
  assert_int_equal(att_get_matrix(a, ATT_MATRIX_K, ATT_ROW_MAJOR, x, d_k), ATT_OK);
  assert_int_equal(att_get_matrix(b, ATT_MATRIX_K, ATT_ROW_MAJOR, y, d_k), ATT_OK);
  assert_memory_equal(x, y, (size_t)(n_kv * d_k) * sizeof *x);
  for (kind = ATT_STAT_UPDATES_Q; kind <= ATT_STAT_FOLD_THRESHOLD; ++kind) {
    int64_t u = -1, v = -2;
    assert_int_equal(att_stat(a, (att_stat_kind)kind, &u), ATT_OK);
    assert_int_equal(att_stat(b, (att_stat_kind)kind, &v), ATT_OK);
    assert_int_equal(u, v);
  }
  free(x);
  free(y);
}

/* The same updates on both handles, then bitwise comparison again. */
static void evolve_both(att_state *a, att_state *b, int64_t n_q, int64_t n_kv, int64_t d_k,
                        int64_t d_v) {
  int t;
  for (t = 0; t < 40; ++t) {
    att_state *h[2] = {a, b};
    int w;
    for (w = 0; w < 2; ++w) {
      assert_int_equal(att_update_k(h[w], t % n_kv, t % d_k, 0.01 * (t % 7 - 3)), ATT_OK);
      assert_int_equal(att_update_v(h[w], (t * 3) % n_kv, t % d_v, 0.1 * (t % 5 - 2)), ATT_OK);
      if (t % 5 == 0) assert_int_equal(att_update_q(h[w], t % n_q, t % d_k, 0.05), ATT_OK);
    }
  }
  assert_identical(a, b);
}

static void test_round_trips(void **state) {
  static const int64_t shapes[][5] = {
      {3, 3, 2, 2, 0}, {3, 3, 2, 2, 1}, {4, 9, 3, 5, 1}, {7, 5, 2, 3, 0}, {1, 1, 1, 1, 0}};
  size_t a;
  (void)state;
  for (a = 0; a < 2 * (sizeof shapes / sizeof shapes[0]); ++a) {
    const int64_t *s = shapes[a / 2];
    att_state *h = stored_state(a % 2 ? ATT_STORAGE_STREAMED : ATT_STORAGE_DENSE, s[0], s[1], s[2],
                                s[3], (int)s[4], 77 + a);
    att_state *loaded = NULL, *clone = NULL;
    int64_t size, size2;
    unsigned char *buf = save(h, &size), *buf2;
    assert_int_equal(att_load_buffer(&loaded, buf, size), ATT_OK);
    assert_int_equal(att_clone(h, &clone), ATT_OK);
    assert_identical(h, loaded);
    assert_identical(h, clone);
    /* Saving the loaded state gives the bytes of the original, saved after
     * the same queries (queries count towards the adaptive strategy). */
    free(buf);
    buf = save(h, &size);
    buf2 = save(loaded, &size2);
    assert_int_equal(size, size2);
    assert_memory_equal(buf, buf2, (size_t)size);
    evolve_both(h, loaded, s[0], s[1], s[2], s[3]);
    /* The clone evolves like a second copy loaded from the same bytes. */
    att_free(loaded);
    loaded = NULL;
    assert_int_equal(att_load_buffer(&loaded, buf, size), ATT_OK);
    evolve_both(clone, loaded, s[0], s[1], s[2], s[3]);
    att_free(h);
    att_free(loaded);
    att_free(clone);
    free(buf);
    free(buf2);
  }
}

/* A clone is independent: updating one leaves the other as it was. */
static void test_clone_independent(void **state) {
  att_state *h = small_state(4, 6, 2, 3, 1, 5), *c = NULL, *ref = NULL;
  (void)state;
  assert_int_equal(att_clone(h, &c), ATT_OK);
  assert_int_equal(att_clone(h, &ref), ATT_OK);
  assert_int_equal(att_update_k(c, 1, 0, 1.0), ATT_OK);
  assert_int_equal(att_update_q(c, 2, 1, -1.0), ATT_OK);
  assert_int_equal(att_fold(c), ATT_OK);
  assert_identical(h, ref);
  att_free(c);
  assert_identical(h, ref);
  att_free(h);
  att_free(ref);
}

static int allowed_status(att_status st) {
  return st == ATT_E_FORMAT || st == ATT_E_VERSION || st == ATT_E_ENDIAN || st == ATT_E_TRUNCATED ||
         st == ATT_E_CORRUPT;
}

static void expect_load_failure(const unsigned char *buf, int64_t size, att_status want,
                                const char *what, int64_t where) {
  att_state *out = (att_state *)(void *)&out; /* any non-NULL value */
  const att_status st = att_load_buffer(&out, buf, size);
  if (out != NULL)
    fail_msg("%s at %lld: *out is not NULL after a failed load", what, (long long)where);
  if (want == ATT_OK ? !allowed_status(st) : st != want)
    fail_msg("%s at %lld: status %d (%s)", what, (long long)where, (int)st, att_status_string(st));
  if (att_last_error()[0] == '\0')
    fail_msg("%s at %lld: no detail message", what, (long long)where);
}

static void put_u32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

/* Flip every byte (three patterns each) and truncate to every length, of a
 * dense and of a streamed state. */
static void test_flip_and_truncate(void **state) {
  static const att_storage storages[] = {ATT_STORAGE_DENSE, ATT_STORAGE_STREAMED};
  static const unsigned char patterns[] = {0x01, 0x80, 0xff};
  size_t s;
  (void)state;
  for (s = 0; s < sizeof storages / sizeof storages[0]; ++s) {
    att_state *h = stored_state(storages[s], 3, 3, 2, 2, 1, 11);
    int64_t size, p;
    unsigned char *buf = save(h, &size);
    unsigned char *copy = tu_xmalloc((size_t)size + 1);
    for (p = 0; p < size; ++p) {
      size_t a;
      for (a = 0; a < sizeof patterns; ++a) {
        memcpy(copy, buf, (size_t)size);
        copy[p] ^= patterns[a];
        expect_load_failure(copy, size,
                            p < 8     ? ATT_E_FORMAT
                            : p >= 24 ? ATT_E_CORRUPT
                                      : ATT_OK,
                            "flipped byte", p);
      }
    }
    /* Versions 2 to 4 differ only in the dense store's section: a streamed
     * state labelled 2 or 3 reads as the same state, and a dense one is
     * refused (its section starts with a marker since version 4). */
    for (p = 2; p < (int64_t)kFormatVersion; ++p) {
      memcpy(copy, buf, (size_t)size);
      put_u32(copy + 12, (uint32_t)p);
      if (storages[s] == ATT_STORAGE_STREAMED) {
        att_state *loaded = NULL;
        assert_int_equal(att_load_buffer(&loaded, copy, size), ATT_OK);
        assert_identical(h, loaded);
        att_free(loaded);
      } else {
        expect_load_failure(copy, size, ATT_E_CORRUPT, "older version label", 12);
      }
    }
    for (p = 0; p < size; ++p) expect_load_failure(buf, p, ATT_E_TRUNCATED, "truncated to", p);
    /* One byte too many. */
    memcpy(copy, buf, (size_t)size);
    copy[size] = 0;
    expect_load_failure(copy, size + 1, ATT_E_CORRUPT, "trailing byte", size);
    free(copy);
    free(buf);
    att_free(h);
  }
}

static void reseal(unsigned char *buf, int64_t size) {
  put_u64(buf + 24, XXH3_64bits(buf + HEADER, (size_t)(size - HEADER)));
}

/* Foreign and hostile data, each with its own status. */
static void test_foreign(void **state) {
  att_state *h = small_state(3, 3, 2, 2, 0, 12);
  int64_t size;
  unsigned char *buf = save(h, &size);
  unsigned char *copy = tu_xmalloc((size_t)size);
  unsigned char junk[64];
  int64_t t;
  (void)state;
  for (t = 0; t < 64; ++t) junk[t] = (unsigned char)(t * 37 + 5);
  expect_load_failure(junk, 64, ATT_E_FORMAT, "junk", 0);
  expect_load_failure((const unsigned char *)"%PDF-1.7 not a state", 20, ATT_E_FORMAT, "pdf", 0);
  expect_load_failure(buf, 0, ATT_E_TRUNCATED, "empty", 0);

  /* The other byte order. */
  memcpy(copy, buf, (size_t)size);
  put_u32(copy + 8, 0x0D0C0B0Au);
  expect_load_failure(copy, size, ATT_E_ENDIAN, "byte order", 8);
  /* A newer format version, and version 0, which never existed. */
  memcpy(copy, buf, (size_t)size);
  put_u32(copy + 12, kFormatVersion + 1);
  expect_load_failure(copy, size, ATT_E_VERSION, "version", 12);
  put_u32(copy + 12, 0);
  expect_load_failure(copy, size, ATT_E_VERSION, "version 0", 12);
  /* A declared length longer than the data. */
  memcpy(copy, buf, (size_t)size);
  put_u64(copy + 16, UINT64_C(1) << 62);
  expect_load_failure(copy, size, ATT_E_TRUNCATED, "length", 16);

  /* A valid checksum over hostile contents: a huge shape must be refused
   * before anything is allocated, and so must inconsistent fields. */
  memcpy(copy, buf, (size_t)size);
  put_u64(copy + HEADER, UINT64_C(1) << 30);     /* n_q */
  put_u64(copy + HEADER + 8, UINT64_C(1) << 30); /* n_kv */
  reseal(copy, size);
  expect_load_failure(copy, size, ATT_E_CORRUPT, "huge shape", HEADER);
  memcpy(copy, buf, (size_t)size);
  put_u64(copy + HEADER, (uint64_t)-5);
  reseal(copy, size);
  expect_load_failure(copy, size, ATT_E_CORRUPT, "negative n_q", HEADER);
  memcpy(copy, buf, (size_t)size);
  put_u64(copy + HEADER + 40, 0); /* lazy limit */
  reseal(copy, size);
  expect_load_failure(copy, size, ATT_E_CORRUPT, "lazy limit 0", HEADER + 40);
  memcpy(copy, buf, (size_t)size);
  put_u64(copy + HEADER + 48, 7); /* causal flag */
  reseal(copy, size);
  expect_load_failure(copy, size, ATT_E_CORRUPT, "causal flag", HEADER + 48);
  memcpy(copy, buf, (size_t)size);
  put_u32(copy + HEADER + 56, 99); /* storage kind */
  reseal(copy, size);
  expect_load_failure(copy, size, ATT_E_CORRUPT, "storage kind", HEADER + 56);
  /* Only the adaptive strategy counts query work, and the eager one never
   * keeps pending changes between calls (this state has three). */
  memcpy(copy, buf, (size_t)size);
  put_u32(copy + HEADER + 60, ATT_STRATEGY_LAZY);
  put_u64(copy + HEADER + 128, 123456); /* query work */
  reseal(copy, size);
  expect_load_failure(copy, size, ATT_E_CORRUPT, "query work of a lazy state", HEADER + 60);
  memcpy(copy, buf, (size_t)size);
  put_u32(copy + HEADER + 60, ATT_STRATEGY_EAGER);
  reseal(copy, size);
  expect_load_failure(copy, size, ATT_E_CORRUPT, "pending changes of an eager state", HEADER + 60);
  /* The dense store's section, the last 3 x 3 doubles, holds A: an entry
   * above e^64 (the headroom), negative, below the smallest exponential
   * (subnormal) or not a number is refused, and so is a non-zero entry of a
   * key the causal mask hides. */
  {
    const double bad_entries[4] = {1e30, -1.0, 1e-310, NAN};
    int b;
    for (b = 0; b < 4; ++b) {
      memcpy(copy, buf, (size_t)size);
      memcpy(copy + size - 8, &bad_entries[b], 8);
      reseal(copy, size);
      expect_load_failure(copy, size, ATT_E_CORRUPT, "entry of A", size - 8);
    }
  }
  {
    att_state *causal = small_state(3, 3, 2, 2, 1, 12);
    int64_t causal_size;
    unsigned char *saved = save(causal, &causal_size);
    const double one = 1.0;
    /* A[0, 2], hidden from query row 0, at column 2 of the section. */
    memcpy(saved + causal_size - 9 * 8 + (2 * 3 + 0) * 8, &one, 8);
    reseal(saved, causal_size);
    expect_load_failure(saved, causal_size, ATT_E_CORRUPT, "masked entry", 0);
    free(saved);
    att_free(causal);
  }
  /* Every payload byte set to 0xff in turn, resealed: never a crash. */
  for (t = HEADER; t < size; ++t) {
    att_state *out = NULL;
    att_status st;
    memcpy(copy, buf, (size_t)size);
    copy[t] = 0xff;
    reseal(copy, size);
    st = att_load_buffer(&out, copy, size);
    if (st == ATT_OK)
      att_free(out); /* e.g. a changed entry of Q that is still a valid number */
    else if (!allowed_status(st) || out != NULL)
      fail_msg("resealed byte %lld: status %d", (long long)t, (int)st);
  }
  free(copy);
  free(buf);
  att_free(h);
}

/* ---- The pending value rows' kernel columns ---------------------------------------- */

static double get_f64(const unsigned char *p) {
  double v;
  memcpy(&v, p, 8);
  return v;
}

static int64_t get_i64(const unsigned char *p) {
  int64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* Section 7 of a saved state holds each pending value row's current column
 * of A = exp(s Q K^T - shift) (docs/FORMAT.md), which the library computes
 * when saving (readers of older releases keep it with the pending row). The
 * rows' kernel entries changed after the value changes (a key update of a
 * pending value row, a query row change) must show in it; checked against a
 * long-double recomputation from the handle's Q and K and the saved shifts. */
static void test_saved_value_columns_are_current(void **state) {
  static const att_storage storages[] = {ATT_STORAGE_DENSE, ATT_STORAGE_STREAMED};
  const int64_t n_q = 5, n_kv = 7, d_k = 3, d_v = 4;
  size_t st;
  int causal;
  (void)state;
  for (st = 0; st < 2; ++st)
    for (causal = 0; causal < 2; ++causal) {
      double Q[5 * 3], K[7 * 3];
      att_state *h = new_state(storages[st], n_q, n_kv, d_k, d_v, causal, 500 + st * 2 + causal);
      int64_t size, pos, t, n_keys, n_rows, i, c;
      unsigned char *buf, *payload;
      /* Value rows 6, 2 and 4 become pending (5 changes in all, below the
       * lazy limit: no fold); then key rows 2 and 6 and query row 1 change
       * under them. */
      assert_int_equal(att_update_v(h, 6, 1, 0.5), ATT_OK);
      assert_int_equal(att_update_v(h, 2, 3, -1.5), ATT_OK);
      assert_int_equal(att_update_v(h, 4, 0, 0.25), ATT_OK);
      assert_int_equal(att_update_k(h, 2, 0, 0.75), ATT_OK);
      assert_int_equal(att_update_k(h, 6, 2, -0.5), ATT_OK);
      assert_int_equal(att_update_q(h, 1, 1, 0.625), ATT_OK);
      assert_int_equal(att_get_matrix(h, ATT_MATRIX_Q, ATT_ROW_MAJOR, Q, d_k), ATT_OK);
      assert_int_equal(att_get_matrix(h, ATT_MATRIX_K, ATT_ROW_MAJOR, K, d_k), ATT_OK);

      buf = save(h, &size);
      payload = buf + HEADER;
      /* Sections 1 and 2, then Q, K, V, V0 and C0. */
      pos = 64 + 72 + 8 * (n_q * d_k + n_kv * d_k + 2 * n_kv * d_v + n_q * d_v);
      {
        const int64_t shift_pos = pos;
        pos += 8 * 4 * n_q + 9 * d_v; /* section 4, section 5 */
        n_keys = get_i64(payload + pos);
        assert_int_equal(n_keys, 2);
        pos += 16 + 8 * n_keys + 8 * n_keys * n_q;
        n_rows = get_i64(payload + pos);
        assert_int_equal(n_rows, 3);
        assert_int_equal(get_i64(payload + pos + 8), 3);
        pos += 16;
        for (t = 0; t < n_rows; ++t) {
          const int64_t row = get_i64(payload + pos + 8 * t);
          assert_true(row == 6 || row == 2 || row == 4);
        }
        for (t = 0; t < n_rows; ++t) {
          c = get_i64(payload + pos + 8 * t);
          for (i = 0; i < n_q; ++i) {
            const double got = get_f64(payload + pos + 8 * n_rows + 8 * (t * n_q + i));
            const double shift = get_f64(payload + shift_pos + 8 * i);
            long double dot = 0.0L, want;
            int64_t k;
            for (k = 0; k < d_k; ++k) dot += (long double)Q[i * d_k + k] * K[c * d_k + k];
            want = causal && c > i + (n_kv - n_q) ? 0.0L : expl(dot - shift);
            if (fabsl(got - want) > 1e-13L * want)
              fail_msg("storage %d causal %d: A[%lld, %lld] saved as %.17g, exact %.17Lg",
                       (int)storages[st], causal, (long long)i, (long long)c, got, want);
          }
        }
      }
      free(buf);
      att_free(h);
    }
}

/* ---- Files ------------------------------------------------------------------------- */

static char dir_template[] = "/tmp/dynattn-persist-XXXXXX";

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  assert_non_null(d);
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) ++n;
  closedir(d);
  return n;
}

static void test_files(void **state) {
  char dir[sizeof dir_template], path[256], missing[256], subdir[256];
  att_state *h = small_state(4, 6, 3, 2, 1, 21), *loaded = NULL, *other = NULL;
  att_state *out;
  (void)state;
  memcpy(dir, dir_template, sizeof dir);
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/state.att", dir);
  snprintf(missing, sizeof missing, "%s/no/such/dir/state.att", dir);
  snprintf(subdir, sizeof subdir, "%s/sub", dir);

  assert_int_equal(att_save_file(h, path), ATT_OK);
  assert_int_equal(count_entries(dir), 1);
  assert_int_equal(att_load_file(&loaded, path), ATT_OK);
  assert_identical(h, loaded);

  /* Saving over an existing file replaces it whole. */
  other = small_state(3, 3, 2, 2, 0, 22);
  assert_int_equal(att_save_file(other, path), ATT_OK);
  assert_int_equal(count_entries(dir), 1);
  att_free(loaded);
  loaded = NULL;
  assert_int_equal(att_load_file(&loaded, path), ATT_OK);
  assert_identical(other, loaded);

  /* Failures: no temporary file is left behind, the good file survives. */
  assert_int_equal(att_save_file(h, missing), ATT_E_IO);
  assert_non_null(strstr(att_last_error(), "no/such/dir"));
  assert_int_equal(mkdir(subdir, 0700), 0);
  assert_int_equal(att_save_file(h, subdir), ATT_E_IO); /* rename onto a directory */
  assert_int_equal(count_entries(dir), 2);
  att_free(loaded);
  loaded = NULL;
  assert_int_equal(att_load_file(&loaded, path), ATT_OK);
  assert_identical(other, loaded);

  out = (att_state *)(void *)&out;
  assert_int_equal(att_load_file(&out, missing), ATT_E_IO);
  assert_null(out);
  out = (att_state *)(void *)&out;
  assert_int_equal(att_load_file(&out, subdir), ATT_E_IO);
  assert_null(out);
  /* The file is read up to the state's end and one byte more: a byte
   * after the state is still seen, and refused. */
  {
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fputc(0, f), 0);
    assert_int_equal(fclose(f), 0);
    out = (att_state *)(void *)&out;
    assert_int_equal(att_load_file(&out, path), ATT_E_CORRUPT);
    assert_non_null(strstr(att_last_error(), "trailing"));
    assert_null(out);
  }
  /* A file of another kind is refused after its first bytes, however long:
   * /dev/zero has no end. */
  out = (att_state *)(void *)&out;
  assert_int_equal(att_load_file(&out, "/dev/zero"), ATT_E_FORMAT);
  assert_null(out);

  assert_int_equal(rmdir(subdir), 0);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(rmdir(dir), 0);
  att_free(h);
  att_free(other);
  att_free(loaded);
}

/* Argument errors of the persistence functions. */
/* ---- Older format versions ---------------------------------------------------------------- */

/* The problem states_v1.h describes, rebuilt here from its description. */
static double lcg_uniform(uint64_t *s) {
  *s = *s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
  return (double)(*s >> 11) * 0x1p-53 * 2.0 - 1.0;
}

static void v1_problem(double *Q, double *K, double *V) {
  static const double row5[4] = {0.5, -0.25, 1.5, 2};
  uint64_t s = 42;
  int t;
  for (t = 0; t < 15; ++t) Q[t] = lcg_uniform(&s);
  for (t = 0; t < 21; ++t) K[t] = lcg_uniform(&s);
  for (t = 0; t < 28; ++t) V[t] = lcg_uniform(&s);
  K[6 * 3 + 0] += 0.25;
  V[0 * 4 + 3] += -0.5;
  V[2 * 4 + 1] += 0.75;
  Q[4 * 3 + 2] += 0.125;
  K[0 * 3 + 2] += -0.375;
  memcpy(V + 5 * 4, row5, sizeof row5);
  K[3 * 3 + 1] += 0.5;
}

/* Every entry of h against the reference of (Q, K, V), causal, scale 1. */
static void check_against_reference(const att_state *h, const double *Q, const double *K,
                                    const double *V, const char *what) {
  const ref_problem p = {5, 7, 3, 4, 1.0, 1, Q, K, V};
  int64_t i, j;
  for (i = 0; i < 5; ++i) {
    double want[4];
    ref_general_row(&p, i, want);
    for (j = 0; j < 4; ++j) {
      const double bound =
          ref_tolerance(1e-12, 3, ref_general_logit_abs_sum(&p, i), ref_col_abs_max(7, 4, V, j));
      double got = NAN;
      assert_int_equal(att_query(h, i, j, &got), ATT_OK);
      if (!(fabs(got - want[j]) <= bound))
        fail_msg("%s: B[%lld][%lld] = %.17g, reference %.17g", what, (long long)i, (long long)j,
                 got, want[j]);
    }
  }
}

/* States saved in older formats (version 1 by 0.2.0, version 2 by a
 * development build of 0.3.0, version 3 by 0.3.0 before its dense store kept
 * A) load, answer correctly, keep their strategy and
 * pending work, go on evolving, and save again in the current version. */
static void test_old_versions(void **state) {
  const struct {
    const unsigned char *data;
    int64_t size;
    uint32_t version;
    att_storage storage;
    att_strategy strategy;
  } states[] = {
      {kStateV1Dense, (int64_t)sizeof kStateV1Dense, 1, ATT_STORAGE_DENSE, ATT_STRATEGY_LAZY},
      {kStateV1Streamed, (int64_t)sizeof kStateV1Streamed, 1, ATT_STORAGE_STREAMED,
       ATT_STRATEGY_LAZY},
      {kStateV2Dense, (int64_t)sizeof kStateV2Dense, 2, ATT_STORAGE_DENSE, ATT_STRATEGY_ADAPTIVE},
      {kStateV2Streamed, (int64_t)sizeof kStateV2Streamed, 2, ATT_STORAGE_STREAMED,
       ATT_STRATEGY_ADAPTIVE},
      {kStateV3Dense, (int64_t)sizeof kStateV3Dense, 3, ATT_STORAGE_DENSE, ATT_STRATEGY_ADAPTIVE},
      {kStateV3Streamed, (int64_t)sizeof kStateV3Streamed, 3, ATT_STORAGE_STREAMED,
       ATT_STRATEGY_ADAPTIVE}};
  const uint32_t little = 1;
  size_t a;
  (void)state;
  if (*(const unsigned char *)&little != 1) skip(); /* the fixtures are little-endian */
  for (a = 0; a < sizeof states / sizeof states[0]; ++a) {
    double Q[15], K[21], V[28], got[28];
    att_state *h = NULL, *again = NULL;
    unsigned char *buf;
    uint32_t version;
    int64_t size, stat;
    int t;
    v1_problem(Q, K, V);
    memcpy(&version, states[a].data + 12, sizeof version);
    assert_int_equal(version, states[a].version);
    assert_int_equal(att_load_buffer(&h, states[a].data, states[a].size), ATT_OK);
    assert_int_equal(att_stat(h, ATT_STAT_STORAGE, &stat), ATT_OK);
    assert_int_equal(stat, states[a].storage);
    assert_int_equal(att_stat(h, ATT_STAT_STRATEGY, &stat), ATT_OK);
    assert_int_equal(stat, states[a].strategy);
    assert_int_equal(att_stat(h, ATT_STAT_PENDING_KEY_ROWS, &stat), ATT_OK);
    assert_int_equal(stat, 3);
    assert_int_equal(att_stat(h, ATT_STAT_PENDING_VALUE_ROWS, &stat), ATT_OK);
    assert_int_equal(stat, 3);
    assert_int_equal(att_get_matrix(h, ATT_MATRIX_V, ATT_ROW_MAJOR, got, 4), ATT_OK);
    assert_memory_equal(got, V, sizeof V);
    assert_int_equal(att_get_matrix(h, ATT_MATRIX_K, ATT_ROW_MAJOR, got, 3), ATT_OK);
    assert_memory_equal(got, K, sizeof K);
    check_against_reference(h, Q, K, V, "loaded");
    for (t = 0; t < 20; ++t) {
      assert_int_equal(att_update_v(h, t % 7, t % 4, 0.125 * (t % 3 - 1)), ATT_OK);
      V[(t % 7) * 4 + t % 4] += 0.125 * (t % 3 - 1);
      assert_int_equal(att_update_k(h, (3 * t) % 7, t % 3, 0.0625), ATT_OK);
      K[((3 * t) % 7) * 3 + t % 3] += 0.0625;
    }
    check_against_reference(h, Q, K, V, "evolved");
    buf = save(h, &size);
    memcpy(&version, buf + 12, sizeof version);
    assert_int_equal(version, kFormatVersion);
    assert_int_equal(att_load_buffer(&again, buf, size), ATT_OK);
    assert_identical(h, again);
    att_free(again);
    att_free(h);
    free(buf);
  }
}

static void test_persist_errors(void **state) {
  att_state *h = small_state(3, 3, 2, 2, 0, 31), *out;
  int64_t size = 0, written = 77;
  unsigned char *buf;
  (void)state;
  assert_int_equal(att_save_size(h, &size), ATT_OK);
  buf = tu_xmalloc((size_t)size);
  memset(buf, 0xab, (size_t)size);
  assert_int_equal(att_save_buffer(h, buf, size - 1, &written), ATT_E_SIZE);
  assert_int_equal(written, 77);
  assert_int_equal(buf[0], 0xab);
  assert_int_equal(att_save_buffer(h, buf, -1, NULL), ATT_E_SIZE);
  assert_int_equal(att_save_buffer(NULL, buf, size, NULL), ATT_E_NULL);
  assert_int_equal(att_save_buffer(h, NULL, size, NULL), ATT_E_NULL);
  assert_int_equal(att_save_size(NULL, &size), ATT_E_NULL);
  assert_int_equal(att_save_size(h, NULL), ATT_E_NULL);
  assert_int_equal(att_save_file(h, NULL), ATT_E_NULL);
  assert_int_equal(att_save_file(NULL, "/tmp/x"), ATT_E_NULL);
  assert_int_equal(att_save_buffer(h, buf, size, NULL), ATT_OK);
  assert_int_equal(att_load_buffer(NULL, buf, size), ATT_E_NULL);
  out = (att_state *)(void *)&out;
  assert_int_equal(att_load_buffer(&out, NULL, size), ATT_E_NULL);
  assert_null(out);
  out = (att_state *)(void *)&out;
  assert_int_equal(att_load_buffer(&out, buf, -3), ATT_E_SIZE);
  assert_null(out);
  assert_int_equal(att_load_file(NULL, "/tmp/x"), ATT_E_NULL);
  out = (att_state *)(void *)&out;
  assert_int_equal(att_clone(NULL, &out), ATT_E_NULL);
  assert_null(out);
  assert_int_equal(att_clone(h, NULL), ATT_E_NULL);
  free(buf);
  att_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trips),
      cmocka_unit_test(test_clone_independent),
      cmocka_unit_test(test_flip_and_truncate),
      cmocka_unit_test(test_foreign),
      cmocka_unit_test(test_saved_value_columns_are_current),
      cmocka_unit_test(test_files),
      cmocka_unit_test(test_persist_errors),
      cmocka_unit_test(test_old_versions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
