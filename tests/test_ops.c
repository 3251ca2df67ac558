/*
 * Randomized differential tests of the full operation set: general shapes
 * (cross-attention, d_v != d_k), both input layouts, causal masks, Q updates,
 * set-style updates, whole-row replacement, batches, row/block/full-output
 * queries, log-sum-exp, forced folds, clones and save/load round trips, all
 * interleaved with the entry updates and queries of 0.1.0 and checked against
 * the long-double reference (reference.h) of a mirror of Q, K and V; failing
 * calls among them must leave the handle exactly as it was (the strong
 * guarantee, in every shape, layout, storage mode and strategy).
 *
 * SPDX-License-Identifier: MIT
 *
 * Every scenario runs under every entry of `variants` below: adding a
 * configuration variant (a storage mode, a strategy) there runs the whole
 * file under it too.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynattn.h"
#include "reference.h"
#include "test_util.h"

#define TOL 1e-10
#define QK_LIMIT 3.0
#define V_LIMIT 20.0

/* ---- Configuration variants ------------------------------------------------ */

typedef struct variant {
  const char *name;
  void (*apply)(att_config *cfg); /* called on a configuration before init */
  att_storage storage;            /* the store att_stat must report */
  att_strategy strategy;          /* the strategy att_stat must report */
} variant;

static void variant_default(att_config *cfg) { (void)cfg; }

static void variant_streamed(att_config *cfg) {
  assert_int_equal(att_config_set_storage(cfg, ATT_STORAGE_STREAMED), ATT_OK);
}

static void variant_lazy(att_config *cfg) {
  assert_int_equal(att_config_set_strategy(cfg, ATT_STRATEGY_LAZY), ATT_OK);
}

static void variant_eager(att_config *cfg) {
  assert_int_equal(att_config_set_strategy(cfg, ATT_STRATEGY_EAGER), ATT_OK);
}

static void variant_streamed_lazy(att_config *cfg) {
  variant_streamed(cfg);
  variant_lazy(cfg);
}

/* The automatic choice under a budget no dense store fits in. */
static void variant_auto_streamed(att_config *cfg) {
  assert_int_equal(att_config_set_storage(cfg, ATT_STORAGE_AUTO), ATT_OK);
  assert_int_equal(att_config_set_memory_budget(cfg, 1), ATT_OK);
}

static const variant variants[] = {
    {"dense", variant_default, ATT_STORAGE_DENSE, ATT_STRATEGY_ADAPTIVE},
    {"dense lazy", variant_lazy, ATT_STORAGE_DENSE, ATT_STRATEGY_LAZY},
    {"dense eager", variant_eager, ATT_STORAGE_DENSE, ATT_STRATEGY_EAGER},
    {"streamed", variant_streamed, ATT_STORAGE_STREAMED, ATT_STRATEGY_ADAPTIVE},
    {"streamed lazy", variant_streamed_lazy, ATT_STORAGE_STREAMED, ATT_STRATEGY_LAZY},
    {"auto-streamed", variant_auto_streamed, ATT_STORAGE_STREAMED, ATT_STRATEGY_ADAPTIVE},
};

/* ---- The mirror: row-major copies of the current problem -------------------- */

typedef struct gmirror {
  ref_problem p; /* points at Q, K, V below */
  double *Q, *K, *V;
} gmirror;

static void gm_alloc(gmirror *m, int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v, double scale,
                     int causal) {
  m->Q = tu_alloc_doubles(n_q * d_k);
  m->K = tu_alloc_doubles(n_kv * d_k);
  m->V = tu_alloc_doubles(n_kv * d_v);
  m->p.n_q = n_q;
  m->p.n_kv = n_kv;
  m->p.d_k = d_k;
  m->p.d_v = d_v;
  m->p.scale = scale;
  m->p.causal = causal;
  m->p.Q = m->Q;
  m->p.K = m->K;
  m->p.V = m->V;
}

static void gm_free(gmirror *m) {
  free(m->Q);
  free(m->K);
  free(m->V);
}

static double *gm_matrix(gmirror *m, att_matrix which, int64_t *rows, int64_t *cols) {
  *rows = which == ATT_MATRIX_Q ? m->p.n_q : m->p.n_kv;
  *cols = which == ATT_MATRIX_V ? m->p.d_v : m->p.d_k;
  return which == ATT_MATRIX_Q ? m->Q : which == ATT_MATRIX_K ? m->K : m->V;
}

/* A layout-converted copy with leading dimension ld (padding filled with a
 * value that would be noticed if read). */
static double *to_layout(const double *a, int64_t rows, int64_t cols, att_layout layout,
                         int64_t ld) {
  const int64_t outer = layout == ATT_ROW_MAJOR ? rows : cols;
  double *out = tu_xmalloc((size_t)(outer * ld) * sizeof *out);
  int64_t i, j;
  for (i = 0; i < outer * ld; ++i) out[i] = NAN;
  for (i = 0; i < rows; ++i)
    for (j = 0; j < cols; ++j)
      out[layout == ATT_ROW_MAJOR ? i * ld + j : i + j * ld] = a[i * cols + j];
  return out;
}

/* ---- Checks against the reference ----------------------------------------------- */

static double entry_bound(const gmirror *m, int64_t i, int64_t j) {
  return ref_tolerance(TOL, m->p.d_k, ref_general_logit_abs_sum(&m->p, i),
                       ref_general_col_abs_max(&m->p, j));
}

static void check_row_values(const gmirror *m, int64_t i, const double *got, int64_t stride,
                             const char *label) {
  double *ref = tu_xmalloc((size_t)m->p.d_v * sizeof *ref);
  int64_t j;
  ref_general_row(&m->p, i, ref);
  for (j = 0; j < m->p.d_v; ++j) {
    const double g = got[j * stride], bound = entry_bound(m, i, j);
    if (!isfinite(g) || !(fabs(g - ref[j]) <= bound))
      fail_msg("%s: B[%lld][%lld] = %.17g, reference %.17g, |diff| %.3g > bound %.3g", label,
               (long long)i, (long long)j, g, ref[j], fabs(g - ref[j]), bound);
  }
  free(ref);
}

static void check_lse(const gmirror *m, const att_state *h, int64_t i, const char *label) {
  double got = NAN, ref = ref_general_lse(&m->p, i);
  const double bound =
      TOL + REF_LOGIT_C0 * REF_UNIT_ROUNDOFF *
                (2.0 * (double)m->p.d_k * ref_general_logit_abs_sum(&m->p, i) + fabs(ref));
  assert_int_equal(att_query_lse(h, i, 1, &got), ATT_OK);
  if (!(fabs(got - ref) <= bound))
    fail_msg("%s: lse[%lld] = %.17g, reference %.17g, |diff| %.3g > %.3g", label, (long long)i, got,
             ref, fabs(got - ref), bound);
}

/* att_query_row against the reference, and bitwise against att_query. */
static void check_row(const gmirror *m, const att_state *h, int64_t i, const char *label) {
  double *row = tu_xmalloc((size_t)m->p.d_v * sizeof *row);
  int64_t j;
  assert_int_equal(att_query_row(h, i, row), ATT_OK);
  for (j = 0; j < m->p.d_v; ++j) {
    double b = NAN;
    assert_int_equal(att_query(h, i, j, &b), ATT_OK);
    if (b != row[j])
      fail_msg("%s: att_query(%lld, %lld) = %.17g but att_query_row gives %.17g", label,
               (long long)i, (long long)j, b, row[j]);
  }
  check_row_values(m, i, row, 1, label);
  free(row);
}

/* The whole output through att_output in a random layout with padding. */
static void check_all(const gmirror *m, const att_state *h, tu_rng *r, const char *label) {
  const int64_t n_q = m->p.n_q, d_v = m->p.d_v;
  const att_layout layout = tu_below(r, 2) ? ATT_COL_MAJOR : ATT_ROW_MAJOR;
  const int64_t ld = (layout == ATT_ROW_MAJOR ? d_v : n_q) + tu_below(r, 3);
  const int64_t outer = layout == ATT_ROW_MAJOR ? n_q : d_v;
  double *out = tu_xmalloc((size_t)(outer * ld) * sizeof *out);
  int64_t i;
  for (i = 0; i < outer * ld; ++i) out[i] = -12345.0;
  assert_int_equal(att_output(h, layout, out, ld), ATT_OK);
  for (i = 0; i < n_q; ++i) {
    if (layout == ATT_ROW_MAJOR) {
      check_row_values(m, i, out + i * ld, 1, label);
      if (ld > d_v && out[i * ld + d_v] != -12345.0)
        fail_msg("%s: att_output wrote into the padding", label);
    } else {
      check_row_values(m, i, out + i, ld, label);
    }
    check_lse(m, h, i, label);
  }
  free(out);
}

/* A block of rows through att_query_rows, compared bitwise with att_query_row. */
static void check_block(const gmirror *m, const att_state *h, tu_rng *r, const char *label) {
  const int64_t n_q = m->p.n_q, d_v = m->p.d_v;
  const int64_t i0 = tu_below(r, n_q), count = 1 + tu_below(r, n_q - i0);
  const att_layout layout = tu_below(r, 2) ? ATT_COL_MAJOR : ATT_ROW_MAJOR;
  const int64_t ld = (layout == ATT_ROW_MAJOR ? d_v : count) + tu_below(r, 2);
  const int64_t outer = layout == ATT_ROW_MAJOR ? count : d_v;
  double *out = tu_xmalloc((size_t)(outer * ld) * sizeof *out);
  double *row = tu_xmalloc((size_t)d_v * sizeof *row);
  double *lse = tu_xmalloc((size_t)count * sizeof *lse);
  int64_t a, j;
  assert_int_equal(att_query_rows(h, i0, count, layout, out, ld), ATT_OK);
  assert_int_equal(att_query_lse(h, i0, count, lse), ATT_OK);
  for (a = 0; a < count; ++a) {
    double one = NAN;
    assert_int_equal(att_query_row(h, i0 + a, row), ATT_OK);
    for (j = 0; j < d_v; ++j) {
      const double got = layout == ATT_ROW_MAJOR ? out[a * ld + j] : out[a + j * ld];
      if (got != row[j])
        fail_msg("%s: att_query_rows(%lld..) entry (%lld, %lld) differs from att_query_row", label,
                 (long long)i0, (long long)a, (long long)j);
    }
    assert_int_equal(att_query_lse(h, i0 + a, 1, &one), ATT_OK);
    assert_true(one == lse[a]);
  }
  check_row_values(m, i0 + count - 1, row, 1, label);
  free(out);
  free(row);
  free(lse);
}

/* att_get_matrix returns exactly the mirror's matrix, in both layouts. */
static void check_readback(gmirror *m, const att_state *h, att_matrix which, tu_rng *r) {
  int64_t rows, cols, i, j;
  const double *want = gm_matrix(m, which, &rows, &cols);
  const att_layout layout = tu_below(r, 2) ? ATT_COL_MAJOR : ATT_ROW_MAJOR;
  const int64_t ld = (layout == ATT_ROW_MAJOR ? cols : rows) + tu_below(r, 2);
  const int64_t outer = layout == ATT_ROW_MAJOR ? rows : cols;
  double *out = tu_alloc_doubles(outer * ld);
  assert_int_equal(att_get_matrix(h, which, layout, out, ld), ATT_OK);
  for (i = 0; i < rows; ++i)
    for (j = 0; j < cols; ++j) {
      const double got = layout == ATT_ROW_MAJOR ? out[i * ld + j] : out[i + j * ld];
      if (got != want[i * cols + j])
        fail_msg("att_get_matrix(%d): [%lld][%lld] = %.17g, expected %.17g", (int)which,
                 (long long)i, (long long)j, got, want[i * cols + j]);
    }
  free(out);
}

/* Every query result of two handles is bitwise the same. */
static void assert_same_results(const att_state *a, const att_state *b, int64_t n_q, int64_t d_v,
                                const char *label) {
  double *x = tu_xmalloc((size_t)(n_q * d_v) * sizeof *x);
  double *y = tu_xmalloc((size_t)(n_q * d_v) * sizeof *y);
  int64_t kind;
  assert_int_equal(att_output(a, ATT_ROW_MAJOR, x, d_v), ATT_OK);
  assert_int_equal(att_output(b, ATT_ROW_MAJOR, y, d_v), ATT_OK);
  if (memcmp(x, y, (size_t)(n_q * d_v) * sizeof *x) != 0) fail_msg("%s: the outputs differ", label);
  assert_int_equal(att_query_lse(a, 0, n_q, x), ATT_OK);
  assert_int_equal(att_query_lse(b, 0, n_q, y), ATT_OK);
  if (memcmp(x, y, (size_t)n_q * sizeof *x) != 0) fail_msg("%s: the log-sum-exps differ", label);
  for (kind = ATT_STAT_UPDATES_Q; kind <= ATT_STAT_FOLD_THRESHOLD; ++kind) {
    int64_t u = -1, v = -2;
    assert_int_equal(att_stat(a, (att_stat_kind)kind, &u), ATT_OK);
    assert_int_equal(att_stat(b, (att_stat_kind)kind, &v), ATT_OK);
    if (kind != ATT_STAT_BYTES && u != v)
      fail_msg("%s: statistic %lld differs: %lld vs %lld", label, (long long)kind, (long long)u,
               (long long)v);
  }
  free(x);
  free(y);
}

/* ---- The random operations --------------------------------------------------------- */

static double reflect(double cur, double delta, double limit) {
  return fabs(cur + delta) > limit ? -delta : delta;
}

static double limit_of(att_matrix which) { return which == ATT_MATRIX_V ? V_LIMIT : QK_LIMIT; }

static att_matrix random_matrix(tu_rng *r) { return (att_matrix)tu_below(r, 3); }

static double random_value(tu_rng *r, att_matrix which) {
  return which == ATT_MATRIX_V ? 3.0 * tu_normal(r) : tu_range(r, -1.5, 1.5);
}

static void expect_ok(att_status st, const char *call) {
  if (st != ATT_OK)
    fail_msg("%s = %d (%s): %s", call, (int)st, att_status_string(st), att_last_error());
}

/* Replace *h by a clone or a loaded copy, after checking bit-identity. */
static void swap_for_copy(att_state **h, const gmirror *m, int how) {
  att_state *copy = NULL;
  if (how == 0) {
    expect_ok(att_clone(*h, &copy), "att_clone");
  } else {
    int64_t size = 0, written = 0;
    unsigned char *buf;
    expect_ok(att_save_size(*h, &size), "att_save_size");
    buf = tu_xmalloc((size_t)size);
    expect_ok(att_save_buffer(*h, buf, size, &written), "att_save_buffer");
    assert_int_equal(written, size);
    expect_ok(att_load_buffer(&copy, buf, size), "att_load_buffer");
    free(buf);
  }
  assert_same_results(*h, copy, m->p.n_q, m->p.d_v, how == 0 ? "clone" : "save/load");
  att_free(*h);
  *h = copy;
}

/* A call that must fail: an index one past the end, a NaN or a value out of
 * range (1e300: logits or |V| past the library's bounds), in an entry
 * update, a set, a row replacement or as the last entry of a batch whose
 * other entries are valid. The handle must be exactly as it was: the same
 * outputs, log-sum-exps and statistics as a copy taken before the call. */
static void failing_call(att_state *h, const gmirror *m, tu_rng *r, const char *label) {
  static const att_status expected[3] = {ATT_E_INDEX, ATT_E_NONFINITE, ATT_E_RANGE};
  const att_matrix which = random_matrix(r);
  const int64_t rows = which == ATT_MATRIX_Q ? m->p.n_q : m->p.n_kv;
  const int64_t cols = which == ATT_MATRIX_V ? m->p.d_v : m->p.d_k;
  const int bad = (int)tu_below(r, 3), call = (int)tu_below(r, 4);
  const double value = bad == 0 ? 0.5 : bad == 1 ? NAN : 1e300;
  int64_t i = tu_below(r, rows), j = tu_below(r, cols), t;
  att_state *copy = NULL;
  att_status st = ATT_OK;
  char what[300];
  expect_ok(att_clone(h, &copy), "att_clone");
  if (bad == 0) {
    if (tu_below(r, 2) == 0 || call == 2)
      i = rows;
    else
      j = cols;
  }
  if (call == 0) {
    st = which == ATT_MATRIX_Q   ? att_update_q(h, i, j, value)
         : which == ATT_MATRIX_K ? att_update_k(h, i, j, value)
                                 : att_update_v(h, i, j, value);
  } else if (call == 1) {
    st = att_set_entry(h, which, i, j, value);
  } else if (call == 2) {
    double *row = tu_xmalloc((size_t)cols * sizeof *row);
    for (t = 0; t < cols; ++t) row[t] = random_value(r, which);
    if (bad != 0) row[cols - 1] = value;
    st = att_set_row(h, which, i, row, 1);
    free(row);
  } else {
    const int64_t count = 2 + tu_below(r, 6);
    const int set = (int)tu_below(r, 2);
    int64_t *bi = tu_xmalloc((size_t)count * sizeof *bi);
    int64_t *bj = tu_xmalloc((size_t)count * sizeof *bj);
    double *bv = tu_xmalloc((size_t)count * sizeof *bv);
    for (t = 0; t + 1 < count; ++t) {
      bi[t] = tu_below(r, rows);
      bj[t] = tu_below(r, cols);
      bv[t] = set ? random_value(r, which) : 0.1 * tu_normal(r);
    }
    bi[count - 1] = i;
    bj[count - 1] = j;
    bv[count - 1] = bad == 0 ? 0.5 : value;
    st = set ? att_set_batch(h, which, count, bi, bj, bv)
             : att_update_batch(h, which, count, bi, bj, bv);
    free(bi);
    free(bj);
    free(bv);
  }
  snprintf(what, sizeof what, "%s: failing call %d (matrix %d, %s)", label, call, (int)which,
           bad == 0   ? "index"
           : bad == 1 ? "NaN"
                      : "out of range");
  if (st != expected[bad])
    fail_msg("%s: status %d (%s), expected %d (%s)", what, (int)st, att_status_string(st),
             (int)expected[bad], att_status_string(expected[bad]));
  if (att_last_error()[0] == '\0') fail_msg("%s: no detail message", what);
  assert_same_results(h, copy, m->p.n_q, m->p.d_v, what);
  att_free(copy);
}

typedef struct scenario {
  const char *name;
  int64_t n_q, n_kv, d_k, d_v;
  int causal;
  int64_t lazy_limit; /* 0: automatic */
  int64_t ops;
} scenario;

/* Rows that cannot see key row c (causal) are bitwise unchanged by an update
 * of K or V row c unless a fold or a row recomputation ran meanwhile. */
typedef struct untouched_check {
  int active;
  int64_t first_row, folds, rows;
  double *before;
} untouched_check;

static int64_t stat_of(const att_state *h, att_stat_kind kind) {
  int64_t v = -1;
  assert_int_equal(att_stat(h, kind, &v), ATT_OK);
  return v;
}

static void untouched_begin(untouched_check *u, const gmirror *m, const att_state *h, int64_t c) {
  const int64_t first = c - (m->p.n_kv - m->p.n_q);
  u->active = m->p.causal && first > 0;
  if (!u->active) return;
  u->first_row = first > m->p.n_q ? m->p.n_q : first;
  u->folds = stat_of(h, ATT_STAT_FOLDS);
  u->rows = stat_of(h, ATT_STAT_ROWS_RECOMPUTED);
  u->before = tu_xmalloc((size_t)(m->p.n_q * m->p.d_v) * sizeof(double));
  assert_int_equal(att_output(h, ATT_ROW_MAJOR, u->before, m->p.d_v), ATT_OK);
}

static void untouched_end(untouched_check *u, const gmirror *m, const att_state *h) {
  double *after;
  if (!u->active) return;
  if (stat_of(h, ATT_STAT_FOLDS) == u->folds && stat_of(h, ATT_STAT_ROWS_RECOMPUTED) == u->rows) {
    after = tu_xmalloc((size_t)(m->p.n_q * m->p.d_v) * sizeof(double));
    assert_int_equal(att_output(h, ATT_ROW_MAJOR, after, m->p.d_v), ATT_OK);
    if (memcmp(after, u->before, (size_t)(u->first_row * m->p.d_v) * sizeof(double)) != 0)
      fail_msg("a causal update changed rows that cannot see it");
    free(after);
  }
  free(u->before);
  u->active = 0;
}

static void run(const scenario *sc, const variant *va, att_layout layout, uint64_t seed) {
  tu_rng r;
  gmirror m;
  att_config *cfg = NULL;
  att_state *h = NULL;
  char label[200];
  int64_t op;
  const double scale = 1.0 / sqrt((double)sc->d_k);
  double *Qin, *Kin, *Vin, *rowbuf;
  int64_t ldq, ldk, ldv;

  tu_rng_seed(&r, seed);
  gm_alloc(&m, sc->n_q, sc->n_kv, sc->d_k, sc->d_v, scale, sc->causal);
  tu_fill_uniform(&r, m.Q, sc->n_q * sc->d_k, -1.0, 1.0);
  tu_fill_uniform(&r, m.K, sc->n_kv * sc->d_k, -1.0, 1.0);
  tu_fill_normal(&r, m.V, sc->n_kv * sc->d_v, 1.0);
  ldq = (layout == ATT_ROW_MAJOR ? sc->d_k : sc->n_q) + tu_below(&r, 3);
  ldk = (layout == ATT_ROW_MAJOR ? sc->d_k : sc->n_kv) + tu_below(&r, 3);
  ldv = (layout == ATT_ROW_MAJOR ? sc->d_v : sc->n_kv) + tu_below(&r, 3);
  Qin = to_layout(m.Q, sc->n_q, sc->d_k, layout, ldq);
  Kin = to_layout(m.K, sc->n_kv, sc->d_k, layout, ldk);
  Vin = to_layout(m.V, sc->n_kv, sc->d_v, layout, ldv);
  rowbuf = tu_alloc_doubles(2 * (sc->d_k > sc->d_v ? sc->d_k : sc->d_v));

  assert_int_equal(att_config_create(&cfg), ATT_OK);
  assert_int_equal(att_config_set_logit_scale(cfg, scale), ATT_OK);
  assert_int_equal(att_config_set_lazy_limit(cfg, sc->lazy_limit), ATT_OK);
  assert_int_equal(att_config_set_causal(cfg, sc->causal), ATT_OK);
  va->apply(cfg);
  expect_ok(att_init_general(&h, sc->n_q, sc->n_kv, sc->d_k, sc->d_v, layout, Qin, ldq, Kin, ldk,
                             Vin, ldv, cfg),
            "att_init_general");
  att_config_free(cfg);
  free(Qin);
  free(Kin);
  free(Vin);
  {
    int64_t a = 0, b = 0, c = 0, d = 0;
    assert_int_equal(att_shape(h, &a, &b, &c, &d), ATT_OK);
    assert_true(a == sc->n_q && b == sc->n_kv && c == sc->d_k && d == sc->d_v);
    assert_int_equal(stat_of(h, ATT_STAT_CAUSAL), sc->causal);
    assert_int_equal(stat_of(h, ATT_STAT_STORAGE), va->storage);
    assert_int_equal(stat_of(h, ATT_STAT_STRATEGY), va->strategy);
    assert_true(stat_of(h, ATT_STAT_BYTES) > 0);
  }
  snprintf(label, sizeof label, "%s [%s, %s] seed=%llu init", sc->name, va->name,
           layout == ATT_ROW_MAJOR ? "row-major" : "col-major", (unsigned long long)seed);
  check_all(&m, h, &r, label);

  for (op = 1; op <= sc->ops; ++op) {
    const int64_t kind = tu_below(&r, 100);
    const att_matrix which = random_matrix(&r);
    int64_t rows, cols;
    double *mat = gm_matrix(&m, which, &rows, &cols);
    const int64_t i = tu_below(&r, rows), j = tu_below(&r, cols);
    untouched_check u = {0, 0, 0, 0, NULL};
    snprintf(label, sizeof label, "%s [%s, %s] seed=%llu op=%lld kind=%lld which=%d", sc->name,
             va->name, layout == ATT_ROW_MAJOR ? "row-major" : "col-major",
             (unsigned long long)seed, (long long)op, (long long)kind, (int)which);
    if (kind < 24) { /* entry deltas of Q, K, V */
      const double delta = reflect(mat[i * cols + j], 0.4 * tu_normal(&r), limit_of(which));
      if (which != ATT_MATRIX_Q) untouched_begin(&u, &m, h, i);
      expect_ok(which == ATT_MATRIX_Q   ? att_update_q(h, i, j, delta)
                : which == ATT_MATRIX_K ? att_update_k(h, i, j, delta)
                                        : att_update_v(h, i, j, delta),
                label);
      mat[i * cols + j] += delta;
      untouched_end(&u, &m, h);
    } else if (kind < 34) { /* set one entry */
      const double value = random_value(&r, which);
      if (which != ATT_MATRIX_Q) untouched_begin(&u, &m, h, i);
      expect_ok(att_set_entry(h, which, i, j, value), label);
      mat[i * cols + j] = value;
      untouched_end(&u, &m, h);
    } else if (kind < 44) { /* replace a row, contiguous or strided */
      const int64_t inc = 1 + tu_below(&r, 2);
      int64_t t;
      for (t = 0; t < 2 * cols; ++t) rowbuf[t] = NAN;
      for (t = 0; t < cols; ++t) rowbuf[t * inc] = random_value(&r, which);
      if (which != ATT_MATRIX_Q) untouched_begin(&u, &m, h, i);
      expect_ok(att_set_row(h, which, i, rowbuf, inc), label);
      for (t = 0; t < cols; ++t) mat[i * cols + t] = rowbuf[t * inc];
      untouched_end(&u, &m, h);
    } else if (kind < 54) { /* a batch, with repeated rows and entries */
      const int64_t count = 1 + tu_below(&r, 10);
      const int set = (int)tu_below(&r, 2);
      int64_t *bi = tu_xmalloc((size_t)count * sizeof *bi);
      int64_t *bj = tu_xmalloc((size_t)count * sizeof *bj);
      double *bv = tu_xmalloc((size_t)count * sizeof *bv);
      const int64_t hot = 1 + tu_below(&r, rows);
      int64_t t;
      for (t = 0; t < count; ++t) {
        bi[t] = tu_below(&r, hot);
        bj[t] = tu_below(&r, cols);
        if (set) {
          bv[t] = random_value(&r, which);
          mat[bi[t] * cols + bj[t]] = bv[t];
        } else {
          bv[t] = reflect(mat[bi[t] * cols + bj[t]], 0.4 * tu_normal(&r), limit_of(which));
          mat[bi[t] * cols + bj[t]] += bv[t];
        }
      }
      expect_ok(set ? att_set_batch(h, which, count, bi, bj, bv)
                    : att_update_batch(h, which, count, bi, bj, bv),
                label);
      free(bi);
      free(bj);
      free(bv);
    } else if (kind < 57) {
      expect_ok(att_fold(h), label);
      assert_int_equal(stat_of(h, ATT_STAT_PENDING_KEY_ROWS), 0);
      assert_int_equal(stat_of(h, ATT_STAT_PENDING_VALUE_ROWS), 0);
    } else if (kind < 59) {
      swap_for_copy(&h, &m, (int)tu_below(&r, 2));
    } else if (kind < 70) {
      const int64_t qi = tu_below(&r, m.p.n_q), qj = tu_below(&r, m.p.d_v);
      double b = NAN;
      double *row = tu_xmalloc((size_t)m.p.d_v * sizeof *row);
      assert_int_equal(att_query(h, qi, qj, &b), ATT_OK);
      ref_general_row(&m.p, qi, row);
      if (!(fabs(b - row[qj]) <= entry_bound(&m, qi, qj)))
        fail_msg("%s: att_query(%lld, %lld) = %.17g, reference %.17g", label, (long long)qi,
                 (long long)qj, b, row[qj]);
      free(row);
    } else if (kind < 82) {
      check_row(&m, h, tu_below(&r, m.p.n_q), label);
      check_lse(&m, h, tu_below(&r, m.p.n_q), label);
    } else if (kind < 90) {
      check_block(&m, h, &r, label);
    } else if (kind < 94) {
      check_readback(&m, h, which, &r);
    } else if (kind < 97) {
      failing_call(h, &m, &r, label);
    } else {
      /* Pending work stays within the lazy limit. */
      const int64_t k = stat_of(h, ATT_STAT_LAZY_LIMIT);
      assert_true(stat_of(h, ATT_STAT_PENDING_KEY_UPDATES) < k);
      assert_true(stat_of(h, ATT_STAT_PENDING_VALUE_UPDATES) < k);
      assert_true(stat_of(h, ATT_STAT_PENDING_KEY_ROWS) <=
                  stat_of(h, ATT_STAT_PENDING_KEY_UPDATES));
      /* The eager strategy leaves nothing pending between calls; the
       * adaptive one folds once the queries have done a fold's worth. */
      if (va->strategy == ATT_STRATEGY_EAGER)
        assert_int_equal(
            stat_of(h, ATT_STAT_PENDING_KEY_UPDATES) + stat_of(h, ATT_STAT_PENDING_VALUE_UPDATES),
            0);
      if (va->strategy != ATT_STRATEGY_ADAPTIVE)
        assert_int_equal(stat_of(h, ATT_STAT_QUERY_WORK), 0);
    }
    if (op % 150 == 0) check_all(&m, h, &r, label);
  }
  snprintf(label, sizeof label, "%s [%s] seed=%llu final", sc->name, va->name,
           (unsigned long long)seed);
  check_all(&m, h, &r, label);
  check_readback(&m, h, ATT_MATRIX_Q, &r);
  check_readback(&m, h, ATT_MATRIX_K, &r);
  check_readback(&m, h, ATT_MATRIX_V, &r);
  att_free(h);
  gm_free(&m);
  free(rowbuf);
}

static void run_all(const scenario *sc, int seeds) {
  size_t v;
  int s, layout;
  for (v = 0; v < sizeof variants / sizeof variants[0]; ++v)
    for (layout = 0; layout < 2; ++layout)
      for (s = 0; s < seeds; ++s)
        run(sc, &variants[v], (att_layout)layout,
            UINT64_C(0xab5eed) + (uint64_t)s * 104729u + (uint64_t)sc->n_q * 131u +
                (uint64_t)sc->n_kv * 7u + (uint64_t)sc->causal);
}

static void test_square(void **state) {
  const scenario a = {"square 6x6 d=3", 6, 6, 3, 3, 0, 4, 1500};
  const scenario b = {"square causal 7x7 d_k=3 d_v=5", 7, 7, 3, 5, 1, 5, 1500};
  (void)state;
  run_all(&a, 3);
  run_all(&b, 3);
}

static void test_cross(void **state) {
  const scenario a = {"cross 5x9 d_k=4 d_v=2", 5, 9, 4, 2, 0, 6, 1500};
  const scenario b = {"cross 9x4 d_k=2 d_v=6", 9, 4, 2, 6, 0, 3, 1500};
  const scenario c = {"cross 1x1", 1, 1, 1, 1, 0, 0, 600};
  (void)state;
  run_all(&a, 3);
  run_all(&b, 3);
  run_all(&c, 2);
}

static void test_causal_suffix(void **state) {
  const scenario a = {"causal suffix 3x10 d_k=4 d_v=3", 3, 10, 4, 3, 1, 4, 1500};
  const scenario b = {"causal 24x40 d_k=8 d_v=6 k=auto", 24, 40, 8, 6, 1, 0, 1200};
  const scenario c = {"causal 1x5", 1, 5, 2, 2, 1, 2, 600};
  (void)state;
  run_all(&a, 3);
  run_all(&b, 2);
  run_all(&c, 2);
}

static void test_never_folds(void **state) {
  const scenario a = {"cross 8x12 k=100000", 8, 12, 3, 4, 0, 100000, 1200};
  const scenario b = {"causal 10x10 k=100000", 10, 10, 4, 2, 1, 100000, 1200};
  (void)state;
  run_all(&a, 2);
  run_all(&b, 2);
}

/* ---- Strategies ----------------------------------------------------------------- */

static att_state *strategy_state(att_strategy strategy, const double *Q, const double *K,
                                 const double *V, int64_t n, int64_t d) {
  att_config *cfg = NULL;
  att_state *h = NULL;
  assert_int_equal(att_config_create(&cfg), ATT_OK);
  assert_int_equal(att_config_set_lazy_limit(cfg, 16), ATT_OK);
  assert_int_equal(att_config_set_strategy(cfg, strategy), ATT_OK);
  assert_int_equal(att_init(&h, n, d, Q, K, V, cfg), ATT_OK);
  att_config_free(cfg);
  return h;
}

/* The adaptive strategy folds exactly when the queries since the last fold
 * have read ATT_STAT_FOLD_THRESHOLD pending terms, at the next update; the
 * lazy one ignores queries; the eager one never leaves anything pending; and
 * all three answer every query alike, within the bound of the reference. */
static void test_strategies(void **state) {
  enum { n = 40, d = 6 };
  const att_strategy kinds[3] = {ATT_STRATEGY_LAZY, ATT_STRATEGY_ADAPTIVE, ATT_STRATEGY_EAGER};
  double Q[n * d], K[n * d], V[n * d];
  gmirror m;
  att_state *h[3];
  tu_rng r;
  int64_t threshold, pending, queries = 0, work = 0, t;
  int w;
  (void)state;
  tu_rng_seed(&r, 4242);
  tu_fill_uniform(&r, Q, n * d, -1, 1);
  tu_fill_uniform(&r, K, n * d, -1, 1);
  tu_fill_normal(&r, V, n * d, 1);
  gm_alloc(&m, n, n, d, d, 1.0, 0);
  memcpy(m.Q, Q, sizeof Q);
  memcpy(m.K, K, sizeof K);
  memcpy(m.V, V, sizeof V);
  for (w = 0; w < 3; ++w) {
    h[w] = strategy_state(kinds[w], Q, K, V, n, d);
    assert_int_equal(stat_of(h[w], ATT_STAT_STRATEGY), kinds[w]);
  }
  threshold = stat_of(h[1], ATT_STAT_FOLD_THRESHOLD);
  assert_true(threshold > 0);

  /* Five updates leave five pending terms with the lazy and adaptive
   * strategies (distinct rows; k = 16), none with the eager one. */
  for (t = 0; t < 5; ++t) {
    const int64_t row = 3 * t + 1, col = t % d;
    for (w = 0; w < 3; ++w) {
      assert_int_equal(
          t % 2 ? att_update_v(h[w], row, col, 0.5) : att_update_k(h[w], row, col, 0.25), ATT_OK);
    }
    (t % 2 ? m.V : m.K)[row * d + col] += t % 2 ? 0.5 : 0.25;
  }
  pending = stat_of(h[1], ATT_STAT_PENDING_KEY_ROWS) + stat_of(h[1], ATT_STAT_PENDING_VALUE_ROWS);
  assert_int_equal(pending, 5);
  assert_int_equal(
      stat_of(h[2], ATT_STAT_PENDING_KEY_UPDATES) + stat_of(h[2], ATT_STAT_PENDING_VALUE_UPDATES),
      0);
  assert_int_equal(stat_of(h[1], ATT_STAT_QUERY_WORK), 0);

  /* Queries: each reads the five pending terms. */
  while (work < threshold) {
    const int64_t i = queries % n, j = queries % d;
    double b[3], want[d];
    ref_general_row(&m.p, i, want);
    for (w = 0; w < 3; ++w) {
      assert_int_equal(att_query(h[w], i, j, &b[w]), ATT_OK);
      if (!(fabs(b[w] - want[j]) <= entry_bound(&m, i, j)))
        fail_msg("strategy %d: B[%lld][%lld] = %.17g, reference %.17g", (int)kinds[w], (long long)i,
                 (long long)j, b[w], want[j]);
    }
    ++queries;
    work += pending;
    assert_int_equal(stat_of(h[1], ATT_STAT_QUERY_WORK), work);
    assert_int_equal(stat_of(h[0], ATT_STAT_QUERY_WORK), 0);
  }
  assert_int_equal(stat_of(h[1], ATT_STAT_FOLDS), 0);

  /* The next update folds under the adaptive strategy only. */
  for (w = 0; w < 3; ++w) assert_int_equal(att_update_v(h[w], 0, 0, 0.125), ATT_OK);
  m.V[0] += 0.125;
  assert_int_equal(stat_of(h[1], ATT_STAT_FOLDS), 1);
  assert_int_equal(stat_of(h[1], ATT_STAT_PENDING_VALUE_ROWS), 0);
  assert_int_equal(stat_of(h[1], ATT_STAT_QUERY_WORK), 0);
  assert_int_equal(stat_of(h[0], ATT_STAT_FOLDS), 0);
  assert_int_equal(stat_of(h[0], ATT_STAT_PENDING_VALUE_ROWS), 3);
  assert_int_equal(stat_of(h[2], ATT_STAT_FOLDS), 6);

  for (w = 0; w < 3; ++w) {
    check_all(&m, h[w], &r, "strategies");
    att_free(h[w]);
  }
  gm_free(&m);
}

/* ---- Batches against the same changes one by one -------------------------------- */

/* a and b hold bit-identical outputs (n_q x d_v). */
static void assert_same_outputs(const att_state *a, const att_state *b, int64_t n_q, int64_t d_v) {
  double *out_a = malloc(sizeof(double) * (size_t)(n_q * d_v));
  double *out_b = malloc(sizeof(double) * (size_t)(n_q * d_v));
  assert_non_null(out_a);
  assert_non_null(out_b);
  assert_int_equal(att_output(a, ATT_ROW_MAJOR, out_a, d_v), ATT_OK);
  assert_int_equal(att_output(b, ATT_ROW_MAJOR, out_b, d_v), ATT_OK);
  assert_memory_equal(out_a, out_b, sizeof(double) * (size_t)(n_q * d_v));
  free(out_a);
  free(out_b);
}

/* The storages that the batch tests compare single calls with in turn. */
static const att_storage both_storages[] = {ATT_STORAGE_DENSE, ATT_STORAGE_STREAMED};
#define N_STORAGES (sizeof both_storages / sizeof both_storages[0])

/* Q (n_q x d), K and V (n_kv x d), allocated (free them with free_qkv). */
static void alloc_qkv(int64_t n_q, int64_t n_kv, int64_t d, double **Q, double **K, double **V) {
  *Q = tu_xmalloc(sizeof(double) * (size_t)(n_q * d));
  *K = tu_xmalloc(sizeof(double) * (size_t)(n_kv * d));
  *V = tu_xmalloc(sizeof(double) * (size_t)(n_kv * d));
}

static void free_qkv(double *Q, double *K, double *V) {
  free(Q);
  free(K);
  free(V);
}

/* r seeded with `seed`, and Q (n_q x d), K and V (n_kv x d) filled from it
 * with standard normal entries. */
static void random_qkv(tu_rng *r, uint64_t seed, int64_t n_q, int64_t n_kv, int64_t d, double *Q,
                       double *K, double *V) {
  tu_rng_seed(r, seed);
  tu_fill_normal(r, Q, n_q * d, 1.0);
  tu_fill_normal(r, K, n_kv * d, 1.0);
  tu_fill_normal(r, V, n_kv * d, 1.0);
}

/* h1 on the row-major Q (n_q x d), K and V (n_kv x d), in the given storage
 * and with the given logit scale, and h2 its clone. */
static void init_twins(att_storage storage, double scale, int64_t n_q, int64_t n_kv, int64_t d,
                       const double *Q, const double *K, const double *V, att_state **h1,
                       att_state **h2) {
  att_config *cfg = NULL;
  assert_int_equal(att_config_create(&cfg), ATT_OK);
  assert_int_equal(att_config_set_storage(cfg, storage), ATT_OK);
  assert_int_equal(att_config_set_logit_scale(cfg, scale), ATT_OK);
  assert_int_equal(att_init_general(h1, n_q, n_kv, d, d, ATT_ROW_MAJOR, Q, d, K, d, V, d, cfg),
                   ATT_OK);
  assert_int_equal(att_clone(*h1, h2), ATT_OK);
  att_config_free(cfg);
}

/* assert_same_outputs, then frees both handles. */
static void assert_twins_agree(att_state *h1, att_state *h2, int64_t n_q, int64_t d_v) {
  assert_same_outputs(h1, h2, n_q, d_v);
  att_free(h1);
  att_free(h2);
}

/* A key batch applies its rows one after another, and a fold's sweep or a
 * flagged row may recompute rows between two of them: every row must change
 * exactly as att_set_entry calls in row order change it. The keys are first
 * moved by many updates, so that the entries the dense store keeps (scaled
 * by every update) differ from a recomputation in their last bits, and
 * k = 1 makes every change fold, so the sweep recomputes rows inside the
 * batch. Both handles must then hold bit-identical outputs. */
static void test_batch_matches_one_by_one(void **state) {
  enum { n = 600, d = 3 };
  int64_t *rows = malloc(sizeof(int64_t) * n), *cols = malloc(sizeof(int64_t) * n);
  double *values = malloc(sizeof(double) * n), *Q, *K, *V;
  size_t a;
  (void)state;
  assert_non_null(rows && cols && values);
  alloc_qkv(n, n, d, &Q, &K, &V);
  for (a = 0; a < N_STORAGES; ++a) {
    tu_rng r;
    att_config *cfg = NULL;
    att_state *h1 = NULL, *h2 = NULL;
    int64_t t, before, after;
    random_qkv(&r, 4100 + a, n, n, d, Q, K, V);
    assert_int_equal(att_config_create(&cfg), ATT_OK);
    assert_int_equal(att_config_set_lazy_limit(cfg, 1), ATT_OK);
    assert_int_equal(att_config_set_strategy(cfg, ATT_STRATEGY_LAZY), ATT_OK);
    assert_int_equal(att_config_set_storage(cfg, both_storages[a]), ATT_OK);
    assert_int_equal(att_init(&h1, n, d, Q, K, V, cfg), ATT_OK);
    for (t = 0; t < 4 * n; ++t)
      assert_int_equal(att_update_k(h1, t % n, (t / n) % d, 0.1 * tu_normal(&r)), ATT_OK);
    assert_int_equal(att_clone(h1, &h2), ATT_OK);
    for (t = 0; t < n; ++t) {
      rows[t] = t;
      cols[t] = (int64_t)(tu_rng_next(&r) % d);
      values[t] = tu_normal(&r);
    }
    assert_int_equal(att_stat(h1, ATT_STAT_ROWS_RECOMPUTED, &before), ATT_OK);
    assert_int_equal(att_set_batch(h1, ATT_MATRIX_K, n, rows, cols, values), ATT_OK);
    assert_int_equal(att_stat(h1, ATT_STAT_ROWS_RECOMPUTED, &after), ATT_OK);
    assert_true(after > before); /* rows were recomputed inside the batch */
    for (t = 0; t < n; ++t)
      assert_int_equal(att_set_entry(h2, ATT_MATRIX_K, rows[t], cols[t], values[t]), ATT_OK);
    assert_same_outputs(h1, h2, n, d);
    att_free(h1);
    att_free(h2);
    att_config_free(cfg);
  }
  free_qkv(Q, K, V);
  free(rows);
  free(cols);
  free(values);
}

/* A key batch in both storages whose rows take every path: every third row
 * changes all its entries (its logits come from the new key), the rows
 * after those one entry (changed as att_update_k changes it), the others
 * two of their eight (increments); and two changes cancel, whose logits
 * then come from the new key: row 2's one entry and one of row 5's two
 * fall from 1e6 to about 1. The outputs must be bit for bit those of
 * att_set_row in row order. */
static void test_key_batch_rows(void **state) {
  enum { n_q = 512, n_kv = 64, d = 8 };
  double values[d * n_kv], row[d], *Q, *K, *V;
  int64_t rows[d * n_kv], cols[d * n_kv];
  size_t a;
  (void)state;
  alloc_qkv(n_q, n_kv, d, &Q, &K, &V);
  for (a = 0; a < N_STORAGES; ++a) {
    tu_rng r;
    att_state *h1 = NULL, *h2 = NULL;
    int64_t t, c, k, count = 0;
    random_qkv(&r, 4300 + a, n_q, n_kv, d, Q, K, V);
    K[2 * d + 2] = 1e6;
    K[5 * d + 5] = 1e6;
    init_twins(both_storages[a], 1e-6, n_q, n_kv, d, Q, K, V, &h1, &h2);
    for (t = n_kv - 1; t >= 0; --t) {
      const int64_t changes = t % 3 == 0 ? d : t % 3 == 1 || t == 2 ? 1 : 2;
      for (k = 0; k < changes; ++k) {
        rows[count] = t;
        cols[count] = (t + k) % d;
        values[count] = tu_normal(&r);
        K[t * d + cols[count]] = values[count];
        ++count;
      }
    }
    assert_int_equal(att_set_batch(h1, ATT_MATRIX_K, count, rows, cols, values), ATT_OK);
    for (t = 0; t < n_kv; ++t) {
      for (c = 0; c < d; ++c) row[c] = K[t * d + c];
      assert_int_equal(att_set_row(h2, ATT_MATRIX_K, t, row, 1), ATT_OK);
    }
    assert_twins_agree(h1, h2, n_q, d);
  }
  free_qkv(Q, K, V);
}

/* The binary exponent of column col's scale in test_batch_beyond_norms:
 * for Q (w = 0) 310 in even columns and -300 in odd ones, for K the
 * opposite. */
static int beyond_norms_exponent(int64_t w, int64_t col) {
  const int e = col % 2 == 0 ? 310 : -300;
  return w == 0 ? e : -e;
}

/* A batch checks a changed row of Q or K without forming its logits when
 * the norms vouch for them (|scale| |q_i|_2 |k_c|_2 <= 2^600) and forms
 * them first otherwise. Here Q's even columns are scaled by 2^310 and its
 * odd ones by 2^-300, K's by 2^-310 and 2^300: the logits are those of
 * the unscaled standard normal entries (the scales cancel exactly), while
 * the norms' product, about 2^610, cannot vouch. In both storages and at
 * both scales (1 and 2^-20), batches of Q and of K rows with one, two or
 * all entries changed (some entries twice) must leave the handle bit for
 * bit as att_set_row in row order leaves its twin, every output within
 * the reference's tolerance; and a batch with one row whose logits would
 * exceed ATT_MAX_LOGIT (an entry of K of 2^1000) must change nothing. */
static void test_batch_beyond_norms(void **state) {
  enum { n = 24, d = 4 };
  static const double scales[] = {1.0, 0x1p-20};
  double row[d], values[4 * n], out[n * d];
  int64_t rows[4 * n], cols[4 * n];
  size_t a, sc;
  (void)state;
  for (a = 0; a < N_STORAGES; ++a)
    for (sc = 0; sc < sizeof scales / sizeof scales[0]; ++sc) {
      static const att_matrix which[] = {ATT_MATRIX_Q, ATT_MATRIX_K};
      gmirror m;
      tu_rng r;
      att_state *h1 = NULL, *h2 = NULL;
      int64_t t, c, i, w;
      char label[64];
      gm_alloc(&m, n, n, d, d, scales[sc], 0);
      random_qkv(&r, 4400 + 2 * a + sc, n, n, d, m.Q, m.K, m.V);
      for (t = 0; t < n * d; ++t) {
        m.Q[t] = ldexp(m.Q[t], beyond_norms_exponent(0, t % d));
        m.K[t] = ldexp(m.K[t], beyond_norms_exponent(1, t % d));
      }
      init_twins(both_storages[a], scales[sc], n, n, d, m.Q, m.K, m.V, &h1, &h2);
      for (w = 0; w < 2; ++w) {
        double *mat = which[w] == ATT_MATRIX_Q ? m.Q : m.K;
        int64_t count = 0;
        for (t = 0; t < n; t += 2) {
          const int64_t changes = 1 + t % d; /* rows 0, 4, ...: 1 entry; 2, 6, ...: 3 */
          for (c = 0; c < changes; ++c) {
            const int64_t col = (t + c) % d;
            const double x = ldexp(tu_normal(&r), beyond_norms_exponent(w, col));
            rows[count] = t;
            cols[count] = col;
            values[count++] = x - mat[t * d + col];
            /* The entry as the handle adds the delta, rounding included. */
            mat[t * d + col] += values[count - 1];
            if (c == 0 && t % 4 == 2) { /* the same entry again: the deltas add up */
              rows[count] = t;
              cols[count] = col;
              values[count++] = ldexp(0.5, beyond_norms_exponent(w, col));
              mat[t * d + col] += values[count - 1];
            }
          }
        }
        assert_int_equal(att_update_batch(h1, which[w], count, rows, cols, values), ATT_OK);
        for (t = 0; t < n; t += 2) {
          for (c = 0; c < d; ++c) row[c] = mat[t * d + c];
          assert_int_equal(att_set_row(h2, which[w], t, row, 1), ATT_OK);
        }
        assert_same_outputs(h1, h2, n, d);
        assert_int_equal(att_output(h1, ATT_ROW_MAJOR, out, d), ATT_OK);
        snprintf(label, sizeof label, "storage %zu, scale %g, batch of %s", a, scales[sc],
                 w == 0 ? "Q" : "K");
        for (i = 0; i < n; ++i) check_row_values(&m, i, out + i * d, 1, label);
      }
      /* Row 3 of K would reach logits of about 2^700: nothing changes. */
      rows[0] = 1, cols[0] = 0, values[0] = 0x1p-310;
      rows[1] = 3, cols[1] = 1, values[1] = 0x1p1000;
      rows[2] = 5, cols[2] = 2, values[2] = 0x1p-311;
      assert_int_equal(att_update_batch(h1, ATT_MATRIX_K, 3, rows, cols, values), ATT_E_RANGE);
      assert_non_null(strstr(att_last_error(), "entry 1"));
      assert_same_outputs(h1, h2, n, d);
      assert_twins_agree(h1, h2, n, d);
      gm_free(&m);
    }
}

/* A batch that sets a zero to a zero of the other sign changes it, as
 * att_set_entry does: the matrix reads back as set, in both storages. */
static void test_batch_signed_zero(void **state) {
  static const att_matrix which[] = {ATT_MATRIX_K, ATT_MATRIX_V};
  size_t a, w;
  (void)state;
  for (a = 0; a < N_STORAGES; ++a) {
    double Q[6] = {0.5, -1.0, 0.25, 1.0, -0.5, 2.0}, K[6] = {1.0, 0.0, -1.0, 0.5, 0.0, 0.0};
    double V[6] = {0.0, 0.0, 2.0, 0.0, -1.0, 0.0}, out[6];
    att_config *cfg = NULL;
    att_state *h = NULL;
    assert_int_equal(att_config_create(&cfg), ATT_OK);
    assert_int_equal(att_config_set_storage(cfg, both_storages[a]), ATT_OK);
    assert_int_equal(att_init(&h, 3, 2, Q, K, V, cfg), ATT_OK);
    for (w = 0; w < 2; ++w) {
      const int64_t rows[2] = {0, 2}, cols[2] = {1, 1};
      const double values[2] = {-0.0, -0.0};
      assert_int_equal(att_set_batch(h, which[w], 2, rows, cols, values), ATT_OK);
      assert_int_equal(att_get_matrix(h, which[w], ATT_ROW_MAJOR, out, 2), ATT_OK);
      assert_true(out[1] == 0.0 && signbit(out[1]));
      assert_true(out[5] == 0.0 && signbit(out[5]));
    }
    att_free(h);
    att_config_free(cfg);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_square),
      cmocka_unit_test(test_cross),
      cmocka_unit_test(test_causal_suffix),
      cmocka_unit_test(test_never_folds),
      cmocka_unit_test(test_strategies),
      cmocka_unit_test(test_batch_matches_one_by_one),
      cmocka_unit_test(test_key_batch_rows),
      cmocka_unit_test(test_batch_beyond_norms),
      cmocka_unit_test(test_batch_signed_zero),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
