/*
 * Helpers of the tests of the one-shot functions (static attention, the
 * polynomial method, sparsification): a long-double reference of static
 * attention for general shapes, and matrices stored in either layout with
 * NaN in every padding element (so reading padding poisons the result).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef DYNATTN_TESTS_STATIC_UTIL_H
#define DYNATTN_TESTS_STATIC_UTIL_H

#include <stdint.h>

#include "dynattn.h"

/* B (n_q x d_v, row-major, long double) = D^-1 exp(s Q K^T) V from row-major
 * Q (n_q x d_k), K (n_kv x d_k), V (n_kv x d_v), with key c left out of
 * query i when causal and c > i + n_kv - n_q. Logits as long-double dot
 * products, each row shifted by its own maximum. If L is not NULL, L[i]
 * receives max_c sum_t |s Q[i][t] K[c][t]| (reference.h's logit size). */
void su_attention(int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v, const double *Q,
                  const double *K, const double *V, double s, int causal, long double *B,
                  double *L);

/* A rows x cols copy of row-major `a` in `layout` with leading dimension
 * ld (>= the stored width); padding elements are NaN. Free with free(). */
double *su_pack(const double *a, int64_t rows, int64_t cols, att_layout layout, int64_t ld);

/* Element (i, j) of a matrix stored in `layout` with leading dimension ld. */
double su_at(const double *a, att_layout layout, int64_t ld, int64_t i, int64_t j);

/* A rows x cols output buffer in `layout` with leading dimension ld, every
 * element (padding included) set to `fill`. Free with free(). */
double *su_output(int64_t rows, int64_t cols, att_layout layout, int64_t ld, double fill);

/* Number of elements of a rows x cols matrix in layout with ld. */
int64_t su_extent(int64_t rows, int64_t cols, att_layout layout, int64_t ld);

/* Padding elements of an output buffer (made by su_output with `fill`) still
 * hold fill, bitwise: 1 if so. */
int su_padding_intact(const double *a, int64_t rows, int64_t cols, att_layout layout, int64_t ld,
                      double fill);

/* max over i, j of |out(i, j) - B[i][j]| / max_c |V[c][j]|. */
double su_scaled_error(const double *out, att_layout layout, int64_t ldo, const long double *B,
                       int64_t n_q, int64_t n_kv, int64_t d_v, const double *V);

#endif /* DYNATTN_TESTS_STATIC_UTIL_H */
