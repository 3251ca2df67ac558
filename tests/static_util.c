/*
 * SPDX-License-Identifier: MIT
 */
#include "static_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

void su_attention(int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v, const double *Q,
                  const double *K, const double *V, double s, int causal, long double *B,
                  double *L) {
  long double *logit = (long double *)tu_xmalloc((size_t)n_kv * sizeof *logit);
  long double *acc = (long double *)tu_xmalloc((size_t)d_v * sizeof *acc);
  int64_t i, c, t, j;
  for (i = 0; i < n_q; ++i) {
    const int64_t visible = causal ? i + (n_kv - n_q) + 1 : n_kv;
    long double top = -INFINITY, sum = 0.0L;
    double largest = 0.0;
    for (c = 0; c < visible; ++c) {
      long double dot = 0.0L, absdot = 0.0L;
      for (t = 0; t < d_k; ++t) {
        const long double p = (long double)Q[i * d_k + t] * K[c * d_k + t];
        dot += p;
        absdot += fabsl(p);
      }
      logit[c] = (long double)s * dot;
      if (logit[c] > top) top = logit[c];
      if ((double)(s * absdot) > largest) largest = (double)(s * absdot);
    }
    for (j = 0; j < d_v; ++j) acc[j] = 0.0L;
    for (c = 0; c < visible; ++c) {
      const long double w = expl(logit[c] - top);
      sum += w;
      for (j = 0; j < d_v; ++j) acc[j] += w * V[c * d_v + j];
    }
    for (j = 0; j < d_v; ++j) B[i * d_v + j] = acc[j] / sum;
    if (L != NULL) L[i] = largest;
  }
  free(logit);
  free(acc);
}

int64_t su_extent(int64_t rows, int64_t cols, att_layout layout, int64_t ld) {
  return layout == ATT_ROW_MAJOR ? (rows - 1) * ld + cols : (cols - 1) * ld + rows;
}

double su_at(const double *a, att_layout layout, int64_t ld, int64_t i, int64_t j) {
  return layout == ATT_ROW_MAJOR ? a[i * ld + j] : a[i + j * ld];
}

double *su_output(int64_t rows, int64_t cols, att_layout layout, int64_t ld, double fill) {
  const int64_t count = su_extent(rows, cols, layout, ld);
  double *a = (double *)tu_xmalloc((size_t)count * sizeof *a);
  int64_t k;
  for (k = 0; k < count; ++k) a[k] = fill;
  return a;
}

double *su_pack(const double *a, int64_t rows, int64_t cols, att_layout layout, int64_t ld) {
  double *p = su_output(rows, cols, layout, ld, NAN);
  int64_t i, j;
  for (i = 0; i < rows; ++i)
    for (j = 0; j < cols; ++j) {
      if (layout == ATT_ROW_MAJOR)
        p[i * ld + j] = a[i * cols + j];
      else
        p[i + j * ld] = a[i * cols + j];
    }
  return p;
}

int su_padding_intact(const double *a, int64_t rows, int64_t cols, att_layout layout, int64_t ld,
                      double fill) {
  const int64_t count = su_extent(rows, cols, layout, ld);
  const int64_t width = layout == ATT_ROW_MAJOR ? cols : rows;
  int64_t k;
  for (k = 0; k < count; ++k)
    if (k % ld >= width && memcmp(&a[k], &fill, sizeof fill) != 0) return 0;
  return 1;
}

double su_scaled_error(const double *out, att_layout layout, int64_t ldo, const long double *B,
                       int64_t n_q, int64_t n_kv, int64_t d_v, const double *V) {
  double worst = 0.0;
  int64_t i, j, c;
  for (j = 0; j < d_v; ++j) {
    double vmax = 0.0;
    for (c = 0; c < n_kv; ++c)
      if (fabs(V[c * d_v + j]) > vmax) vmax = fabs(V[c * d_v + j]);
    if (vmax == 0.0) vmax = 1.0;
    for (i = 0; i < n_q; ++i) {
      const double e =
          (double)(fabsl((long double)su_at(out, layout, ldo, i, j) - B[i * d_v + j]) / vmax);
      if (isnan(e)) return INFINITY;
      if (e > worst) worst = e;
    }
  }
  return worst;
}
