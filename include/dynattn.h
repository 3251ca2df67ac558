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
  ATT_E_RANGE = 8          /**< A finite input exceeds the supported magnitude. */
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

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DYNATTN_H */
