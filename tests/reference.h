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

/* Constant of the LAPACK-style ratio in the tolerance model (docs/NUMERICS.md,
 * "What the bound covers": |err| / (u * 2d * max sum |q k| * max|V|) < 30). */
#define REF_LOGIT_C0 30.0

/* B (n x d, row-major) = D^-1 exp(scale * Q K^T) V for the whole matrix. */
void ref_attention(int64_t n, int64_t d, const double *Q, const double *K, const double *V,
                   double scale, double *B);

/* Row i of B only: out[j] = B[i][j] for j in [0, d). O(n d). */
void ref_attention_row(int64_t n, int64_t d, const double *Q, const double *K, const double *V,
                       double scale, int64_t i, double *out);

/* L_i = max_c sum_t |scale * Q[i][t] * K[c][t]|: the size that the rounding of
 * row i's logits scales with (a logit's own rounding is about d u L_i). */
double ref_row_logit_abs_sum(int64_t n, int64_t d, const double *Q, const double *K, double scale,
                             int64_t i);

/* max_c |V[c][j]|: B[:, j] is a convex combination of V[:, j]. */
double ref_col_abs_max(int64_t n, int64_t d, const double *V, int64_t j);

/*
 * THE tolerance model (docs/NUMERICS.md, "What the bound covers"), used by
 * every accuracy assertion:
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

/* ---- General shapes, causal masks, log-sum-exp ---------------------------
 * Q is n_q x d_k, K is n_kv x d_k, V is n_kv x d_v, all row-major and
 * contiguous. With causal != 0, query row i sees the keys
 * c <= i + (n_kv - n_q) only; with causal == 0 it sees all of them. */
typedef struct ref_problem {
  int64_t n_q, n_kv, d_k, d_v;
  double scale;
  int causal;
  const double *Q, *K, *V;
} ref_problem;

/* Number of keys row i sees. */
int64_t ref_visible(const ref_problem *p, int64_t i);

/* Row i of B: out[j] for j in [0, d_v). O(n_kv (d_k + d_v)). */
void ref_general_row(const ref_problem *p, int64_t i, double *out);

/* log sum_c exp(scale <Q[i,:], K[c,:]>) over the keys row i sees. */
double ref_general_lse(const ref_problem *p, int64_t i);

/* L_i = max over visible c of sum_t |scale Q[i][t] K[c][t]|. */
double ref_general_logit_abs_sum(const ref_problem *p, int64_t i);

/* max over all c of |V[c][j]|. */
double ref_general_col_abs_max(const ref_problem *p, int64_t j);

#endif /* DYNATTN_TESTS_REFERENCE_H */
