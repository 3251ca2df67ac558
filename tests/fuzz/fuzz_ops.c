/*
 * Fuzz target: a byte string is read as a small problem and a sequence of
 * calls on it, with any index (one past the end included) and any double
 * (NaN, infinities, 1e300, DBL_MAX, subnormals, ±2^664 and ordinary values).
 * Beside "no crash, no sanitizer report", every call is judged:
 *   - a failed call leaves every output, log-sum-exp and counter of the
 *     handle bitwise as they were (the strong guarantee);
 *   - every output is finite;
 *   - at checkpoints and at the end, every output and log-sum-exp is within
 *     the tolerance model of tests/reference.h of a long-double
 *     recomputation from the harness's own copy of Q, K and V.
 * A violation aborts, which libFuzzer reports with the input that caused it.
 *
 * SPDX-License-Identifier: MIT
 *
 * Built as a libFuzzer target with -Dfuzz=true (clang), and in every build as
 * a replay program that runs the committed corpus (README.md, "Fuzzing").
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynattn.h"
#include "reference.h"

#define MAX_ROWS 8
#define MAX_COLS 4
#define MAX_BATCH 6
#define TOL 1e-10

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- Reading the input ---------------------------------------------------- */

typedef struct input {
  const uint8_t *p, *end;
} input;

/* The next byte, 0 once the input is used up. */
static unsigned next(input *in) { return in->p < in->end ? *in->p++ : 0u; }

/* A double: one of the values that probe the library's checks, or an
 * ordinary value in [-16, 16) in steps of 1/8. */
static double next_value(input *in) {
  static const double special[16] = {0.0,    -0.0,    NAN,      INFINITY, -INFINITY, 1e300,
                                     -1e300, DBL_MAX, 4.9e-324, 0x1p664,  -0x1p664,  0x1p665,
                                     1e4,    -1e4,    700.0,    1e-300};
  const unsigned b = next(in);
  return b < 16 ? special[b] : (double)(int8_t)b / 8.0;
}

/* ---- The harness's copy of the problem -------------------------------------- */

typedef struct problem {
  ref_problem p; /* points at Q, K, V below */
  double Q[MAX_ROWS * MAX_COLS], K[MAX_ROWS * MAX_COLS], V[MAX_ROWS * MAX_COLS];
} problem;

static double *matrix_of(problem *m, att_matrix which, int64_t *rows, int64_t *cols) {
  *rows = which == ATT_MATRIX_Q ? m->p.n_q : m->p.n_kv;
  *cols = which == ATT_MATRIX_V ? m->p.d_v : m->p.d_k;
  return which == ATT_MATRIX_Q ? m->Q : which == ATT_MATRIX_K ? m->K : m->V;
}

/* ---- What a failed call must leave alone ------------------------------------ */

typedef struct snapshot {
  double out[MAX_ROWS * MAX_COLS];
  double lse[MAX_ROWS];
  int64_t stats[ATT_STAT_FOLD_THRESHOLD + 1];
} snapshot;

static void die(const char *what, long long detail) {
  fprintf(stderr, "fuzz_ops: %s (%lld); last error: %s\n", what, detail, att_last_error());
  abort();
}

static void take(const att_state *h, const problem *m, snapshot *s) {
  int64_t kind;
  memset(s, 0, sizeof *s);
  if (att_output(h, ATT_ROW_MAJOR, s->out, m->p.d_v) != ATT_OK) die("att_output failed", 0);
  if (att_query_lse(h, 0, m->p.n_q, s->lse) != ATT_OK) die("att_query_lse failed", 0);
  for (kind = 0; kind <= ATT_STAT_FOLD_THRESHOLD; ++kind)
    if (att_stat(h, (att_stat_kind)kind, &s->stats[kind]) != ATT_OK) die("att_stat failed", kind);
}

/* Bitwise the same results and counters; the query-work counter moves with
 * the queries that took the snapshots themselves. */
static void expect_same(const snapshot *a, const snapshot *b, const char *what) {
  int64_t kind;
  if (memcmp(a->out, b->out, sizeof a->out) != 0) die(what, 1);
  if (memcmp(a->lse, b->lse, sizeof a->lse) != 0) die(what, 2);
  for (kind = 0; kind <= ATT_STAT_FOLD_THRESHOLD; ++kind)
    if (kind != ATT_STAT_QUERY_WORK && a->stats[kind] != b->stats[kind]) die(what, 100 + kind);
}

/* ---- Accuracy ------------------------------------------------------------------ */

static void check_reference(const att_state *h, const problem *m) {
  snapshot s;
  double row[MAX_COLS];
  int64_t i, j;
  take(h, m, &s);
  for (i = 0; i < m->p.n_q; ++i) {
    const double L = ref_general_logit_abs_sum(&m->p, i);
    const double lse = ref_general_lse(&m->p, i);
    const double lse_bound =
        TOL + REF_LOGIT_C0 * REF_UNIT_ROUNDOFF * (2.0 * (double)m->p.d_k * L + fabs(lse));
    ref_general_row(&m->p, i, row);
    for (j = 0; j < m->p.d_v; ++j) {
      const double got = s.out[i * m->p.d_v + j];
      /* Plus a few units of the smallest subnormal: below DBL_MIN no
       * relative bound holds, and values of 1e-323 are fair input. */
      const double bound =
          ref_tolerance(TOL, m->p.d_k, L, ref_general_col_abs_max(&m->p, j)) + 0x1p-1070;
      if (!isfinite(got) || !(fabs(got - row[j]) <= bound)) {
        fprintf(stderr, "B[%lld][%lld] = %.17g, reference %.17g, bound %.3g\n", (long long)i,
                (long long)j, got, row[j], bound);
        die("an output is outside the tolerance", i * m->p.d_v + j);
      }
    }
    if (!(fabs(s.lse[i] - lse) <= lse_bound)) {
      fprintf(stderr, "lse[%lld] = %.17g, reference %.17g, bound %.3g\n", (long long)i, s.lse[i],
              lse, lse_bound);
      die("a log-sum-exp is outside the tolerance", i);
    }
  }
}

/* ---- Calls ------------------------------------------------------------------------ */

/* Replace *h by a copy (clone or save/load) with bitwise the same results. */
static void swap_for_copy(att_state **h, const problem *m, int by_save) {
  att_state *copy = NULL;
  snapshot a, b;
  if (by_save) {
    unsigned char *buf;
    int64_t size = 0, written = 0;
    if (att_save_size(*h, &size) != ATT_OK || size <= 0) die("att_save_size failed", size);
    buf = malloc((size_t)size);
    if (buf == NULL) abort();
    if (att_save_buffer(*h, buf, size, &written) != ATT_OK || written != size)
      die("att_save_buffer failed", written);
    if (att_load_buffer(&copy, buf, size) != ATT_OK)
      die("att_load_buffer of a fresh save failed", size);
    free(buf);
  } else if (att_clone(*h, &copy) != ATT_OK) {
    die("att_clone failed", 0);
  }
  take(*h, m, &a);
  take(copy, m, &b);
  expect_same(&a, &b, by_save ? "a loaded copy differs" : "a clone differs");
  att_free(*h);
  *h = copy;
}

/* One mutating call read from the input. Returns its status; on success
 * the harness's copy of the problem holds the new Q, K, V. */
static att_status mutate(att_state *h, problem *m, input *in, unsigned op) {
  const att_matrix which = (att_matrix)(next(in) % 3);
  int64_t rows, cols;
  double *mat = matrix_of(m, which, &rows, &cols);
  double scratch[MAX_ROWS * MAX_COLS];
  att_status st;
  memcpy(scratch, mat, sizeof scratch);
  if (op <= 1) { /* one entry: add a delta or set a value */
    const int64_t i = (int64_t)(next(in) % (unsigned)(rows + 1));
    const int64_t j = (int64_t)(next(in) % (unsigned)(cols + 1));
    const double v = next_value(in);
    if (op == 0)
      st = which == ATT_MATRIX_Q   ? att_update_q(h, i, j, v)
           : which == ATT_MATRIX_K ? att_update_k(h, i, j, v)
                                   : att_update_v(h, i, j, v);
    else
      st = att_set_entry(h, which, i, j, v);
    if (st == ATT_OK) scratch[i * cols + j] = op == 0 ? scratch[i * cols + j] + v : v;
  } else if (op == 2) { /* a whole row, contiguous or at stride 2 */
    const int64_t i = (int64_t)(next(in) % (unsigned)(rows + 1));
    const int64_t inc = 1 + (int64_t)(next(in) % 2);
    double row[2 * MAX_COLS];
    int64_t t;
    for (t = 0; t < 2 * MAX_COLS; ++t) row[t] = NAN; /* never read between the strided elements */
    for (t = 0; t < cols; ++t) row[t * inc] = next_value(in);
    st = att_set_row(h, which, i, row, inc);
    if (st == ATT_OK)
      for (t = 0; t < cols; ++t) scratch[i * cols + t] = row[t * inc];
  } else { /* a batch of deltas (op 3) or values (op 4) */
    const int64_t count = (int64_t)(next(in) % (MAX_BATCH + 1));
    int64_t bi[MAX_BATCH], bj[MAX_BATCH], t;
    double bv[MAX_BATCH];
    for (t = 0; t < count; ++t) {
      bi[t] = (int64_t)(next(in) % (unsigned)(rows + 1));
      bj[t] = (int64_t)(next(in) % (unsigned)(cols + 1));
      bv[t] = next_value(in);
    }
    st = op == 3 ? att_update_batch(h, which, count, bi, bj, bv)
                 : att_set_batch(h, which, count, bi, bj, bv);
    if (st == ATT_OK)
      for (t = 0; t < count; ++t)
        scratch[bi[t] * cols + bj[t]] = op == 3 ? scratch[bi[t] * cols + bj[t]] + bv[t] : bv[t];
  }
  if (st == ATT_OK) memcpy(mat, scratch, sizeof scratch);
  return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const double scales[4] = {1.0, 0.5, 0.125, 2.0};
  input in = {data, data + size};
  problem m;
  att_config *cfg = NULL;
  att_state *h = NULL;
  unsigned b0 = next(&in), b1 = next(&in), b2 = next(&in);
  int64_t t, ops = 0;
  memset(&m, 0, sizeof m);
  m.p.n_q = 1 + (b0 & 7);
  m.p.n_kv = 1 + ((b0 >> 3) & 7);
  m.p.d_k = 1 + (b1 & 3);
  m.p.d_v = 1 + ((b1 >> 2) & 3);
  m.p.causal = (b1 >> 4) & 1 && m.p.n_q <= m.p.n_kv;
  m.p.scale = scales[(b2 >> 4) & 3];
  m.p.Q = m.Q;
  m.p.K = m.K;
  m.p.V = m.V;
  for (t = 0; t < m.p.n_q * m.p.d_k; ++t) m.Q[t] = (double)(int8_t)next(&in) / 16.0;
  for (t = 0; t < m.p.n_kv * m.p.d_k; ++t) m.K[t] = (double)(int8_t)next(&in) / 16.0;
  for (t = 0; t < m.p.n_kv * m.p.d_v; ++t) m.V[t] = (double)(int8_t)next(&in) / 16.0;

  if (att_config_create(&cfg) != ATT_OK ||
      att_config_set_lazy_limit(cfg, 1 + (int64_t)(b2 & 7)) != ATT_OK ||
      att_config_set_logit_scale(cfg, m.p.scale) != ATT_OK ||
      att_config_set_causal(cfg, m.p.causal) != ATT_OK ||
      att_config_set_storage(cfg, (b1 >> 5) & 1 ? ATT_STORAGE_STREAMED : ATT_STORAGE_DENSE) !=
          ATT_OK ||
      att_config_set_strategy(cfg, (att_strategy)((b1 >> 6) % 3)) != ATT_OK)
    die("configuration failed", 0);
  if (att_init_general(&h, m.p.n_q, m.p.n_kv, m.p.d_k, m.p.d_v, ATT_ROW_MAJOR, m.Q, m.p.d_k, m.K,
                       m.p.d_k, m.V, m.p.d_v, cfg) != ATT_OK)
    die("att_init_general of a valid problem failed", 0);
  att_config_free(cfg);
  check_reference(h, &m);

  while (in.p < in.end && ops++ < 64) {
    const unsigned op = next(&in) % 9;
    if (op <= 4) {
      snapshot before, after;
      att_status st;
      take(h, &m, &before);
      st = mutate(h, &m, &in, op);
      if (st != ATT_OK && att_last_error()[0] == '\0')
        die("a failed call left no detail message", st);
      take(h, &m, &after);
      if (st != ATT_OK) expect_same(&before, &after, "a failed call changed the handle");
      for (t = 0; t < m.p.n_q * m.p.d_v; ++t)
        if (!isfinite(after.out[t])) die("an output is not finite", t);
    } else if (op == 5) {
      if (att_fold(h) != ATT_OK) die("att_fold failed", 0);
    } else if (op == 6 || op == 7) {
      swap_for_copy(&h, &m, op == 7);
    } else {
      check_reference(h, &m);
    }
  }
  check_reference(h, &m);
  att_free(h);
  return 0;
}
