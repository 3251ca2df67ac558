/*
 * From-scratch long-double recomputation of softmax attention, and the one
 * tolerance model every test uses.
 *
 * SPDX-License-Identifier: MIT
 *
 * The reference never looks at the library: it recomputes
 *   B = D^-1 exp(s Q K^T) V
 * from the caller's own copies of Q, K and V (row-major n x d doubles), with
 * the logits formed as long-double dot products, each row shifted by its own
 * maximum before expl(), and every sum carried in long double. On x86-64
 * long double has a 64-bit significand (u = 2^-64), so the reference is about
 * 2000 times more accurate than anything computed in double and can be used
 * as "exact" for the library's error budget.
 */
#ifndef DYNATTN_TESTS_REFERENCE_H
#define DYNATTN_TESTS_REFERENCE_H

#include <stdint.h>

/* Unit roundoff of double, 2^-53. */
#define REF_UNIT_ROUNDOFF 0x1p-53

/* Constant of the LAPACK-style ratio in the tolerance model (DESIGN.md §3:
 * |err| / (u * 2d * max sum |q k| * max|V|) < 30). */
#define REF_LOGIT_C0 30.0

/* B (n x d, row-major) = D^-1 exp(scale * Q K^T) V for the whole matrix. */
void ref_attention(int64_t n, int64_t d, const double *Q, const double *K,
                   const double *V, double scale, double *B);

/* Row i of B only: out[j] = B[i][j] for j in [0, d). O(n d). */
void ref_attention_row(int64_t n, int64_t d, const double *Q, const double *K,
                       const double *V, double scale, int64_t i, double *out);

/* L_i = max_c sum_t |scale * Q[i][t] * K[c][t]|: the size that the rounding of
 * row i's logits scales with (a logit's own rounding is about d u L_i). */
double ref_row_logit_abs_sum(int64_t n, int64_t d, const double *Q,
                             const double *K, double scale, int64_t i);

/* max_c |V[c][j]|: B[:, j] is a convex combination of V[:, j]. */
double ref_col_abs_max(int64_t n, int64_t d, const double *V, int64_t j);

/*
 * THE tolerance model (DESIGN.md §3), used by every accuracy assertion:
 *
 *   bound(i, j) = tol * vmax_j + REF_LOGIT_C0 * u * (2 d L_i) * vmax_j
 *
 * where vmax_j = max_c |V[c][j]| and L_i = ref_row_logit_abs_sum(.., i).
 * The first term is the library's stated accuracy (relative to the column's
 * scale, because B is a convex combination of V's rows); the second is the
 * effect of rounding the logits themselves, which no algorithm working in
 * double can avoid: a logit error e perturbs a softmax weight by a factor
 * exp(e), so |dB| <= about 2 e vmax_j with e <= d u L_i.
 */
double ref_tolerance(double tol, int64_t d, double logit_abs_sum, double vmax);

#endif /* DYNATTN_TESTS_REFERENCE_H */
