/*
 * Measurements of docs/ALGORITHMS.md: the exact static attention against the
 * dense QK^T -> exp -> AV computation, the polynomial method's error, rank
 * and time as functions of the degree g and the entry bound B, Chebyshev
 * against Taylor, and the two sparsifications. Writes one JSON object per
 * line to stdout; docs/plots/algorithms.py turns them into tables and PNGs.
 *
 *   dynattn-algorithms exact | poly | crossover | basis | sparsify | all
 *
 * SPDX-License-Identifier: MIT
 */
#define _POSIX_C_SOURCE 200809L

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dynattn.h"

/* ---- Utilities ----------------------------------------------------------- */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng_state = 0x1234567;
static double uniform(void) /* splitmix64, [0, 1) */
{
  uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}
static double normal(void) {
  const double a = uniform(), b = uniform();
  return sqrt(-2.0 * log(1.0 - a)) * cos(6.283185307179586 * b);
}

static double *alloc(int64_t count) {
  double *p = (double *)malloc((size_t)count * sizeof *p);
  if (p == NULL) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  return p;
}

static void check(att_status st, const char *what) {
  if (st != ATT_OK) {
    fprintf(stderr, "%s: %s (%s)\n", what, att_status_string(st), att_last_error());
    exit(1);
  }
}

static double max_abs_diff(const double *a, const double *b, int64_t count) {
  double worst = 0.0;
  int64_t k;
  for (k = 0; k < count; ++k)
    if (fabs(a[k] - b[k]) > worst) worst = fabs(a[k] - b[k]);
  return worst;
}

/* ---- Dense baseline: the n_q x n_kv matrix at once ----------------------- */

static void exp_rows(double *S, int64_t rows, int64_t cols, double *sums) {
  int64_t i, c;
  for (i = 0; i < rows; ++i) {
    double *row = S + i * cols, top = row[0], sum = 0.0;
    for (c = 1; c < cols; ++c)
      if (row[c] > top) top = row[c];
    for (c = 0; c < cols; ++c) {
      const double t = row[c] - top;
      row[c] = t < -708.0 ? 0.0 : exp(t);
      sum += row[c];
    }
    sums[i] = sum;
  }
}

static void dense_attention(int64_t n, int64_t d, const double *Q, const double *K, const double *V,
                            double s, double *S, double *sums, double *out, double *t_gemm,
                            double *t_exp) {
  int64_t i, j;
  double t0 = now(), t1, t2;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)d, s, Q, (int)d, K,
              (int)d, 0.0, S, (int)n);
  t1 = now();
  exp_rows(S, n, n, sums);
  t2 = now();
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)d, (int)n, 1.0, S, (int)n, V,
              (int)d, 0.0, out, (int)d);
  for (i = 0; i < n; ++i)
    for (j = 0; j < d; ++j) out[i * d + j] /= sums[i];
  *t_gemm = (t1 - t0) + (now() - t2);
  *t_exp = t2 - t1;
}

/* ---- exact: blocked vs dense at n = 4096, d = 64 -------------------------- */

static void bench_exact(int64_t n, int64_t d, int reps) {
  double *Q = alloc(n * d), *K = alloc(n * d), *V = alloc(n * d);
  double *S = alloc(n * n), *sums = alloc(n), *dense = alloc(n * d), *blocked = alloc(n * d);
  double best_dense = 1e30, best_blocked = 1e30, best_gemm = 0, best_exp = 0, best_causal = 1e30;
  const double s = 1.0 / sqrt((double)d);
  int64_t k;
  int r;
  for (k = 0; k < n * d; ++k) {
    Q[k] = normal();
    K[k] = normal();
    V[k] = normal();
  }
  for (r = 0; r < reps; ++r) { /* interleaved, best of reps */
    double tg, te, t0 = now(), t;
    dense_attention(n, d, Q, K, V, s, S, sums, dense, &tg, &te);
    t = now() - t0;
    if (t < best_dense) {
      best_dense = t;
      best_gemm = tg;
      best_exp = te;
    }
    t0 = now();
    check(att_attention(n, n, d, d, Q, d, K, d, V, d, s, ATT_MASK_NONE, ATT_ROW_MAJOR, blocked, d),
          "att_attention");
    t = now() - t0;
    if (t < best_blocked) best_blocked = t;
    t0 = now();
    check(
        att_attention(n, n, d, d, Q, d, K, d, V, d, s, ATT_MASK_CAUSAL, ATT_ROW_MAJOR, blocked, d),
        "att_attention causal");
    t = now() - t0;
    if (t < best_causal) best_causal = t;
  }
  check(att_attention(n, n, d, d, Q, d, K, d, V, d, s, ATT_MASK_NONE, ATT_ROW_MAJOR, blocked, d),
        "att_attention");
  printf(
      "{\"kind\": \"exact\", \"n\": %lld, \"d\": %lld, \"reps\": %d, \"dense_s\": %.6f, "
      "\"dense_gemm_s\": %.6f, \"dense_exp_s\": %.6f, \"blocked_s\": %.6f, "
      "\"causal_s\": %.6f, \"ratio\": %.4f, \"max_diff\": %.3e, "
      "\"dense_bytes\": %lld, \"blocked_tile_bytes\": %lld}\n",
      (long long)n, (long long)d, reps, best_dense, best_gemm, best_exp, best_blocked, best_causal,
      best_blocked / best_dense, max_abs_diff(dense, blocked, n * d), (long long)(n * n * 8),
      (long long)(192 * 256 * 8));
  fflush(stdout);
  free(Q);
  free(K);
  free(V);
  free(S);
  free(sums);
  free(dense);
  free(blocked);
}

/* ---- poly: error, rank and time against g and B ------------------------- */

static double scaled_error(const double *a, const double *b, const double *V, int64_t n,
                           int64_t d) {
  double worst = 0.0;
  int64_t i, j;
  for (j = 0; j < d; ++j) {
    double vmax = 0.0;
    for (i = 0; i < n; ++i)
      if (fabs(V[i * d + j]) > vmax) vmax = fabs(V[i * d + j]);
    for (i = 0; i < n; ++i) {
      const double e = fabs(a[i * d + j] - b[i * d + j]) / vmax;
      if (e > worst) worst = e;
    }
  }
  return worst;
}

/* Runs of the polynomial method are capped at r n <= kWork (the time of one
 * such run is about that of the exact method at n = 16384); larger ranks
 * are reported from the planner only. */
#define POLY_WORK 4.0e7
#define POLY_MAX_DEGREE 16

static void bench_poly(int64_t n, int64_t d, double B) {
  double *Q = alloc(n * d), *K = alloc(n * d), *V = alloc(n * d), *exact = alloc(n * d);
  double *approx = alloc(n * d);
  const double s = 1.0 / (double)d; /* the paper's exp(QK^T / d) */
  double t0, t_exact, R, qn = 0, kn = 0;
  int64_t k, i, g;
  att_poly_config *cfg;
  for (k = 0; k < n * d; ++k) {
    Q[k] = B * (2.0 * uniform() - 1.0);
    K[k] = B * (2.0 * uniform() - 1.0);
    V[k] = normal();
  }
  for (i = 0; i < n; ++i) {
    double a = 0, b = 0;
    for (k = 0; k < d; ++k) {
      a += Q[i * d + k] * Q[i * d + k];
      b += K[i * d + k] * K[i * d + k];
    }
    if (a > qn) qn = a;
    if (b > kn) kn = b;
  }
  R = s * sqrt(qn) * sqrt(kn);
  t0 = now();
  check(att_attention(n, n, d, d, Q, d, K, d, V, d, s, ATT_MASK_NONE, ATT_ROW_MAJOR, exact, d),
        "att_attention");
  t_exact = now() - t0;
  /* The transition: degree and rank needed for error 1/n (1/poly(n)), and
   * whether that rank beats the exact method (automatic limit). */
  {
    int64_t gn = -1, rn = -1, limit_ok;
    double bound = -1.0;
    att_status st;
    check(att_poly_config_create(&cfg), "config");
    check(att_poly_config_set_tolerance(cfg, 1.0 / (double)n), "tolerance");
    st = att_poly_plan(n, n, d, d, R, cfg, &gn, &rn, &bound);
    limit_ok = st == ATT_OK;
    printf(
        "{\"kind\": \"poly_need\", \"n\": %lld, \"d\": %lld, \"B\": %g, \"R\": %.4f, "
        "\"tol\": %.3e, \"degree\": %lld, \"rank\": %lld, \"usable\": %lld, \"why\": \"%s\"}\n",
        (long long)n, (long long)d, B, R, 1.0 / (double)n, (long long)gn, (long long)rn,
        (long long)limit_ok, limit_ok ? "" : att_last_error());
    /* With the automatic choice: the library's own decision and its time. */
    if (limit_ok) {
      int64_t ga, ra;
      double ea;
      t0 = now();
      st = att_attention_poly(n, n, d, d, Q, d, K, d, V, d, s, ATT_ROW_MAJOR, cfg, approx, d, &ga,
                              &ra, &ea);
      printf(
          "{\"kind\": \"poly_auto\", \"n\": %lld, \"d\": %lld, \"B\": %g, \"status\": %d, "
          "\"degree\": %lld, \"rank\": %lld, \"bound\": %.3e, \"error\": %.3e, "
          "\"time_s\": %.5f, \"exact_s\": %.5f}\n",
          (long long)n, (long long)d, B, (int)st, (long long)ga, (long long)ra,
          st == ATT_OK ? ea : -1.0, st == ATT_OK ? scaled_error(approx, exact, V, n, d) : -1.0,
          now() - t0, t_exact);
    }
    att_poly_config_free(cfg);
  }
  for (g = 1; g <= POLY_MAX_DEGREE; ++g) {
    int64_t gg = -1, rr = -1;
    double bound = -1.0, err = -1.0, t = -1.0;
    att_status st;
    check(att_poly_config_create(&cfg), "config");
    check(att_poly_config_set_degree(cfg, g), "degree");
    check(att_poly_config_set_max_rank(cfg, (int64_t)(POLY_WORK / (double)n)), "rank");
    t0 = now();
    st = att_attention_poly(n, n, d, d, Q, d, K, d, V, d, s, ATT_ROW_MAJOR, cfg, approx, d, &gg,
                            &rr, &bound);
    t = now() - t0;
    if (st == ATT_OK) err = scaled_error(approx, exact, V, n, d);
    printf(
        "{\"kind\": \"poly\", \"n\": %lld, \"d\": %lld, \"B\": %g, \"R\": %.4f, "
        "\"degree\": %lld, \"rank\": %lld, \"status\": %d, \"bound\": %.3e, \"error\": %.3e, "
        "\"time_s\": %.5f, \"exact_s\": %.5f}\n",
        (long long)n, (long long)d, B, R, (long long)g, (long long)rr, (int)st,
        st == ATT_OK ? bound : -1.0, err, st == ATT_OK ? t : -1.0, t_exact);
    fflush(stdout);
    att_poly_config_free(cfg);
    if (st == ATT_E_APPROXIMATION && rr > (int64_t)(POLY_WORK / (double)n)) break;
  }
  free(Q);
  free(K);
  free(V);
  free(exact);
  free(approx);
}

/* ---- crossover: fixed degrees against the exact method ------------------- */

/* Where the polynomial method's time crosses the exact method's at n = 4096,
 * d = 4, 8, 16 (the fit of the automatic rank limit, src/polynomial_attention.cpp):
 * every degree up to the first refused or 4x-slower one, best of 3 runs of
 * each side. */
static void bench_crossover(void) {
  static const int64_t ds[] = {4, 8, 16};
  const int64_t n = 4096;
  size_t a;
  for (a = 0; a < sizeof ds / sizeof ds[0]; ++a) {
    const int64_t d = ds[a];
    const double s = 1.0 / (double)d;
    double *Q = alloc(n * d), *K = alloc(n * d), *V = alloc(n * d), *out = alloc(n * d);
    double t_exact = 1e30;
    int64_t k, g;
    int rep;
    for (k = 0; k < n * d; ++k) {
      Q[k] = 2.0 * uniform() - 1.0;
      K[k] = 2.0 * uniform() - 1.0;
      V[k] = normal();
    }
    for (rep = 0; rep < 3; ++rep) {
      const double t0 = now();
      check(att_attention(n, n, d, d, Q, d, K, d, V, d, s, ATT_MASK_NONE, ATT_ROW_MAJOR, out, d),
            "att_attention");
      if (now() - t0 < t_exact) t_exact = now() - t0;
    }
    for (g = 1; g <= POLY_MAX_DEGREE; ++g) {
      att_poly_config *cfg;
      int64_t gg = -1, rr = -1;
      double t = 1e30;
      att_status st = ATT_OK;
      check(att_poly_config_create(&cfg), "config");
      check(att_poly_config_set_degree(cfg, g), "degree");
      check(att_poly_config_set_max_rank(cfg, INT32_MAX), "rank");
      for (rep = 0; rep < 3 && st == ATT_OK; ++rep) {
        const double t0 = now();
        st = att_attention_poly(n, n, d, d, Q, d, K, d, V, d, s, ATT_ROW_MAJOR, cfg, out, d, &gg,
                                &rr, NULL);
        if (now() - t0 < t) t = now() - t0;
      }
      att_poly_config_free(cfg);
      printf(
          "{\"kind\": \"crossover\", \"n\": %lld, \"d\": %lld, \"degree\": %lld, "
          "\"rank\": %lld, \"status\": %d, \"time_s\": %.5f, \"exact_s\": %.5f, "
          "\"ratio\": %.3f}\n",
          (long long)n, (long long)d, (long long)g, (long long)rr, (int)st, st == ATT_OK ? t : -1.0,
          t_exact, st == ATT_OK ? t / t_exact : -1.0);
      fflush(stdout);
      if (st != ATT_OK || t > 4.0 * t_exact) break;
    }
    free(Q);
    free(K);
    free(V);
    free(out);
  }
}

/* ---- basis: Chebyshev against Taylor ------------------------------------- */

static void bench_basis(void) {
  static const double radii[] = {0.5, 1.0, 2.0, 4.0, 8.0};
  size_t k;
  int64_t g;
  int basis;
  for (k = 0; k < sizeof radii / sizeof radii[0]; ++k)
    for (basis = 0; basis < 2; ++basis)
      for (g = 1; g <= 30; ++g) {
        att_poly_config *cfg;
        int64_t gg, rr;
        double bound = -1.0;
        att_status st;
        check(att_poly_config_create(&cfg), "config");
        check(att_poly_config_set_degree(cfg, g), "degree");
        check(att_poly_config_set_basis(cfg, (att_poly_basis)basis), "basis");
        check(att_poly_config_set_max_rank(cfg, 1 << 30), "rank");
        st = att_poly_plan(1 << 20, 1 << 20, 1, 1, radii[k], cfg, &gg, &rr, &bound);
        printf(
            "{\"kind\": \"basis\", \"R\": %g, \"basis\": \"%s\", \"degree\": %lld, "
            "\"bound\": %.3e}\n",
            radii[k], basis == 0 ? "chebyshev" : "taylor", (long long)g,
            st == ATT_OK ? bound : -1.0);
        att_poly_config_free(cfg);
      }
  /* Measured on data: n = 4096, d = 4, B = 1.5 (R <= 2.25). */
  {
    const int64_t n = 4096, d = 4;
    double *Q = alloc(n * d), *K = alloc(n * d), *V = alloc(n * d), *exact = alloc(n * d);
    double *approx = alloc(n * d);
    int64_t i;
    for (i = 0; i < n * d; ++i) {
      Q[i] = 1.5 * (2.0 * uniform() - 1.0);
      K[i] = 1.5 * (2.0 * uniform() - 1.0);
      V[i] = normal();
    }
    check(att_attention(n, n, d, d, Q, d, K, d, V, d, 0.25, ATT_MASK_NONE, ATT_ROW_MAJOR, exact, d),
          "att_attention");
    for (basis = 0; basis < 2; ++basis)
      for (g = 2; g <= 14; ++g) {
        att_poly_config *cfg;
        double bound = -1.0;
        att_status st;
        check(att_poly_config_create(&cfg), "config");
        check(att_poly_config_set_degree(cfg, g), "degree");
        check(att_poly_config_set_basis(cfg, (att_poly_basis)basis), "basis");
        check(att_poly_config_set_max_rank(cfg, 1 << 20), "rank");
        st = att_attention_poly(n, n, d, d, Q, d, K, d, V, d, 0.25, ATT_ROW_MAJOR, cfg, approx, d,
                                NULL, NULL, &bound);
        printf(
            "{\"kind\": \"basis_data\", \"basis\": \"%s\", \"degree\": %lld, \"status\": %d, "
            "\"bound\": %.3e, \"error\": %.3e}\n",
            basis == 0 ? "chebyshev" : "taylor", (long long)g, (int)st, st == ATT_OK ? bound : -1.0,
            st == ATT_OK ? scaled_error(approx, exact, V, n, d) : -1.0);
        att_poly_config_free(cfg);
      }
    free(Q);
    free(K);
    free(V);
    free(exact);
    free(approx);
  }
  fflush(stdout);
}

/* ---- sparsify ------------------------------------------------------------ */

/* max_ij |P(Y) - P(X)| and max_i sum_j |P(Y) - P(X)|, P(Z) = D^-1 exp(ZZ^T). */
static void attention_distance(int64_t n, const double *GX, const double *GY, double *entry,
                               double *row) {
  int64_t i, j;
  *entry = 0.0;
  *row = 0.0;
  for (i = 0; i < n; ++i) {
    double sx = 0, sy = 0, rs = 0;
    for (j = 0; j < n; ++j) {
      sx += exp(GX[i * n + j]);
      sy += exp(GY[i * n + j]);
    }
    for (j = 0; j < n; ++j) {
      const double e = fabs(exp(GY[i * n + j]) / sy - exp(GX[i * n + j]) / sx);
      if (e > *entry) *entry = e;
      rs += e;
    }
    if (rs > *row) *row = rs;
  }
}

static void gram(int64_t n, int64_t m, const double *Y, double *G) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)m, 1.0, Y, (int)m, Y,
              (int)m, 0.0, G, (int)n);
}

static void bench_sparsify(int64_t n, int64_t d) {
  static const double radii[] = {0.01, 0.05, 0.1};
  int64_t widths[8], nw = 0, m_default, w, k;
  double *X = alloc(n * d), *Y = alloc(n * d), *GX = alloc(n * n), *GY = alloc(n * n);
  size_t ri;
  check(att_sketch_width(n, 0.01, &m_default), "width");
  for (w = n / 4; w <= 4 * n && nw < 7; w *= 2) widths[nw++] = w;
  widths[nw++] = m_default;
  for (ri = 0; ri < sizeof radii / sizeof radii[0]; ++ri) {
    double largest = 0.0, entry, row, t0, t;
    for (k = 0; k < n * d; ++k) X[k] = normal();
    gram(n, d, X, GX);
    for (k = 0; k < n * n; ++k)
      if (fabs(GX[k]) > largest) largest = fabs(GX[k]);
    for (k = 0; k < n * d; ++k) X[k] *= sqrt(radii[ri] / largest);
    gram(n, d, X, GX);
    /* Y = 0 (m = 0): what the bound allows without any information. */
    memset(GY, 0, (size_t)(n * n) * sizeof *GY);
    attention_distance(n, GX, GY, &entry, &row);
    printf(
        "{\"kind\": \"sparsify\", \"method\": \"zero\", \"n\": %lld, \"d\": %lld, \"r\": %g, "
        "\"m\": 0, \"entry\": %.3e, \"row\": %.3e, \"time_s\": 0}\n",
        (long long)n, (long long)d, radii[ri], entry, row);
    t0 = now();
    check(att_sparsify_lq(n, d, X, d, ATT_ROW_MAJOR, Y, n), "lq");
    t = now() - t0;
    gram(n, n, Y, GY);
    attention_distance(n, GX, GY, &entry, &row);
    printf(
        "{\"kind\": \"sparsify\", \"method\": \"lq\", \"n\": %lld, \"d\": %lld, \"r\": %g, "
        "\"m\": %lld, \"entry\": %.3e, \"row\": %.3e, \"time_s\": %.5f}\n",
        (long long)n, (long long)d, radii[ri], (long long)n, entry, row, t);
    for (w = 0; w < nw; ++w) {
      double worst_entry = 0, worst_row = 0, mean_entry = 0, best_t = 1e30;
      uint64_t seed;
      for (seed = 1; seed <= 5; ++seed) {
        t0 = now();
        check(att_sparsify_gaussian(n, d, X, d, ATT_ROW_MAJOR, widths[w], seed, Y, widths[w]),
              "gaussian");
        t = now() - t0;
        if (t < best_t) best_t = t;
        gram(n, widths[w], Y, GY);
        attention_distance(n, GX, GY, &entry, &row);
        mean_entry += entry / 5.0;
        if (entry > worst_entry) worst_entry = entry;
        if (row > worst_row) worst_row = row;
      }
      printf(
          "{\"kind\": \"sparsify\", \"method\": \"gaussian\", \"n\": %lld, \"d\": %lld, "
          "\"r\": %g, \"m\": %lld, \"default\": %d, \"entry\": %.3e, \"entry_mean\": %.3e, "
          "\"row\": %.3e, \"time_s\": %.5f}\n",
          (long long)n, (long long)d, radii[ri], (long long)widths[w], w == nw - 1, worst_entry,
          mean_entry, worst_row, best_t);
    }
    fflush(stdout);
  }
  free(X);
  free(Y);
  free(GX);
  free(GY);
}

int main(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "all";
  const int all = strcmp(what, "all") == 0;
  if (all || strcmp(what, "exact") == 0) bench_exact(4096, 64, 5);
  if (all || strcmp(what, "basis") == 0) bench_basis();
  if (all || strcmp(what, "poly") == 0) {
    static const int64_t ns[] = {1024, 4096, 16384}, ds[] = {4, 8, 16};
    static const double bs[] = {0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0};
    size_t a, b, c;
    for (a = 0; a < 3; ++a)
      for (b = 0; b < 3; ++b)
        for (c = 0; c < sizeof bs / sizeof bs[0]; ++c) bench_poly(ns[a], ds[b], bs[c]);
  }
  if (all || strcmp(what, "crossover") == 0) bench_crossover();
  if (all || strcmp(what, "sparsify") == 0) {
    bench_sparsify(32, 4096);
    bench_sparsify(128, 16384);
  }
  return 0;
}
