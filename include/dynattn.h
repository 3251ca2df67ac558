/*
 * dynattn — exact dynamic maintenance of softmax attention.
 *
 * SPDX-License-Identifier: MIT
 *
 * The library keeps B = D^-1 exp(s * Q K^T) V current while single entries
 * of K and V change, and answers single-entry queries of B, as in
 * "Algorithm and Hardness for Dynamic Attention Maintenance in Large Language
 * Models" (van den Brand, Song, Zhou), Definition 1.2 and Theorem 4.1.
 * Here A = exp(s * Q K^T) entry-wise, D = diag(A 1), and s is the logit scale
 * (1.0 by default, as in the paper; 1/sqrt(d) for transformer attention).
 *
 * Conventions used by every function below:
 *   - Indices are 0-based int64_t. Matrices are dense, row-major, rows
 *     contiguous, and are copied: the caller keeps ownership of its arrays.
 *   - Every fallible function returns an att_status. ATT_OK is 0. On failure
 *     the handle is exactly as it was before the call (strong guarantee), and
 *     att_last_error() describes the failure on the calling thread.
 *   - No C++ exception, abort() or exit() ever leaves the library.
 *   - Thread safety: functions taking `const att_state *` may run
 *     concurrently with each other on the same handle; functions taking a
 *     non-const handle need exclusive access to it. Distinct handles are
 *     independent. OpenBLAS runs its own thread pool inside init and rebuilds;
 *     set OPENBLAS_NUM_THREADS=1 if the application runs its own threads.
 *   - Complexity is stated with n = rows, d = columns and k = the lazy limit
 *     (the number of pending updates after which they are folded in).
 *
 * Supported magnitudes: every input must be finite; values (entries of V and
 * V after an update) must not exceed ATT_MAX_VALUE in magnitude, and logits
 * s * <Q[i,:], K[c,:]> must not exceed ATT_MAX_LOGIT, so that no intermediate
 * sum can overflow. Larger inputs are rejected with ATT_E_RANGE.
 */
#ifndef DYNATTN_H
#define DYNATTN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(DYNATTN_BUILDING)
#define ATT_API __declspec(dllexport)
#elif defined(__GNUC__) && defined(DYNATTN_BUILDING)
#define ATT_API __attribute__((visibility("default")))
#else
#define ATT_API
#endif

/** @name Version
 *  The version of this header. att_version_number() returns the version of
 *  the library actually loaded, which may be newer (never older) than the
 *  header an application was compiled against.
 *  @{ */
#define ATT_VERSION_MAJOR 0
#define ATT_VERSION_MINOR 1
#define ATT_VERSION_PATCH 0
/** MAJOR * 10000 + MINOR * 100 + PATCH. */
#define ATT_VERSION_NUMBER \
  (ATT_VERSION_MAJOR * 10000 + ATT_VERSION_MINOR * 100 + ATT_VERSION_PATCH)
/** @} */

/** Largest accepted magnitude of an entry of V (2^664, about 7.65e199). */
#define ATT_MAX_VALUE 0x1p664
/** Largest accepted magnitude of a scaled logit s * <Q[i,:], K[c,:]>. */
#define ATT_MAX_LOGIT 0x1p664

/**
 * Status codes. The values are part of the ABI: they are never renumbered and
 * a retired code is never reused for another meaning.
 */
typedef enum att_status {
  ATT_OK = 0,              /**< Success. */
  ATT_E_NULL = 1,          /**< A required pointer argument was NULL. */
  ATT_E_SIZE = 2,          /**< n < 1, d < 1, or the storage size overflows. */
  ATT_E_INDEX = 3,         /**< An index is outside its range. */
  ATT_E_NONFINITE = 4,     /**< An input or delta is NaN or infinite. */
  ATT_E_NOMEM = 5,         /**< Memory could not be allocated. */
  ATT_E_CONFIG = 6,        /**< A configuration value is invalid. */
  ATT_E_INTERNAL = 7,      /**< An internal invariant failed (a bug: report it). */
  ATT_E_RANGE = 8,         /**< A finite input exceeds the supported magnitude. */
  ATT_E_APPROXIMATION = 9  /**< An approximation cannot be used for this input:
                                no allowed degree or rank reaches the requested
                                accuracy, or its normalizer is not safely
                                positive. Since 0.2.0. */
} att_status;

/** Opaque handle holding one maintained attention problem. */
typedef struct att_state att_state;

/** Opaque set of options for att_init(). */
typedef struct att_config att_config;

/* ------------------------------------------------------------------------ */
/** @name Version and errors
 *  @{ */

/**
 * The library's version as MAJOR * 10000 + MINOR * 100 + PATCH.
 * @return the version number of the loaded library.
 * Thread-safe; O(1).
 * @since 0.1.0
 */
ATT_API int64_t att_version_number(void);

/**
 * The library's version as a static string "MAJOR.MINOR.PATCH".
 * @return a pointer to static storage; never NULL; do not free.
 * Thread-safe; O(1).
 * @since 0.1.0
 */
ATT_API const char *att_version_string(void);

/**
 * A short, static, English description of a status code.
 * @param[in] status any value; unknown values give "unknown status".
 * @return a pointer to static storage; never NULL; do not free.
 * Thread-safe; O(1).
 * @since 0.1.0
 */
ATT_API const char *att_status_string(att_status status);

/**
 * Detail message for the most recent failed call made by the calling thread,
 * e.g. "i=5000 is outside [0, 4096)". Successful calls do not clear it.
 *
 * The message is kept per thread, not per handle, for two reasons: a failed
 * att_init() has no handle to hold it, and concurrent const queries on one
 * handle must not write to shared state. Callers from runtimes that migrate
 * work between OS threads (Go's goroutines) must read it on the thread that
 * made the failing call, e.g. inside runtime.LockOSThread(); when only the
 * kind of failure matters, att_status_string() needs no such care.
 *
 * @return a pointer to thread-local storage, valid until the thread's next
 *         call into the library; "" if no call on this thread has failed.
 *         Never NULL; do not free.
 * Thread-safe; O(1).
 * @since 0.1.0
 */
ATT_API const char *att_last_error(void);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name Configuration
 *  @{ */

/**
 * Create a configuration holding the defaults: automatic lazy limit, logit
 * scale 1.0.
 * @param[out] out receives the new configuration; set to NULL on failure.
 * @return ATT_OK, ATT_E_NULL (out is NULL) or ATT_E_NOMEM.
 * Ownership: free with att_config_free(). Thread-safe; O(1).
 * @since 0.1.0
 */
ATT_API att_status att_config_create(att_config **out);

/**
 * Free a configuration. NULL is a no-op. A configuration may be freed as soon
 * as att_init() has returned; handles do not refer to it.
 * Needs exclusive access to cfg; O(1).
 * @since 0.1.0
 */
ATT_API void att_config_free(att_config *cfg);

/**
 * Set the lazy limit k: pending updates are folded into the maintained
 * product once k key updates or k value updates are pending. A query costs
 * O(k); an update costs O(n) plus, amortized, O(n d / k) at matrix-multiply
 * speed. 0 restores the automatic choice (currently min(64, max(n, 1))).
 * Replaces any exponent set with att_config_set_lazy_exponent().
 * @param[in,out] cfg the configuration.
 * @param[in] k 0 (automatic) or a limit in [1, 2^20].
 * @return ATT_OK, ATT_E_NULL or ATT_E_CONFIG (k out of range; cfg unchanged).
 * Needs exclusive access to cfg; O(1).
 * @since 0.1.0
 */
ATT_API att_status att_config_set_lazy_limit(att_config *cfg, int64_t k);

/**
 * Set the lazy limit through the paper's exponent a (Theorem 4.1):
 * k = ceil(n^a), capped at 2^20. Replaces any limit set with
 * att_config_set_lazy_limit().
 * @param[in,out] cfg the configuration.
 * @param[in] a an exponent in (0, 1].
 * @return ATT_OK, ATT_E_NULL or ATT_E_CONFIG (a not in (0, 1]; cfg unchanged).
 * Needs exclusive access to cfg; O(1).
 * @since 0.1.0
 */
ATT_API att_status att_config_set_lazy_exponent(att_config *cfg, double a);

/**
 * Set the logit scale s in A = exp(s * Q K^T). The default 1.0 matches the
 * paper; transformer attention uses 1/sqrt(d).
 * @param[in,out] cfg the configuration.
 * @param[in] scale a finite number > 0.
 * @return ATT_OK, ATT_E_NULL or ATT_E_CONFIG (cfg unchanged).
 * Needs exclusive access to cfg; O(1).
 * @since 0.1.0
 */
ATT_API att_status att_config_set_logit_scale(att_config *cfg, double scale);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name The maintained problem (paper Definition 1.2)
 *  @{ */

/**
 * Create a handle maintaining B = D^-1 exp(s Q K^T) V for n x d matrices.
 * @param[out] out receives the handle; set to NULL on failure.
 * @param[in] n number of rows of Q, K and V; n >= 1.
 * @param[in] d number of columns of Q, K and V; d >= 1.
 * @param[in] Q, K, V row-major n x d arrays (element [i][j] at i*d + j);
 *                copied, the caller keeps ownership.
 * @param[in] cfg options, or NULL for the defaults; not retained.
 * @return ATT_OK; ATT_E_NULL (out, Q, K or V is NULL); ATT_E_SIZE (n < 1,
 *         d < 1, a dimension above INT32_MAX, or storage that overflows);
 *         ATT_E_NONFINITE (an entry is NaN or infinite); ATT_E_RANGE (an
 *         entry of V or a logit exceeds ATT_MAX_VALUE / ATT_MAX_LOGIT);
 *         ATT_E_NOMEM.
 * Ownership: free the handle with att_free().
 * Memory: about 2 n^2 + 2 n min(k, n) + 5 n d doubles (the logits and A are
 *         kept, as in the paper's Algorithm 1).
 * Complexity: O(n^2 d) at matrix-multiply speed (paper Lemma 4.3).
 * Thread-safe (touches no shared state).
 * @since 0.1.0
 */
ATT_API att_status att_init(att_state **out, int64_t n, int64_t d,
                            const double *Q, const double *K, const double *V,
                            const att_config *cfg);

/**
 * Free a handle and everything it owns. NULL is a no-op.
 * Needs exclusive access to s; O(1) calls to free.
 * @since 0.1.0
 */
ATT_API void att_free(att_state *s);

/**
 * K[i][j] += delta (paper Algorithm 2, with the pending key terms that its
 * Algorithm 4 omits kept for queries).
 * @param[in,out] s the handle.
 * @param[in] i key row in [0, n); j column in [0, d).
 * @param[in] delta a finite change.
 * @return ATT_OK; ATT_E_NULL; ATT_E_INDEX; ATT_E_NONFINITE (delta, or the new
 *         K[i][j] or a logit it produces, is not finite); ATT_E_RANGE (a logit
 *         would exceed ATT_MAX_LOGIT). On failure nothing changes.
 * Complexity: O(n) exponentials, plus O(n d) at matrix-multiply speed every
 * k updates (a fold), plus O(n d) for each row whose accumulated rounding
 * error or shift calls for recomputing it (rare; see docs/NUMERICS.md).
 * Needs exclusive access to s. Never allocates.
 * @since 0.1.0
 */
ATT_API att_status att_update_k(att_state *s, int64_t i, int64_t j,
                                double delta);

/**
 * V[i][j] += delta (paper Algorithm 3).
 * @param[in,out] s the handle.
 * @param[in] i value row in [0, n); j column in [0, d).
 * @param[in] delta a finite change.
 * @return ATT_OK; ATT_E_NULL; ATT_E_INDEX; ATT_E_NONFINITE; ATT_E_RANGE (the
 *         new V[i][j] would exceed ATT_MAX_VALUE). On failure nothing changes.
 * Complexity: O(1), plus a fold every k updates (see att_update_k()).
 * Needs exclusive access to s. Never allocates.
 * @since 0.1.0
 */
ATT_API att_status att_update_v(att_state *s, int64_t i, int64_t j,
                                double delta);

/**
 * *out = B[i][j] = (D^-1 exp(s Q K^T) V)[i][j] for the current Q, K, V
 * (paper Algorithm 4, including the pending key terms it omits).
 * @param[in] s the handle.
 * @param[in] i row in [0, n); j column in [0, d).
 * @param[out] out receives the value; untouched on failure.
 * @return ATT_OK, ATT_E_NULL or ATT_E_INDEX.
 * Accuracy: |B[i][j] - exact| <= about 1e-12 max_c |V[c][j]| plus the effect
 * of rounding the logits themselves (see docs/NUMERICS.md).
 * Complexity: O(k) worst case. Never allocates.
 * Thread-safety: const; may run concurrently with other const calls.
 * @since 0.1.0
 */
ATT_API att_status att_query(const att_state *s, int64_t i, int64_t j,
                             double *out);

/** @} */

/* ======================================================================== */
/** @name Static attention and sparsification (since 0.2.0)
 *
 *  One-shot functions beside the maintained problem: exact static attention
 *  Att(Q, K, V) = D^-1 exp(s Q K^T) V for general shapes, its polynomial-method
 *  approximation (Alman and Song, "Fast Attention Requires Bounded Entries",
 *  arXiv 2302.13214), and feature-dimension reduction (arXiv 2304.04397).
 *  They keep no state: each is thread-safe as long as no other thread writes
 *  to the arrays it reads or to the output it writes.
 *
 *  Matrices are dense with CBLAS-style layouts: element (i, j) of a
 *  rows x cols matrix A with leading dimension lda is A[i * lda + j] in
 *  ATT_ROW_MAJOR (lda >= cols) and A[i + j * lda] in ATT_COL_MAJOR
 *  (lda >= rows). One layout applies to every matrix of a call, output
 *  included. Inputs are only read; outputs are written only on success (the
 *  rows of the output beyond the result, and the padding between its leading
 *  dimension and its width, are never touched). Dimensions and leading
 *  dimensions must not exceed INT32_MAX (the BLAS interface's integer).
 *  @{ */

/** Storage order of a matrix argument (as CBLAS's CblasRowMajor/ColMajor). */
typedef enum att_layout { ATT_ROW_MAJOR = 0, ATT_COL_MAJOR = 1 } att_layout;

/** Masks of att_attention(). The values are part of the ABI. */
typedef enum att_mask {
  ATT_MASK_NONE = 0,  /**< Every query attends to every key. */
  ATT_MASK_CAUSAL = 1 /**< Query i attends to keys c <= i + (n_kv - n_q):
                           the queries are the last n_q positions of the
                           n_kv keys (n_q <= n_kv is required). */
} att_mask;

/**
 * Exact static attention: out = D^-1 exp(s Q K^T) V, D = diag(exp(s Q K^T) 1),
 * with masked pairs left out of both sums.
 *
 * Computed in tiles of at most 512 queries x 1024 keys with an online
 * (running-maximum) softmax: each tile's logits come from one dgemm, are
 * shifted by the row's running maximum before exponentiation, and the
 * partial sums are rescaled when the maximum grows, so no exponential
 * overflows and the n_q x n_kv matrix is never formed.
 *
 * @param[in] n_q, n_kv, d_k, d_v  Q is n_q x d_k, K is n_kv x d_k, V is
 *                n_kv x d_v, out is n_q x d_v; all >= 1.
 * @param[in] Q, K, V  input matrices with leading dimensions ldq, ldk, ldv.
 * @param[in] scale the logit scale s: finite and > 0 (1/d_k reproduces the
 *                paper's exp(Q K^T / d), 1/sqrt(d_k) transformer attention).
 * @param[in] mask  ATT_MASK_NONE or ATT_MASK_CAUSAL.
 * @param[in] layout ATT_ROW_MAJOR or ATT_COL_MAJOR, for all five matrices.
 * @param[out] out n_q x d_v result, leading dimension ldo; may not overlap
 *                the inputs.
 * @return ATT_OK; ATT_E_NULL; ATT_E_SIZE (a dimension < 1 or > INT32_MAX, a
 *         leading dimension too small or > INT32_MAX, an extent that
 *         overflows, or a causal mask with n_q > n_kv); ATT_E_CONFIG (scale,
 *         mask or layout invalid); ATT_E_NONFINITE (an entry of Q, K or V is
 *         NaN or infinite); ATT_E_RANGE (|V| above ATT_MAX_VALUE, or
 *         s max_i |Q[i,:]|_2 max_c |K[c,:]|_2, which bounds every logit, above
 *         ATT_MAX_LOGIT); ATT_E_NOMEM. On failure out is untouched.
 * Accuracy: as att_query(): |out - exact| <= about 1e-13 max_c |V[c][j]| plus
 *         the effect of rounding the logits themselves.
 * Memory: one tile of at most 512 x 1024 doubles plus O(512 (d_v + 2));
 *         nothing of size n_q x n_kv.
 * Complexity: 2 n_q n_kv (d_k + d_v) flops at matrix-multiply speed and
 *         n_q n_kv exponentials (about half of both with a causal mask when
 *         n_q = n_kv).
 * Thread-safe (touches no shared state); OpenBLAS may use its own threads.
 * @since 0.2.0
 */
ATT_API att_status att_attention(int64_t n_q, int64_t n_kv, int64_t d_k,
                                 int64_t d_v, const double *Q, int64_t ldq,
                                 const double *K, int64_t ldk, const double *V,
                                 int64_t ldv, double scale, att_mask mask,
                                 att_layout layout, double *out, int64_t ldo);

/** Polynomials that att_attention_poly() can use in place of exp. */
typedef enum att_poly_basis {
  /** Interpolation of exp at the g + 1 Chebyshev points of [-R, R] (the
   *  default: for the same degree its error is smaller than Taylor's, by a
   *  factor that grows like 2^g; docs/ALGORITHMS.md has the measurements). */
  ATT_POLY_CHEBYSHEV = 0,
  /** The Taylor polynomial sum_{k <= g} x^k / k! of exp at 0. */
  ATT_POLY_TAYLOR = 1
} att_poly_basis;

/** Opaque options of att_attention_poly() and att_poly_plan(). */
typedef struct att_poly_config att_poly_config;

/**
 * Create polynomial-method options holding the defaults: tolerance 1e-6,
 * automatic degree, automatic rank limit, Chebyshev basis.
 * @param[out] out receives the options; set to NULL on failure.
 * @return ATT_OK, ATT_E_NULL or ATT_E_NOMEM.
 * Ownership: free with att_poly_config_free(). Thread-safe; O(1).
 * @since 0.2.0
 */
ATT_API att_status att_poly_config_create(att_poly_config **out);

/**
 * Free polynomial-method options. NULL is a no-op.
 * Needs exclusive access to cfg; O(1).
 * @since 0.2.0
 */
ATT_API void att_poly_config_free(att_poly_config *cfg);

/**
 * Set the accuracy the automatic degree aims at: the degree g is the
 * smallest with 2 eta / (1 - eta) <= tol, where eta is the largest relative
 * error |P(x) / exp(x) - 1| of the polynomial on [-R, R] (R bounds every
 * logit, see att_attention_poly()). That makes
 * |out[i][j] - exact[i][j]| <= tol max_c |V[c][j]|, up to rounding, which
 * att_attention_poly() adds to the bound it reports and also checks.
 * @param[in,out] cfg the options.
 * @param[in] tol a finite number in [1e-15, 1).
 * @return ATT_OK, ATT_E_NULL or ATT_E_CONFIG (cfg unchanged).
 * Needs exclusive access to cfg; O(1).
 * @since 0.2.0
 */
ATT_API att_status att_poly_config_set_tolerance(att_poly_config *cfg,
                                                 double tol);

/**
 * Fix the degree g of the polynomial instead of deriving it from the
 * tolerance. With a fixed degree the tolerance is not enforced; the bound
 * that the degree achieves is reported instead.
 * @param[in,out] cfg the options.
 * @param[in] degree -1 (automatic, the default) or a degree in [0, 64].
 * @return ATT_OK, ATT_E_NULL or ATT_E_CONFIG (cfg unchanged).
 * Needs exclusive access to cfg; O(1).
 * @since 0.2.0
 */
ATT_API att_status att_poly_config_set_degree(att_poly_config *cfg,
                                              int64_t degree);

/**
 * Limit the rank r = C(d_k + g, g) of the factorization. The automatic
 * limit (0, the default) is the rank at which the method's estimated cost
 * reaches that of att_attention() for the same shapes: beyond it the
 * approximation is slower than the exact answer and is refused.
 * @param[in,out] cfg the options.
 * @param[in] max_rank 0 (automatic) or a limit in [1, INT32_MAX].
 * @return ATT_OK, ATT_E_NULL or ATT_E_CONFIG (cfg unchanged).
 * Needs exclusive access to cfg; O(1).
 * @since 0.2.0
 */
ATT_API att_status att_poly_config_set_max_rank(att_poly_config *cfg,
                                                int64_t max_rank);

/**
 * Choose the polynomial (ATT_POLY_CHEBYSHEV, the default, or ATT_POLY_TAYLOR).
 * @return ATT_OK, ATT_E_NULL or ATT_E_CONFIG (cfg unchanged).
 * Needs exclusive access to cfg; O(1).
 * @since 0.2.0
 */
ATT_API att_status att_poly_config_set_basis(att_poly_config *cfg,
                                             att_poly_basis basis);

/**
 * Plan the polynomial method without running it: the degree, rank and
 * polynomial error bound that att_attention_poly() would use for logits
 * bounded by logit_bound in magnitude.
 * @param[in] n_q, n_kv, d_k, d_v the shapes, as for att_attention_poly().
 * @param[in] logit_bound R >= 0, finite: the half-width of the interval on
 *                which exp is approximated.
 * @param[in] cfg options, or NULL for the defaults.
 * @param[out] degree, rank, error_bound each may be NULL; receive g,
 *                r = C(d_k + g, g) (saturated at INT64_MAX) and
 *                2 eta / (1 - eta). Also written when the plan is refused with
 *                ATT_E_APPROXIMATION (degree and rank of the refused plan; the
 *                degree is 65 when no degree up to 64 reaches the tolerance),
 *                untouched on other failures.
 * @return ATT_OK; ATT_E_NULL; ATT_E_SIZE; ATT_E_CONFIG (logit_bound negative
 *         or not finite); ATT_E_APPROXIMATION (no degree <= 64 reaches the
 *         tolerance, the polynomial is not positive on [-R, R], or the rank
 *         exceeds the limit); ATT_E_NOMEM.
 * Complexity: O(g^3) long-double operations per candidate degree, at most
 *         about 10^6 in all. Thread-safe.
 * @since 0.2.0
 */
ATT_API att_status att_poly_plan(int64_t n_q, int64_t n_kv, int64_t d_k,
                                 int64_t d_v, double logit_bound,
                                 const att_poly_config *cfg, int64_t *degree,
                                 int64_t *rank, double *error_bound);

/**
 * Approximate static attention by the polynomial method (arXiv 2302.13214):
 * out ~ D~^-1 U1 (U2^T V) with D~ = diag(U1 (U2^T 1)).
 *
 * R = s max_i |Q[i,:]|_2 max_c |K[c,:]|_2 bounds every logit. exp is replaced
 * on [-R, R] by a polynomial P of degree g (see att_poly_basis), and
 * P(s <q, k>) = sum_k a_k s^k <q, k>^k is written as an inner product of
 * feature vectors through the symmetric tensor powers: the features of a
 * vector are its monomials of degree <= g, so U1 (n_q x r) and U2 (n_kv x r)
 * have r = C(d_k + g, g) columns. Neither U1, U2 nor any n_q x n_kv matrix is
 * formed: keys and queries are processed in blocks, U2^T [V 1] (r x (d_v+1))
 * is accumulated with dgemm, and each query block is multiplied by it.
 *
 * @param[in] n_q, n_kv, d_k, d_v, Q, ldq, K, ldk, V, ldv, scale, layout, out,
 *                ldo  as for att_attention() (no mask).
 * @param[in] cfg options, or NULL for the defaults; not retained.
 * @param[out] degree, rank may be NULL; receive g and r, also when the call
 *                fails with ATT_E_APPROXIMATION (see att_poly_plan()).
 * @param[out] error_bound may be NULL; receives a bound e such that
 *                |out[i][j] - exact[i][j]| <= e max_c |V[c][j]|: the
 *                polynomial's 2 eta / (1 - eta) plus an estimate of the
 *                rounding error of the factored sums (written on success only).
 * @return ATT_OK; the failures of att_attention(); ATT_E_APPROXIMATION when
 *         the plan is refused (as att_poly_plan()), when a normalizer
 *         D~[i] is not safely positive (D~[i] <= 0, or its rounding error
 *         estimate exceeds D~[i] / 2), or, with the automatic degree, when the
 *         rounding error estimate pushes the bound above the tolerance. On
 *         failure out is untouched.
 * Memory: r (d_v + 3) doubles, a feature block of at most max(r, 2^21)
 *         doubles, and n_q (d_v + 1) doubles for the result before it is
 *         checked.
 * Complexity: about 2 r (n_q + n_kv)(d_v + 1) flops at matrix-multiply speed
 *         plus r (n_q + n_kv) multiplications to form the features; no
 *         exponentials, nothing quadratic in n.
 * Thread-safe (touches no shared state); OpenBLAS may use its own threads.
 * @since 0.2.0
 */
ATT_API att_status att_attention_poly(
    int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v, const double *Q,
    int64_t ldq, const double *K, int64_t ldk, const double *V, int64_t ldv,
    double scale, att_layout layout, const att_poly_config *cfg, double *out,
    int64_t ldo, int64_t *degree, int64_t *rank, double *error_bound);

/**
 * Default sketch width of att_sparsify_gaussian(): m = ceil(n ln(n / delta))
 * (the paper's m = O(n log(n / delta)) with constant 1), at least 1.
 * @param[in] n number of rows, >= 1.
 * @param[in] delta failure probability in (0, 1).
 * @param[out] m receives the width.
 * @return ATT_OK, ATT_E_NULL, ATT_E_SIZE (n < 1, or m above INT32_MAX) or
 *         ATT_E_CONFIG (delta not in (0, 1)). Thread-safe; O(1).
 * @since 0.2.0
 */
ATT_API att_status att_sketch_width(int64_t n, double delta, int64_t *m);

/**
 * Randomized feature-dimension reduction (arXiv 2304.04397): Y = X S / sqrt(m)
 * with S a d x m matrix of independent standard normals, so that
 * E[Y Y^T] = X X^T and D(Y)^-1 exp(Y Y^T) ~ D(X)^-1 exp(X X^T).
 *
 * S is a pure function of (seed, d, m), identical on every IEEE-754
 * platform, produced as follows (all arithmetic in double, round to nearest):
 *  1. splitmix64 from `seed`: x += 0x9E3779B97F4A7C15;
 *     z = x; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
 *     z = (z ^ (z >> 27)) * 0x94D049BB133111EB; output z ^ (z >> 31).
 *     Four outputs are the state s0..s3 of xoshiro256**.
 *  2. xoshiro256** step: result = rotl(s1 * 5, 7) * 9; t = s1 << 17;
 *     s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 45).
 *     A uniform is u = (result >> 11) * 2^-53.
 *  3. Marsaglia's polar method: a = 2u - 1, b = 2u' - 1 from two successive
 *     uniforms, w = a*a + b*b; draw again while w >= 1 or w == 0; then
 *     f = sqrt(-2 ln(w) / w) gives the normals a*f and then b*f. ln is the
 *     library's own: w = t 2^e with t in [0.5, 1) (frexp), z = (t-1)/(t+1),
 *     z2 = z*z, p = 1/41, then p = p*z2 + 1/(2k+1) for k = 19 down to 0,
 *     and ln w = e*ln2 + 2*z*p (left to right), ln2 = 0x1.62e42fefa39efp-1.
 *  4. S is filled row by row: S[t][k] for t = 0..d-1, k = 0..m-1.
 * Y itself is X S / sqrt(m) computed with dgemm, so it is reproducible to
 * rounding, and bitwise for the same BLAS, CPU and thread count.
 *
 * @param[in] n, d  X is n x d; n >= 1, d >= 1.
 * @param[in] X, ldx  the input, with leading dimension ldx.
 * @param[in] layout ATT_ROW_MAJOR or ATT_COL_MAJOR, for X and Y.
 * @param[in] m sketch width, 1 <= m <= d (a wider sketch cannot reduce the
 *                dimension); att_sketch_width() gives the paper's default.
 * @param[in] seed any value.
 * @param[out] Y n x m result with leading dimension ldy.
 * @return ATT_OK; ATT_E_NULL; ATT_E_SIZE (a dimension < 1 or > INT32_MAX,
 *         m > d, a leading dimension too small or too large, an overflowing
 *         extent); ATT_E_CONFIG (layout); ATT_E_NONFINITE (an entry of X);
 *         ATT_E_RANGE (|X| entries above ATT_MAX_VALUE); ATT_E_NOMEM.
 *         On failure Y is untouched.
 * Memory: at most 2^20 + m doubles for blocks of S, plus n m for the result.
 * Complexity: d m normal variates and 2 n d m flops at matrix-multiply speed.
 * Thread-safe (touches no shared state).
 * @since 0.2.0
 */
ATT_API att_status att_sparsify_gaussian(int64_t n, int64_t d, const double *X,
                                         int64_t ldx, att_layout layout,
                                         int64_t m, uint64_t seed, double *Y,
                                         int64_t ldy);

/**
 * Deterministic feature-dimension reduction: the LQ factorization X = L Q~
 * (LAPACK dgelqf, Q~ with orthonormal rows) gives Y = L, an n x min(n, d)
 * lower-trapezoidal matrix with Y Y^T = X X^T up to rounding, so that
 * D(Y)^-1 exp(Y Y^T) equals D(X)^-1 exp(X X^T) up to rounding (where
 * arXiv 2304.04397's deterministic algorithm guarantees O(r) for
 * |X X^T|_inf < r, with m = O(n)).
 * @param[in] n, d  X is n x d; n >= 1, d >= 1.
 * @param[in] X, ldx the input, with leading dimension ldx.
 * @param[in] layout ATT_ROW_MAJOR or ATT_COL_MAJOR, for X and Y.
 * @param[out] Y n x min(n, d) result with leading dimension ldy; its entries
 *                above the diagonal are set to 0.
 * @return ATT_OK; ATT_E_NULL; ATT_E_SIZE; ATT_E_CONFIG (layout);
 *         ATT_E_NONFINITE; ATT_E_RANGE (|X| entries above ATT_MAX_VALUE);
 *         ATT_E_NOMEM; ATT_E_INTERNAL (LAPACK reported an error). On failure
 *         Y is untouched.
 * Memory: a copy of X (n d doubles) plus min(n, d) + LAPACK's workspace.
 * Complexity: about 2 n^2 d - 2 n^3 / 3 flops (d >= n), mostly at
 *         matrix-multiply speed.
 * Thread-safe (touches no shared state).
 * @since 0.2.0
 */
ATT_API att_status att_sparsify_lq(int64_t n, int64_t d, const double *X,
                                   int64_t ldx, att_layout layout, double *Y,
                                   int64_t ldy);

/** @} */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DYNATTN_H */
