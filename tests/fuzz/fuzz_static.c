/*
 * Fuzz target: the one-shot functions (att_attention, att_attention_poly,
 * att_sparsify_gaussian, att_sparsify_lq) on small problems read from the
 * input, with any layout, leading dimensions from exact to too small or too
 * large, any scale and mask value, and entries from ordinary to NaN and
 * 1e300. Beside "no crash, no sanitizer report", every call is judged:
 *   - the status is one the header lists for the function;
 *   - a failed call leaves the output buffer bitwise as it was, and a
 *     successful one leaves the padding beyond the result's width untouched;
 *   - att_attention is within the tolerance model of tests/reference.h
 *     (1e-12 of the column's scale plus the logits' rounding) of the
 *     long-double reference;
 *   - att_attention_poly is within the error bound it reports (plus the
 *     reference's own logit rounding) and reports rank C(d_k + g, g);
 *   - att_sparsify_lq gives a lower-trapezoidal Y with Y Y^T = X X^T to
 *     rounding;
 *   - att_sparsify_gaussian gives finite values, bitwise the same for the
 *     same seed.
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
#include "static_util.h"

#define MAX_ROWS 12
#define MAX_KEY_COLS 4
#define MAX_VALUE_COLS 3
#define MAX_FEATURES 10
#define TOL 1e-12
#define SENTINEL -12345.5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, long long detail) {
  fprintf(stderr, "fuzz_static: %s (%lld); last error: %s\n", what, detail, att_last_error());
  abort();
}

static void *xmalloc(size_t bytes) {
  void *p = malloc(bytes > 0 ? bytes : 1);
  if (p == NULL) abort();
  return p;
}

/* ---- Reading the input ------------------------------------------------------- */

typedef struct input {
  const uint8_t *p, *end;
  double unit; /* the step of ordinary values */
} input;

static unsigned next(input *in) { return in->p < in->end ? *in->p++ : 0u; }

/* A double: rarely one that the argument checks must refuse or that makes
 * huge logits, else an ordinary value: a multiple of unit in [-16, 16) unit. */
static double next_value(input *in) {
  static const double special[8] = {NAN, INFINITY, -INFINITY, 1e300, -0x1p665, 700.0, 0.0, -0.0};
  const unsigned b = next(in);
  return b < 8 ? special[b] : (double)(int8_t)b / 8.0 * in->unit;
}

/* A leading dimension for a stored width w: exact, padded, one too small, or
 * beyond INT32_MAX (the last two must be refused with ATT_E_SIZE). */
static int64_t next_ld(input *in, int64_t w, int *valid) {
  switch (next(in) % 8) {
    case 5: *valid = 0; return w - 1;
    case 6: *valid = 0; return INT64_C(1) << 33;
    case 1:
    case 2: *valid = 1; return w + 1;
    case 3: *valid = 1; return w + 3;
    default: *valid = 1; return w;
  }
}

/* A row-major rows x cols matrix of values from the input. */
static double *next_matrix(input *in, int64_t rows, int64_t cols) {
  double *a = xmalloc((size_t)(rows * cols) * sizeof *a);
  int64_t t;
  for (t = 0; t < rows * cols; ++t) a[t] = next_value(in);
  return a;
}

/* An input matrix in `layout` with leading dimension ld: the packed copy for
 * a usable ld, else a buffer of the exact extent that the call must not
 * read (it is refused first). */
static double *pack(const double *a, int64_t rows, int64_t cols, att_layout layout, int64_t ld,
                    int valid) {
  return valid ? su_pack(a, rows, cols, layout, ld)
               : su_pack(a, rows, cols, layout, layout == ATT_ROW_MAJOR ? cols : rows);
}

/* An output buffer, all SENTINEL (an unusable ld gets a small buffer). */
static double *output(int64_t rows, int64_t cols, att_layout layout, int64_t ld, int valid,
                      int64_t *extent) {
  const int64_t use = valid ? ld : (layout == ATT_ROW_MAJOR ? cols : rows);
  *extent = su_extent(rows, cols, layout, use);
  return su_output(rows, cols, layout, use, SENTINEL);
}

static int all_sentinel(const double *a, int64_t n) {
  int64_t t;
  for (t = 0; t < n; ++t)
    if (a[t] != SENTINEL) return 0;
  return 1;
}

static int has_nonfinite(const double *a, int64_t n) {
  int64_t t;
  for (t = 0; t < n; ++t)
    if (!isfinite(a[t])) return 1;
  return 0;
}

static int is_one_of(att_status st, const att_status *allowed, size_t count) {
  size_t k;
  for (k = 0; k < count; ++k)
    if (st == allowed[k]) return 1;
  return 0;
}

/* The output contract of every one-shot function: a failed call leaves the
 * whole buffer (extent elements) as it was, a successful one the padding
 * beyond the rows x cols result. Returns 1 for a successful call. */
static int output_kept(att_status st, const double *out, int64_t extent, int64_t rows, int64_t cols,
                       att_layout layout, int64_t ld, const char *function) {
  if (st != ATT_OK) {
    if (!all_sentinel(out, extent)) {
      fprintf(stderr, "%s failed with status %d\n", function, (int)st);
      die("a failed call wrote its output", st);
    }
    return 0;
  }
  if (!su_padding_intact(out, rows, cols, layout, ld, SENTINEL)) {
    fprintf(stderr, "%s\n", function);
    die("a call wrote the padding of its output", 0);
  }
  return 1;
}

/* ---- Static attention, exact and polynomial ---------------------------------- */

typedef struct problem {
  int64_t n_q, n_kv, d_k, d_v;
  att_layout layout;
  double scale;
  int causal;
  double *Q, *K, *V;    /* row-major, as read */
  double *Qp, *Kp, *Vp; /* as passed */
  int64_t ldq, ldk, ldv, ldo;
  int ld_ok;     /* every leading dimension usable */
  int inputs_ok; /* every entry finite and within range */
} problem;

static void read_problem(input *in, problem *p) {
  static const double scales[8] = {1.0, 0.5, 0.25, 2.0, 1.0 / 3.0, 0.0, -1.0, NAN};
  int ok_q, ok_k, ok_v, ok_o;
  int64_t t;
  p->n_q = 1 + (int64_t)(next(in) % MAX_ROWS);
  p->n_kv = 1 + (int64_t)(next(in) % MAX_ROWS);
  p->d_k = 1 + (int64_t)(next(in) % MAX_KEY_COLS);
  p->d_v = 1 + (int64_t)(next(in) % MAX_VALUE_COLS);
  p->layout = next(in) % 2 ? ATT_COL_MAJOR : ATT_ROW_MAJOR;
  p->scale = scales[next(in) % 8];
  p->causal = (int)(next(in) % 2);
  p->ldq = next_ld(in, p->layout == ATT_ROW_MAJOR ? p->d_k : p->n_q, &ok_q);
  p->ldk = next_ld(in, p->layout == ATT_ROW_MAJOR ? p->d_k : p->n_kv, &ok_k);
  p->ldv = next_ld(in, p->layout == ATT_ROW_MAJOR ? p->d_v : p->n_kv, &ok_v);
  p->ldo = next_ld(in, p->layout == ATT_ROW_MAJOR ? p->d_v : p->n_q, &ok_o);
  p->ld_ok = ok_q && ok_k && ok_v && ok_o;
  p->Q = next_matrix(in, p->n_q, p->d_k);
  p->K = next_matrix(in, p->n_kv, p->d_k);
  p->V = next_matrix(in, p->n_kv, p->d_v);
  p->Qp = pack(p->Q, p->n_q, p->d_k, p->layout, p->ldq, ok_q);
  p->Kp = pack(p->K, p->n_kv, p->d_k, p->layout, p->ldk, ok_k);
  p->Vp = pack(p->V, p->n_kv, p->d_v, p->layout, p->ldv, ok_v);
  p->inputs_ok = 1;
  for (t = 0; t < p->n_q * p->d_k; ++t) p->inputs_ok &= fabs(p->Q[t]) <= 1e6;
  for (t = 0; t < p->n_kv * p->d_k; ++t) p->inputs_ok &= fabs(p->K[t]) <= 1e6;
  for (t = 0; t < p->n_kv * p->d_v; ++t) p->inputs_ok &= fabs(p->V[t]) <= ATT_MAX_VALUE;
}

static void free_problem(problem *p) {
  free(p->Q);
  free(p->K);
  free(p->V);
  free(p->Qp);
  free(p->Kp);
  free(p->Vp);
}

/* max over i, j of |out(i, j) - B[i][j]| minus its bound, where the bound is
 * tol + extra(i) of the column's scale plus the logits' rounding; > 0 means
 * a violation at *where. */
static double worst_excess(const problem *p, const double *out, const long double *B,
                           const double *L, double tol, long long *where) {
  double worst = -1.0;
  int64_t i, j;
  for (j = 0; j < p->d_v; ++j) {
    const double vmax = ref_col_abs_max(p->n_kv, p->d_v, p->V, j);
    for (i = 0; i < p->n_q; ++i) {
      const double got = su_at(out, p->layout, p->ldo, i, j);
      const double bound = ref_tolerance(tol, p->d_k, L[i], vmax) + 0x1p-1070;
      const double excess = (double)fabsl((long double)got - B[i * p->d_v + j]) - bound;
      if (!isfinite(got)) {
        *where = (long long)(i * p->d_v + j);
        return INFINITY;
      }
      if (excess > worst) {
        worst = excess;
        *where = (long long)(i * p->d_v + j);
      }
    }
  }
  return worst;
}

static void check_attention(problem *p, long double *B, double *L) {
  static const att_status allowed[] = {ATT_OK, ATT_E_SIZE, ATT_E_CONFIG, ATT_E_NONFINITE,
                                       ATT_E_RANGE};
  int64_t extent;
  double *out = output(p->n_q, p->d_v, p->layout, p->ldo, p->ld_ok, &extent);
  const att_status st =
      att_attention(p->n_q, p->n_kv, p->d_k, p->d_v, p->Qp, p->ldq, p->Kp, p->ldk, p->Vp, p->ldv,
                    p->scale, p->causal ? ATT_MASK_CAUSAL : ATT_MASK_NONE, p->layout, out, p->ldo);
  long long where = 0;
  if (!is_one_of(st, allowed, sizeof allowed / sizeof *allowed)) die("att_attention status", st);
  /* Size errors and a bad scale may be reported in either order. */
  if (!p->ld_ok && st != ATT_E_SIZE && st != ATT_E_CONFIG) die("an unusable ld accepted", st);
  if (p->causal && p->n_q > p->n_kv && st != ATT_E_SIZE && st != ATT_E_CONFIG)
    die("causal with n_q > n_kv accepted", st);
  if (!(p->scale > 0.0) && st == ATT_OK) die("att_attention accepted a scale <= 0 or NaN", 0);
  if (!output_kept(st, out, extent, p->n_q, p->d_v, p->layout, p->ldo, "att_attention")) {
    free(out);
    return;
  }
  su_attention(p->n_q, p->n_kv, p->d_k, p->d_v, p->Q, p->K, p->V, p->scale, p->causal, B, L);
  if (worst_excess(p, out, B, L, TOL, &where) > 0.0)
    die("att_attention is outside the tolerance", where);
  free(out);
}

static int64_t binomial(int64_t n, int64_t k) {
  int64_t r = 1, t;
  for (t = 1; t <= k; ++t) r = r * (n - k + t) / t; /* exact at every step */
  return r;
}

static void check_poly(problem *p, input *in, long double *B, double *L) {
  static const int64_t degrees[8] = {-1, -1, 0, 1, 2, 3, 6, 10};
  static const double tolerances[4] = {1e-6, 1e-3, 1e-10, 0.5};
  static const int64_t ranks[4] = {0, 1, 40, 3000};
  static const att_status allowed[] = {ATT_OK,          ATT_E_SIZE,  ATT_E_CONFIG,
                                       ATT_E_NONFINITE, ATT_E_RANGE, ATT_E_APPROXIMATION};
  const int64_t degree_asked = degrees[next(in) % 8];
  att_poly_config *cfg = NULL;
  int64_t extent, degree = -7, rank = -7;
  double *out, bound = -7.0;
  long long where = 0;
  att_status st;
  if (att_poly_config_create(&cfg) != ATT_OK) die("att_poly_config_create", 0);
  if (att_poly_config_set_degree(cfg, degree_asked) != ATT_OK) die("set_degree", degree_asked);
  if (att_poly_config_set_tolerance(cfg, tolerances[next(in) % 4]) != ATT_OK) die("set_tol", 0);
  if (att_poly_config_set_max_rank(cfg, ranks[next(in) % 4]) != ATT_OK) die("set_max_rank", 0);
  if (att_poly_config_set_basis(cfg, next(in) % 2 ? ATT_POLY_TAYLOR : ATT_POLY_CHEBYSHEV) != ATT_OK)
    die("set_basis", 0);
  out = output(p->n_q, p->d_v, p->layout, p->ldo, p->ld_ok, &extent);
  st = att_attention_poly(p->n_q, p->n_kv, p->d_k, p->d_v, p->Qp, p->ldq, p->Kp, p->ldk, p->Vp,
                          p->ldv, p->scale, p->layout, cfg, out, p->ldo, &degree, &rank, &bound);
  att_poly_config_free(cfg);
  if (!is_one_of(st, allowed, sizeof allowed / sizeof *allowed))
    die("att_attention_poly status", st);
  if (!p->ld_ok && st != ATT_E_SIZE && st != ATT_E_CONFIG) die("poly: an unusable ld accepted", st);
  if (!output_kept(st, out, extent, p->n_q, p->d_v, p->layout, p->ldo, "att_attention_poly")) {
    free(out);
    return;
  }
  if (degree_asked >= 0 && degree != degree_asked) die("not the degree asked for", degree);
  if (rank != binomial(p->d_k + degree, degree)) die("rank is not C(d_k + g, g)", rank);
  if (!(bound >= 0.0 && isfinite(bound))) die("an error bound that is not finite and >= 0", 0);
  su_attention(p->n_q, p->n_kv, p->d_k, p->d_v, p->Q, p->K, p->V, p->scale, 0, B, L);
  /* The reported bound, with a margin of a few units of its own rounding. */
  if (worst_excess(p, out, B, L, bound * (1.0 + 1e-9) + 1e-15, &where) > 0.0) {
    fprintf(stderr, "degree %lld, rank %lld, reported bound %.3g\n", (long long)degree,
            (long long)rank, bound);
    die("att_attention_poly is outside the bound it reports", where);
  }
  free(out);
}

/* ---- Feature-dimension reduction ---------------------------------------------- */

static void check_sparsify(input *in) {
  static const att_status allowed[] = {ATT_OK, ATT_E_SIZE, ATT_E_NONFINITE, ATT_E_RANGE};
  const int64_t n = 1 + (int64_t)(next(in) % MAX_ROWS);
  const int64_t d = 1 + (int64_t)(next(in) % MAX_FEATURES);
  const att_layout layout = next(in) % 2 ? ATT_COL_MAJOR : ATT_ROW_MAJOR;
  const int64_t m_sketch = 1 + (int64_t)(next(in) % (unsigned)(d + 1)); /* d + 1: refused */
  const uint64_t seed = (uint64_t)next(in) * 0x9E3779B97F4A7C15u;
  const int64_t w = d < n ? d : n;
  int ok_x, ok_y, ok_g;
  const int64_t ldx = next_ld(in, layout == ATT_ROW_MAJOR ? d : n, &ok_x);
  const int64_t ldy = next_ld(in, layout == ATT_ROW_MAJOR ? w : n, &ok_y);
  const int64_t ldg = next_ld(in, layout == ATT_ROW_MAJOR ? m_sketch : n, &ok_g);
  double *X = next_matrix(in, n, d);
  double *Xp = pack(X, n, d, layout, ldx, ok_x);
  int64_t ext_y, ext_g, i, j, t;
  double *Y = output(n, w, layout, ldy, ok_y, &ext_y);
  double *G1 = output(n, m_sketch, layout, ldg, ok_g, &ext_g);
  double *G2 = output(n, m_sketch, layout, ldg, ok_g, &ext_g);
  att_status st = att_sparsify_lq(n, d, Xp, ldx, layout, Y, ldy);
  if (!is_one_of(st, allowed, sizeof allowed / sizeof *allowed)) die("att_sparsify_lq status", st);
  if (!(ok_x && ok_y) && st != ATT_E_SIZE) die("att_sparsify_lq accepted an unusable ld", st);
  if (output_kept(st, Y, ext_y, n, w, layout, ldy, "att_sparsify_lq")) {
    for (i = 0; i < n; ++i) {
      long double xi = 0.0L;
      for (t = 0; t < d; ++t) xi += (long double)X[i * d + t] * X[i * d + t];
      for (j = 0; j < n; ++j) {
        long double xx = 0.0L, yy = 0.0L, xj = 0.0L;
        for (t = 0; t < d; ++t) {
          xx += (long double)X[i * d + t] * X[j * d + t];
          xj += (long double)X[j * d + t] * X[j * d + t];
        }
        for (t = 0; t < w; ++t)
          yy += (long double)su_at(Y, layout, ldy, i, t) * su_at(Y, layout, ldy, j, t);
        /* Backward stability of Householder LQ: |E[i][j]| <= c u (n + d)
         * |x_i| |x_j|, with a generous c. */
        if (!(fabsl(yy - xx) <=
              64.0L * DBL_EPSILON * (long double)(n + d) * sqrtl(xi * xj) + 0x1p-1070L))
          die("Y Y^T differs from X X^T", (long long)(i * n + j));
      }
      for (t = i + 1; t < w; ++t)
        if (su_at(Y, layout, ldy, i, t) != 0.0) die("Y is not lower-trapezoidal", i * w + t);
    }
  }
  st = att_sparsify_gaussian(n, d, Xp, ldx, layout, m_sketch, seed, G1, ldg);
  if (!is_one_of(st, allowed, sizeof allowed / sizeof *allowed))
    die("att_sparsify_gaussian status", st);
  if (!(ok_x && ok_g) && st != ATT_E_SIZE) die("att_sparsify_gaussian accepted an unusable ld", st);
  if (m_sketch > d && st != ATT_E_SIZE) die("att_sparsify_gaussian accepted m > d", st);
  if (output_kept(st, G1, ext_g, n, m_sketch, layout, ldg, "att_sparsify_gaussian")) {
    if (att_sparsify_gaussian(n, d, Xp, ldx, layout, m_sketch, seed, G2, ldg) != ATT_OK)
      die("att_sparsify_gaussian failed the second time", 0);
    if (memcmp(G1, G2, (size_t)ext_g * sizeof *G1) != 0)
      die("att_sparsify_gaussian is not reproducible", 0);
    if (has_nonfinite(G1, ext_g)) die("att_sparsify_gaussian gave a non-finite value", 0);
  }
  free(X);
  free(Xp);
  free(Y);
  free(G1);
  free(G2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const double units[4] = {1.0, 0.25, 1.0 / 16.0, 4.0};
  input in;
  problem p;
  long double *B;
  double *L;
  in.p = data;
  in.end = data + size;
  in.unit = units[next(&in) % 4];
  read_problem(&in, &p);
  B = xmalloc((size_t)(p.n_q * p.d_v) * sizeof *B);
  L = xmalloc((size_t)p.n_q * sizeof *L);
  check_attention(&p, B, L);
  if (p.inputs_ok || next(&in) % 4 == 0) check_poly(&p, &in, B, L);
  free(B);
  free(L);
  free_problem(&p);
  check_sparsify(&in);
  return 0;
}
