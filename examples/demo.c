/*
 * examples/demo.c: dynattn on a transformer-sized problem.
 *
 * Maintains B = D^-1 exp(Q K^T / sqrt(d)) V for n = 2048 tokens and d = 64
 * features from a fixed seed, streams thousands of single-entry updates of K
 * and V with queries in between, and at checkpoints recomputes B from scratch
 * with CBLAS (Q K^T with dgemm, a row-max-shifted exp, A V with dgemm) to
 * check a sample of queries. It exits with status 1 if any checked entry is
 * off by more than 1e-10 * max_c |V[c][j]| (B is a convex combination of the
 * rows of V, so that is the natural yardstick), and prints the time per
 * operation next to the time of one full recomputation.
 *
 * Usage: dynattn-demo [n [d [updates [seed]]]]
 *
 * SPDX-License-Identifier: MIT
 */
#define _POSIX_C_SOURCE 200809L

#include <dynattn.h>

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
  QUERIES_PER_UPDATE = 8,   /* queries timed together after each update */
  CHECKPOINTS = 4,          /* full recomputations during the stream, evenly spaced */
  SAMPLES_PER_CHECK = 1024, /* entries of B compared at each checkpoint */
};

static const double kTolerance = 1e-10;

/* ---- deterministic random numbers (splitmix64, Box-Muller) -------------- */

typedef struct {
  uint64_t state;
} rng_t;

static uint64_t rng_next(rng_t *r) {
  uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in (0, 1): never 0, so log() below is finite. */
static double rng_uniform(rng_t *r) { return ((double)(rng_next(r) >> 11) + 0.5) * 0x1p-53; }

static double rng_normal(rng_t *r) {
  const double two_pi = 6.283185307179586477;
  return sqrt(-2.0 * log(rng_uniform(r))) * cos(two_pi * rng_uniform(r));
}

static int64_t rng_index(rng_t *r, int64_t bound) {
  return (int64_t)(rng_next(r) % (uint64_t)bound);
}

/* ---- timing ------------------------------------------------------------- */

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct {
  double median, mean;
} summary_t;

/* Sorts samples in place. */
static summary_t summarize(double *samples, size_t count) {
  summary_t s = {0.0, 0.0};
  if (count == 0) return s;
  qsort(samples, count, sizeof *samples, compare_doubles);
  s.median = count % 2 ? samples[count / 2] : 0.5 * (samples[count / 2 - 1] + samples[count / 2]);
  for (size_t t = 0; t < count; ++t) s.mean += samples[t];
  s.mean /= (double)count;
  return s;
}

/* ---- the reference: B recomputed from scratch --------------------------- */

typedef struct {
  int64_t n, d;
  double scale;
  double *A;    /* n x n: logits, then shifted exponentials */
  double *B;    /* n x d */
  double *vmax; /* d: max_c |V[c][j]|, the error yardstick per column */
} reference_t;

/* B = D^-1 exp(scale Q K^T) V with each row of the logits shifted by its
 * maximum, so every exponential is in (0, 1] and the row sum is >= 1. */
static void recompute(reference_t *ref, const double *Q, const double *K, const double *V) {
  const int n = (int)ref->n, d = (int)ref->d;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d, ref->scale, Q, d, K, d, 0.0, ref->A,
              n);
  for (int64_t i = 0; i < ref->n; ++i) {
    double *a = ref->A + i * ref->n;
    double m = a[0];
    for (int64_t c = 1; c < ref->n; ++c) m = a[c] > m ? a[c] : m;
    for (int64_t c = 0; c < ref->n; ++c) a[c] = exp(a[c] - m);
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, n, 1.0, ref->A, n, V, d, 0.0, ref->B,
              d);
  for (int64_t i = 0; i < ref->n; ++i) {
    const double *a = ref->A + i * ref->n;
    double sum = 0.0;
    for (int64_t c = 0; c < ref->n; ++c) sum += a[c];
    for (int64_t j = 0; j < ref->d; ++j) ref->B[i * ref->d + j] /= sum;
  }
  for (int64_t j = 0; j < ref->d; ++j) {
    double m = 0.0;
    for (int64_t c = 0; c < ref->n; ++c) m = fmax(m, fabs(V[c * ref->d + j]));
    ref->vmax[j] = m;
  }
}

/* ---- the demo ----------------------------------------------------------- */

static int fail(const char *what, att_status status) {
  fprintf(stderr, "dynattn-demo: %s failed: %s (%s)\n", what, att_status_string(status),
          att_last_error());
  return 1;
}

static int parse_arg(int argc, char **argv, int index, long long lo, long long hi,
                     long long fallback, long long *out) {
  *out = fallback;
  if (argc <= index) return 1;
  char *end = NULL;
  const long long v = strtoll(argv[index], &end, 10);
  if (end == argv[index] || *end != '\0' || v < lo || v > hi) {
    fprintf(stderr, "dynattn-demo: argument %d (\"%s\") must be an integer in [%lld, %lld]\n",
            index, argv[index], lo, hi);
    return 0;
  }
  *out = v;
  return 1;
}

/* Compare SAMPLES_PER_CHECK random entries of B against the reference. */
static int check(const att_state *s, const reference_t *ref, rng_t *rng, double *worst,
                 long *checked) {
  for (int t = 0; t < SAMPLES_PER_CHECK; ++t) {
    const int64_t i = rng_index(rng, ref->n), j = rng_index(rng, ref->d);
    double b = 0.0;
    const att_status status = att_query(s, i, j, &b);
    if (status != ATT_OK) return fail("att_query", status);
    const double expected = ref->B[i * ref->d + j];
    const double err = fabs(b - expected) / (ref->vmax[j] > 0.0 ? ref->vmax[j] : 1.0);
    if (!(err <= kTolerance)) {
      fprintf(stderr,
              "dynattn-demo: MISMATCH at B[%lld][%lld]: library %.17g, recomputed %.17g, "
              "|difference| / max|V[:,j]| = %.3g > %.0e\n",
              (long long)i, (long long)j, b, expected, err, kTolerance);
      return 1;
    }
    if (err > *worst) *worst = err;
    ++*checked;
  }
  return 0;
}

int main(int argc, char **argv) {
  long long n_arg, d_arg, updates_arg, seed_arg;
  if (argc > 5 || !parse_arg(argc, argv, 1, 1, 16384, 2048, &n_arg) ||
      !parse_arg(argc, argv, 2, 1, 4096, 64, &d_arg) ||
      !parse_arg(argc, argv, 3, CHECKPOINTS, 10000000, 6000, &updates_arg) ||
      !parse_arg(argc, argv, 4, 0, INT64_MAX, 20261122, &seed_arg)) {
    fprintf(stderr, "usage: dynattn-demo [n [d [updates [seed]]]]\n");
    return 2;
  }
  const int64_t n = n_arg, d = d_arg, updates = updates_arg;
  const double scale = 1.0 / sqrt((double)d);
  rng_t rng = {(uint64_t)seed_arg};

  const size_t nd = (size_t)n * (size_t)d;
  double *Q = malloc(nd * sizeof *Q), *K = malloc(nd * sizeof *K), *V = malloc(nd * sizeof *V);
  reference_t ref = {n,
                     d,
                     scale,
                     calloc((size_t)n * (size_t)n, sizeof(double)),
                     calloc(nd, sizeof(double)),
                     calloc((size_t)d, sizeof(double))};
  double *t_update_k = malloc((size_t)updates * sizeof(double));
  double *t_update_v = malloc((size_t)updates * sizeof(double));
  double *t_query = malloc((size_t)updates * sizeof(double));
  double t_recompute[CHECKPOINTS + 2]; /* after init, during, and at the end */
  if (!Q || !K || !V || !ref.A || !ref.B || !ref.vmax || !t_update_k || !t_update_v || !t_query) {
    fprintf(stderr, "dynattn-demo: out of memory\n");
    return 1;
  }
  for (size_t t = 0; t < nd; ++t) Q[t] = rng_normal(&rng);
  for (size_t t = 0; t < nd; ++t) K[t] = rng_normal(&rng);
  for (size_t t = 0; t < nd; ++t) V[t] = rng_normal(&rng);

  printf("dynattn %s demo: n = %lld, d = %lld, logit scale 1/sqrt(d) = %.6g, seed %lld\n",
         att_version_string(), (long long)n, (long long)d, scale, seed_arg);
  printf("BLAS: %s, %d thread(s)\n", openblas_get_config(), openblas_get_num_threads());

  att_config *cfg = NULL;
  att_state *s = NULL;
  att_status status = att_config_create(&cfg);
  if (status != ATT_OK) return fail("att_config_create", status);
  status = att_config_set_logit_scale(cfg, scale);
  if (status != ATT_OK) return fail("att_config_set_logit_scale", status);
  double t0 = now_ns();
  status = att_init(&s, n, d, Q, K, V, cfg);
  const double t_init = now_ns() - t0;
  att_config_free(cfg);
  if (status != ATT_OK) return fail("att_init", status);

  int exit_code = 1;
  double worst = 0.0;
  long checked = 0;
  int checkpoints = 0;
  size_t n_update_k = 0, n_update_v = 0, n_query = 0;
  volatile double sink = 0.0; /* keeps the timed queries from being optimized away */

  t0 = now_ns();
  recompute(&ref, Q, K, V);
  t_recompute[checkpoints++] = now_ns() - t0;
  if (check(s, &ref, &rng, &worst, &checked)) goto done;

  for (int64_t u = 1; u <= updates; ++u) {
    /* One update of K or V (half each), with the caller's copy kept in step. */
    const int64_t i = rng_index(&rng, n), j = rng_index(&rng, d);
    if (rng_next(&rng) & 1) {
      const double delta = 0.25 * rng_normal(&rng);
      t0 = now_ns();
      status = att_update_k(s, i, j, delta);
      t_update_k[n_update_k++] = now_ns() - t0;
      if (status != ATT_OK) {
        fail("att_update_k", status);
        goto done;
      }
      K[i * d + j] += delta;
    } else {
      const double delta = 0.5 * rng_normal(&rng);
      t0 = now_ns();
      status = att_update_v(s, i, j, delta);
      t_update_v[n_update_v++] = now_ns() - t0;
      if (status != ATT_OK) {
        fail("att_update_v", status);
        goto done;
      }
      V[i * d + j] += delta;
    }

    /* A batch of queries, timed together: one query is too short to time alone. */
    int64_t qi[QUERIES_PER_UPDATE], qj[QUERIES_PER_UPDATE];
    for (int q = 0; q < QUERIES_PER_UPDATE; ++q) {
      qi[q] = rng_index(&rng, n);
      qj[q] = rng_index(&rng, d);
    }
    double acc = 0.0;
    t0 = now_ns();
    for (int q = 0; q < QUERIES_PER_UPDATE; ++q) {
      double b = 0.0;
      status = att_query(s, qi[q], qj[q], &b);
      if (status != ATT_OK) break;
      acc += b;
    }
    t_query[n_query++] = (now_ns() - t0) / QUERIES_PER_UPDATE;
    sink = acc;
    if (status != ATT_OK) {
      fail("att_query", status);
      goto done;
    }

    if ((u % (updates / CHECKPOINTS) == 0 && checkpoints <= CHECKPOINTS) || u == updates) {
      t0 = now_ns();
      recompute(&ref, Q, K, V);
      t_recompute[checkpoints++] = now_ns() - t0;
      if (check(s, &ref, &rng, &worst, &checked)) goto done;
    }
  }
  (void)sink;

  const summary_t k = summarize(t_update_k, n_update_k);
  const summary_t v = summarize(t_update_v, n_update_v);
  const summary_t q = summarize(t_query, n_query);
  const summary_t full = summarize(t_recompute, (size_t)checkpoints);

  printf("\n%zu update_k, %zu update_v, %zu queries; %d full recomputations checked %ld entries\n",
         n_update_k, n_update_v, n_query * QUERIES_PER_UPDATE, checkpoints, checked);
  printf("\n  %-34s %12.3f ms\n", "att_init", t_init * 1e-6);
  printf("  %-34s %12.3f ms   (median of %d)\n", "full recomputation with CBLAS",
         full.median * 1e-6, checkpoints);
  printf("\n  %-12s %12s %12s %22s\n", "operation", "median", "mean", "speed-up vs recompute");
  printf("  %-12s %9.3f us %9.3f us %21.0fx\n", "update_k", k.median * 1e-3, k.mean * 1e-3,
         full.median / k.mean);
  printf("  %-12s %9.3f us %9.3f us %21.0fx\n", "update_v", v.median * 1e-3, v.mean * 1e-3,
         full.median / v.mean);
  printf("  %-12s %9.3f us %9.3f us %21.0fx\n", "query", q.median * 1e-3, q.mean * 1e-3,
         full.median / q.mean);
  printf(
      "\n  speed-up = one full recomputation / the mean time of the operation. The mean\n"
      "  includes the folds of pending updates (one matrix product every k updates) and the\n"
      "  occasional row refresh; the median is the typical single call.\n");
  printf("\naccuracy: max |B - B_ref| / max_c |V[c][j]| = %.2e over %ld entries (limit %.0e)\n",
         worst, checked, kTolerance);
  printf("PASS\n");
  exit_code = 0;

done:
  att_free(s);
  free(Q);
  free(K);
  free(V);
  free(ref.A);
  free(ref.B);
  free(ref.vmax);
  free(t_update_k);
  free(t_update_v);
  free(t_query);
  return exit_code;
}
