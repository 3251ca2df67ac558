/*
 * Long-double reference for B = D^-1 exp(s Q K^T) V. See reference.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "reference.h"

#include <math.h>
#include <stdlib.h>

/* The weights of row i, shifted by the row maximum: w[c] = expl(m_c - max),
 * m_c = scale * sum_t Q[i][t] K[c][t] (all in long double). Returns sum w. */
static long double row_weights(int64_t n, int64_t d, const double *Q, const double *K, double scale,
                               int64_t i, long double *w) {
  const double *q = Q + i * d;
  long double mx = -INFINITY;
  long double sum = 0.0L;
  int64_t c, t;
  for (c = 0; c < n; ++c) {
    const double *k = K + c * d;
    long double dot = 0.0L;
    for (t = 0; t < d; ++t) dot += (long double)q[t] * (long double)k[t];
    w[c] = (long double)scale * dot;
    if (w[c] > mx) mx = w[c];
  }
  for (c = 0; c < n; ++c) {
    w[c] = expl(w[c] - mx);
    sum += w[c];
  }
  return sum;
}

static void row_output(int64_t n, int64_t d, const double *V, const long double *w, long double sum,
                       double *out) {
  int64_t c, j;
  for (j = 0; j < d; ++j) {
    long double acc = 0.0L;
    for (c = 0; c < n; ++c) acc += w[c] * (long double)V[c * d + j];
    out[j] = (double)(acc / sum);
  }
}

void ref_attention_row(int64_t n, int64_t d, const double *Q, const double *K, const double *V,
                       double scale, int64_t i, double *out) {
  long double *w = malloc((size_t)n * sizeof *w);
  long double sum;
  if (w == NULL) abort();
  sum = row_weights(n, d, Q, K, scale, i, w);
  row_output(n, d, V, w, sum, out);
  free(w);
}

void ref_attention(int64_t n, int64_t d, const double *Q, const double *K, const double *V,
                   double scale, double *B) {
  long double *w = malloc((size_t)n * sizeof *w);
  int64_t i;
  if (w == NULL) abort();
  for (i = 0; i < n; ++i) {
    long double sum = row_weights(n, d, Q, K, scale, i, w);
    row_output(n, d, V, w, sum, B + i * d);
  }
  free(w);
}

double ref_row_logit_abs_sum(int64_t n, int64_t d, const double *Q, const double *K, double scale,
                             int64_t i) {
  const double *q = Q + i * d;
  long double best = 0.0L;
  int64_t c, t;
  for (c = 0; c < n; ++c) {
    long double acc = 0.0L;
    for (t = 0; t < d; ++t) acc += fabsl((long double)q[t] * (long double)K[c * d + t]);
    acc *= fabsl((long double)scale);
    if (acc > best) best = acc;
  }
  return (double)best;
}

double ref_col_abs_max(int64_t n, int64_t d, const double *V, int64_t j) {
  double best = 0.0;
  int64_t c;
  for (c = 0; c < n; ++c)
    if (fabs(V[c * d + j]) > best) best = fabs(V[c * d + j]);
  return best;
}

double ref_tolerance(double tol, int64_t d, double logit_abs_sum, double vmax) {
  return tol * vmax + REF_LOGIT_C0 * REF_UNIT_ROUNDOFF * (2.0 * (double)d * logit_abs_sum) * vmax;
}

/* ---- General shapes ----------------------------------------------------- */

int64_t ref_visible(const ref_problem *p, int64_t i) {
  int64_t end;
  if (!p->causal) return p->n_kv;
  end = i + (p->n_kv - p->n_q) + 1;
  return end < p->n_kv ? end : p->n_kv;
}

/* Shifted weights of row i over its visible keys; returns their sum and the
 * shift (the largest logit) in *shift. */
static long double general_weights(const ref_problem *p, int64_t i, long double *w,
                                   long double *shift) {
  const double *q = p->Q + i * p->d_k;
  const int64_t end = ref_visible(p, i);
  long double mx = -INFINITY, sum = 0.0L;
  int64_t c, t;
  for (c = 0; c < end; ++c) {
    const double *k = p->K + c * p->d_k;
    long double dot = 0.0L;
    for (t = 0; t < p->d_k; ++t) dot += (long double)q[t] * (long double)k[t];
    w[c] = (long double)p->scale * dot;
    if (w[c] > mx) mx = w[c];
  }
  for (c = 0; c < end; ++c) {
    w[c] = expl(w[c] - mx);
    sum += w[c];
  }
  *shift = mx;
  return sum;
}

void ref_general_row(const ref_problem *p, int64_t i, double *out) {
  long double *w = malloc((size_t)p->n_kv * sizeof *w);
  long double sum, shift;
  const int64_t end = ref_visible(p, i);
  int64_t c, j;
  if (w == NULL) abort();
  sum = general_weights(p, i, w, &shift);
  for (j = 0; j < p->d_v; ++j) {
    long double acc = 0.0L;
    for (c = 0; c < end; ++c) acc += w[c] * (long double)p->V[c * p->d_v + j];
    out[j] = (double)(acc / sum);
  }
  free(w);
}

double ref_general_lse(const ref_problem *p, int64_t i) {
  long double *w = malloc((size_t)p->n_kv * sizeof *w);
  long double sum, shift;
  if (w == NULL) abort();
  sum = general_weights(p, i, w, &shift);
  free(w);
  return (double)(shift + logl(sum));
}

double ref_general_logit_abs_sum(const ref_problem *p, int64_t i) {
  const double *q = p->Q + i * p->d_k;
  const int64_t end = ref_visible(p, i);
  long double best = 0.0L;
  int64_t c, t;
  for (c = 0; c < end; ++c) {
    long double acc = 0.0L;
    for (t = 0; t < p->d_k; ++t)
      acc += fabsl((long double)q[t] * (long double)p->K[c * p->d_k + t]);
    acc *= fabsl((long double)p->scale);
    if (acc > best) best = acc;
  }
  return (double)best;
}

double ref_general_col_abs_max(const ref_problem *p, int64_t j) {
  double best = 0.0;
  int64_t c;
  for (c = 0; c < p->n_kv; ++c)
    if (fabs(p->V[c * p->d_v + j]) > best) best = fabs(p->V[c * p->d_v + j]);
  return best;
}
