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
 *   - Indices are 0-based int64_t. Matrices are dense and copied: the
 *     caller keeps ownership of its arrays. They are row-major with rows
 *     contiguous, unless a function takes an att_layout and a leading
 *     dimension (CBLAS style, see att_layout).
 *   - Every fallible function returns an att_status. ATT_OK is 0. On failure
 *     the handle is exactly as it was before the call (strong guarantee), and
 *     att_last_error() describes the failure on the calling thread.
 *   - No C++ exception, abort() or exit() ever leaves the library. The
 *     OpenBLAS it calls manages work buffers of its own, which the library
 *     cannot see: their allocation is not reported as ATT_E_NOMEM, and
 *     OpenBLAS ends the process itself if more threads call into it at once
 *     than it was built for (Debian 12's build: 64).
 *   - Thread safety: functions taking `const att_state *` may run
 *     concurrently with each other on the same handle; functions taking a
 *     non-const handle need exclusive access to it. Distinct handles are
 *     independent. The library's large matrix products (init, row
 *     recomputations, folds, att_attention()) run on the calling thread
 *     and the process's helper threads, as many threads in all as OpenBLAS
 *     uses: started once, by the first init, load, clone or att_attention()
 *     with at least 384 query rows, and asleep between calls. A call
 *     whose helpers are busy with another thread's call does the work
 *     alone, and so does one in a child process after fork() (until a call
 *     there starts the child's own); updates only wake them and never
 *     start a thread. OpenBLAS runs its own thread pool
 *     inside the library's remaining BLAS calls (set OPENBLAS_NUM_THREADS=1
 *     if the application runs its own threads: the library then starts no
 *     helpers either).
 *   - Complexity is stated with n = rows, d = columns and k = the lazy limit
 *     (the number of pending updates after which they are folded in).
 *   - "Never allocates" holds for a call that succeeds. One that fails may
 *     allocate a few hundred bytes from the C++ runtime to carry the failure
 *     out of the library's core, and frees them before it returns.
 *
 * Supported magnitudes: every input must be finite; values (entries of V and
 * V after an update) must not exceed ATT_MAX_VALUE in magnitude, and logits
 * s * <Q[i,:], K[c,:]> must not exceed ATT_MAX_LOGIT, so that no intermediate
 * sum can overflow. Larger inputs are rejected with ATT_E_RANGE. So are, with
 * a small scale, logits whose unscaled dot product <Q[i,:], K[c,:]> (formed
 * before the scale) overflows: att_attention() refuses
 * max_i |Q[i,:]|_2 max_c |K[c,:]|_2 above 2^1000, and att_init() a row with
 * an unscaled product beyond a double's range.
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
#define ATT_VERSION_MINOR 3
#define ATT_VERSION_PATCH 0
/** MAJOR * 10000 + MINOR * 100 + PATCH. */
#define ATT_VERSION_NUMBER (ATT_VERSION_MAJOR * 10000 + ATT_VERSION_MINOR * 100 + ATT_VERSION_PATCH)
/** @} */

/** Largest accepted magnitude of an entry of V (2^664, about 7.65e199). */
#define ATT_MAX_VALUE 0x1p664
/** Largest accepted magnitude of a scaled logit s * <Q[i,:], K[c,:]>. */
#define ATT_MAX_LOGIT 0x1p664

/**
 * Status codes. The values are part of the ABI: they are never renumbered and
 * a retired code is never reused for another meaning.
 */
/* clang-format off */
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
  ATT_E_APPROXIMATION = 9, /**< An approximation cannot be used for this input:
                                no allowed degree or rank reaches the requested
                                accuracy, or its normalizer is not safely
                                positive. @since 0.2.0 */
  /* Values 10 to 19 are reserved. */
  ATT_E_FORMAT = 20,       /**< The data is not a saved dynattn state (wrong magic). @since 0.2.0 */
  ATT_E_VERSION = 21,      /**< The saved state has a format version this library cannot read. @since 0.2.0 */
  ATT_E_ENDIAN = 22,       /**< The saved state was written with the other byte order. @since 0.2.0 */
  ATT_E_TRUNCATED = 23,    /**< The saved state ends before its declared length. @since 0.2.0 */
  ATT_E_CORRUPT = 24,      /**< The saved state fails its checksum or is inconsistent. @since 0.2.0 */
  ATT_E_IO = 25,           /**< A file could not be opened, read, written or renamed. @since 0.2.0 */
  ATT_E_ENUM = 26          /**< An enumeration argument has a value not defined here. @since 0.2.0 */
} att_status;
/* clang-format on */

/**
 * Memory layout of a matrix of the caller, in the CBLAS style. Row-major: element
 * [i][j] at i * ld + j, ld >= columns. Column-major (Fortran, Julia): element
 * [i][j] at i + j * ld, ld >= rows. A leading dimension larger than the
 * minimum describes a sub-matrix view of a larger array.
 * @since 0.2.0
 */
typedef enum att_layout { ATT_ROW_MAJOR = 0, ATT_COL_MAJOR = 1 } att_layout;

/**
 * Which input matrix a function reads or changes.
 * @since 0.2.0
 */
typedef enum att_matrix {
  ATT_MATRIX_Q = 0, /**< queries, n_q x d_k */
  ATT_MATRIX_K = 1, /**< keys, n_kv x d_k */
  ATT_MATRIX_V = 2  /**< values, n_kv x d_v */
} att_matrix;

/**
 * How the kernel A is stored: chosen with att_config_set_storage(), reported
 * by att_stat() with ATT_STAT_STORAGE (which never reports ATT_STORAGE_AUTO).
 * Both stores give the same answers up to the same error bounds.
 * Values are never renumbered; later releases may add storage modes.
 * @since 0.2.0
 */
typedef enum att_storage {
  ATT_STORAGE_DENSE = 0,    /**< A as an n_q x n_kv matrix, n_q n_kv
                                 doubles (in 0.3.0 the logits instead,
                                 before it both), formed in init and row
                                 recomputations through the same
                                 per-thread tiles as streamed storage's
                                 (their memory included). A key update scales its
                                 column in place (one exponential per
                                 row); entries, columns and row blocks of
                                 A are read from it. */
  ATT_STORAGE_STREAMED = 1, /**< Neither is stored: entries, columns and row
                                 blocks of A are recomputed from Q K^T when
                                 needed (blocked, never an n_q x n_kv
                                 temporary), in O((n_q + n_kv) (d + k))
                                 memory plus, per thread, a 384 KiB
                                 tile of logits and a block's queries
                                 (one 4 MiB tile in 0.3.0, a 32 MiB
                                 slice in 0.2).
                                 Init and row recomputations exponentiate
                                 each row block once; a key update costs an
                                 extra O(n_q d_k) matrix-vector product, and
                                 a fold a matrix product for the columns of
                                 A of its pending value rows (O(n_q d_k)
                                 each). A query reads the entry
                                 of A of each pending value row with a
                                 change in the queried column: a d_k-term
                                 dot product and an exponential here, one
                                 stored entry with dense storage.
                                 @since 0.2.0 */
  ATT_STORAGE_AUTO = 2      /**< Configuration only: dense unless the dense
                                 store would exceed the memory budget
                                 (att_config_set_memory_budget()), else
                                 streamed. The default. @since 0.2.0 */
} att_storage;

/**
 * When pending updates are folded into the maintained product: chosen with
 * att_config_set_strategy(), reported with ATT_STAT_STRATEGY. Every strategy
 * gives the same results up to rounding (within the documented error
 * bounds); they differ in where the time goes. A query costs O(p) for p
 * pending terms, a fold O(n_q d_v) plus O(n_q d_v) per folded term at
 * matrix-product speed. Values are never renumbered; later releases may add
 * strategies.
 * @since 0.2.0
 */
typedef enum att_strategy {
  ATT_STRATEGY_LAZY = 0,     /**< Fold once k key or k value changes are
                                  pending (paper Theorem 4.1): the cheapest
                                  updates, queries O(k). The fold schedule
                                  depends on the updates alone. */
  ATT_STRATEGY_ADAPTIVE = 1, /**< The default. Fold as the lazy strategy
                                  does, and also as soon as the queries since
                                  the last fold have read pending terms about
                                  as often as a fold costs (the count is
                                  ATT_STAT_QUERY_WORK, the price
                                  ATT_STAT_FOLD_THRESHOLD): update-heavy
                                  workloads fold every k changes, query-heavy
                                  ones fold sooner, so queries stay cheap.
                                  Queries then record their work in the
                                  handle: single-threaded use stays fully
                                  deterministic, while queries from several
                                  threads at once can lose counts, which may
                                  move a later fold and so change results in
                                  the last bits (never beyond the error
                                  bounds). Choose ATT_STRATEGY_LAZY for
                                  bit-reproducible schedules under concurrent
                                  queries. @since 0.3.0 */
  ATT_STRATEGY_EAGER = 2     /**< Fold after every change of K or V: no
                                  pending terms between calls, so a query is
                                  one division; each update pays a whole fold
                                  (O(n_q d_v) plus its share of the
                                  background recomputation). @since 0.3.0 */
} att_strategy;

/**
 * Statistics readable with att_stat(). Values are never renumbered; later
 * releases may add kinds. Counters count since att_init (a clone or a loaded
 * state continues the counts of its origin) and stop at INT64_MAX.
 * @since 0.2.0
 */
/* clang-format off */
typedef enum att_stat_kind {
  ATT_STAT_UPDATES_Q = 0,           /**< Q changes applied (entries; a row counts 1). */
  ATT_STAT_UPDATES_K = 1,           /**< K changes applied (entries; a row counts 1). */
  ATT_STAT_UPDATES_V = 2,           /**< V changes applied (entries; a row counts 1). */
  ATT_STAT_FOLDS = 3,               /**< Folds of pending terms (paper Algorithm 5). */
  ATT_STAT_ROWS_RECOMPUTED = 4,     /**< Rows recomputed from Q K^T by the numerics
                                         (error bound, re-shift, background sweep). */
  ATT_STAT_COLUMNS_RECOMPUTED = 5,  /**< Value columns of the product recomputed. */
  ATT_STAT_PENDING_KEY_ROWS = 6,    /**< Distinct key rows with pending terms. */
  ATT_STAT_PENDING_KEY_UPDATES = 7, /**< Key changes since the last fold. */
  ATT_STAT_PENDING_VALUE_ROWS = 8,  /**< Distinct value rows with pending terms. */
  ATT_STAT_PENDING_VALUE_UPDATES = 9, /**< Value changes since the last fold. */
  ATT_STAT_LAZY_LIMIT = 10,         /**< The lazy limit k in use. */
  ATT_STAT_BYTES = 11,              /**< Bytes of memory held by the handle. */
  ATT_STAT_STORAGE = 12,            /**< An att_storage value. */
  ATT_STAT_STRATEGY = 13,           /**< An att_strategy value. */
  ATT_STAT_CAUSAL = 14,             /**< 1 if the handle is causally masked, else 0. */
  ATT_STAT_QUERY_WORK = 15,         /**< Pending-term reads of the queries since the
                                         last fold, as the adaptive strategy counts
                                         them (a single entry: one per term; a row:
                                         1 + d_v / 16 per term); 0 for the other
                                         strategies. @since 0.3.0 */
  ATT_STAT_FOLD_THRESHOLD = 16      /**< The query work at which the adaptive
                                         strategy folds (a fixed function of the
                                         shape). @since 0.3.0 */
} att_stat_kind;
/* clang-format on */

/** Opaque handle holding one maintained attention problem. */
typedef struct att_state att_state;

/** Opaque set of options for att_init(). */
typedef struct att_config att_config;

/* ------------------------------------------------------------------------ */
/** @name Version and errors
 *  @{ */

/**
 * The version of the library as MAJOR * 10000 + MINOR * 100 + PATCH.
 * @return the version number of the loaded library.
 * Thread-safe; O(1).
 * @since 0.1.0
 */
ATT_API int64_t att_version_number(void);

/**
 * The version of the library as a static string "MAJOR.MINOR.PATCH".
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
 * handle must not race on a message in it (the only state they touch in the
 * handle is the adaptive strategy's relaxed atomic work counter). Callers
 * from runtimes that migrate work between OS threads (goroutines in Go) must
 * read it on the thread that made the failing call, e.g. inside
 * runtime.LockOSThread(); when only the kind of failure matters,
 * att_status_string() needs no such care.
 *
 * @return a pointer to thread-local storage, valid until the next
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
 * product once k key updates or k value updates are pending (the adaptive
 * and eager strategies may fold sooner; see att_strategy). A query costs
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
 * Set the lazy limit through the exponent a of the paper (Theorem 4.1):
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

/**
 * Enable or disable causal masking. With masking, query row i attends only to
 * the key rows c <= i + (n_kv - n_q): the last n_q of n_kv positions, as when
 * decoding a suffix of queries against a longer key sequence (n_q = n_kv is
 * the usual square causal mask). Masked entries of A are exactly 0 and never
 * exponentiated, and an update of key or value row c touches only the query
 * rows that see it. Masking needs n_q <= n_kv (so every query row sees at
 * least one key); att_init_general() rejects other shapes with ATT_E_SIZE.
 * @param[in,out] cfg the configuration.
 * @param[in] causal 1 to mask, 0 (the default) for full attention.
 * @return ATT_OK, ATT_E_NULL or ATT_E_CONFIG (causal not 0 or 1; cfg unchanged).
 * Needs exclusive access to cfg; O(1).
 * @since 0.2.0
 */
ATT_API att_status att_config_set_causal(att_config *cfg, int64_t causal);

/**
 * Choose how the kernel A is stored (see att_storage). ATT_STORAGE_AUTO, the
 * default, picks ATT_STORAGE_DENSE unless its n_q n_kv doubles (plus its
 * tile slots, see att_init_general()) exceed the memory budget, and
 * ATT_STORAGE_STREAMED otherwise.
 * att_stat() with ATT_STAT_STORAGE reports the store in use; a saved state
 * records it and loads back in the same mode.
 * @param[in,out] cfg the configuration.
 * @param[in] storage ATT_STORAGE_DENSE, ATT_STORAGE_STREAMED or
 *            ATT_STORAGE_AUTO.
 * @return ATT_OK, ATT_E_NULL or ATT_E_ENUM (storage is none of those; cfg
 *         unchanged).
 * Needs exclusive access to cfg; O(1).
 * @since 0.2.0
 */
ATT_API att_status att_config_set_storage(att_config *cfg, att_storage storage);

/**
 * Set the memory budget that ATT_STORAGE_AUTO compares the dense store's size
 * against: A (n_q n_kv doubles), a row of n_kv doubles, and the tile slots
 * of att_init_general()'s "Memory" note. Q, K, V and the O(n d) buffers
 * every mode needs are not included.
 * @param[in,out] cfg the configuration.
 * @param[in] bytes the budget in bytes, or 0 (the default) for a quarter of
 *            the physical memory at att_init() time (sysconf).
 * @return ATT_OK, ATT_E_NULL or ATT_E_CONFIG (bytes < 0; cfg unchanged).
 * Needs exclusive access to cfg; O(1).
 * @since 0.2.0
 */
ATT_API att_status att_config_set_memory_budget(att_config *cfg, int64_t bytes);

/**
 * Choose when pending updates are folded (see att_strategy). The default,
 * ATT_STRATEGY_ADAPTIVE, follows the mix of queries and updates it sees; a
 * caller who knows its workload can fix the strategy instead: ATT_STRATEGY_LAZY
 * for update-heavy streams, ATT_STRATEGY_EAGER when query latency matters
 * more than update cost. The lazy limit k (att_config_set_lazy_limit())
 * bounds the pending changes under every strategy. A saved state records the
 * strategy and loads back with it.
 * @param[in,out] cfg the configuration.
 * @param[in] strategy ATT_STRATEGY_LAZY, ATT_STRATEGY_ADAPTIVE or
 *            ATT_STRATEGY_EAGER.
 * @return ATT_OK, ATT_E_NULL or ATT_E_ENUM (strategy is none of those; cfg
 *         unchanged).
 * Needs exclusive access to cfg; O(1).
 * @since 0.3.0
 */
ATT_API att_status att_config_set_strategy(att_config *cfg, att_strategy strategy);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name The maintained problem (paper Definition 1.2)
 *  @{ */

/**
 * Create a handle maintaining B = D^-1 exp(s Q K^T) V for n x d matrices.
 * @param[out] out receives the handle; set to NULL on failure.
 * @param[in] n number of rows of Q, K and V; n >= 1.
 * @param[in] d number of columns of Q, K and V; d >= 1.
 * @param[in] Q row-major n x d array (element [i][j] at i*d + j); copied,
 *                the caller keeps ownership.
 * @param[in] K row-major n x d array, as Q.
 * @param[in] V row-major n x d array, as Q.
 * @param[in] cfg options, or NULL for the defaults; not retained.
 * @return ATT_OK; ATT_E_NULL (out, Q, K or V is NULL); ATT_E_SIZE (n < 1,
 *         d < 1, a dimension above INT32_MAX, or storage that overflows); ATT_E_NONFINITE
 *         (an entry is NaN or infinite); ATT_E_RANGE (an entry of V or a
 *         logit exceeds ATT_MAX_VALUE / ATT_MAX_LOGIT, or an unscaled dot
 *         product overflows; see "Supported magnitudes" above); ATT_E_NOMEM.
 * Ownership: free the handle with att_free().
 * Memory: about n^2 + 2 min(k, n) (n + d) + 5 n d doubles (A is kept, as
 *         in Algorithm 1 of the paper; the logits are not).
 * Complexity: O(n^2 d) at matrix-multiply speed (paper Lemma 4.3).
 * Thread-safe (shares only the process's helper threads, see the top of
 * this file).
 * @since 0.1.0
 */
ATT_API att_status att_init(att_state **out, int64_t n, int64_t d, const double *Q, const double *K,
                            const double *V, const att_config *cfg);

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
 * @param[in] i key row in [0, n).
 * @param[in] j column in [0, d).
 * @param[in] delta a finite change.
 * @return ATT_OK; ATT_E_NULL; ATT_E_INDEX; ATT_E_NONFINITE (delta, or the new
 *         K[i][j] or a logit it produces, is not finite); ATT_E_RANGE (a logit
 *         would exceed ATT_MAX_LOGIT). On failure nothing changes.
 * Complexity: O(n) exponentials, plus O(n d) at matrix-multiply speed when
 * the strategy folds (every k updates at most), plus O(n d) for each row
 * whose accumulated rounding error or shift calls for recomputing it (rare,
 * see docs/NUMERICS.md). With streamed storage also a matrix-vector
 * product with Q (the column's old logits; a second for the new ones when
 * the change is large next to the new key, docs/NUMERICS.md "Key
 * changes"); with dense storage one only
 * when the norms of Q's rows and of the key allow logits near 2^600, too
 * close to ATT_MAX_LOGIT to vouch for the new ones without computing them.
 * Needs exclusive access to s. Never allocates and never starts a thread,
 * in either storage: a fold or a recomputation of rows runs on the
 * process's helper threads when they are free (see the top of this file).
 * @since 0.1.0
 */
ATT_API att_status att_update_k(att_state *s, int64_t i, int64_t j, double delta);

/**
 * V[i][j] += delta (paper Algorithm 3).
 * @param[in,out] s the handle.
 * @param[in] i value row in [0, n).
 * @param[in] j column in [0, d).
 * @param[in] delta a finite change.
 * @return ATT_OK; ATT_E_NULL; ATT_E_INDEX; ATT_E_NONFINITE; ATT_E_RANGE (the
 *         new V[i][j] would exceed ATT_MAX_VALUE). On failure nothing changes.
 * Complexity: O(1), plus a fold when the strategy calls for one (see
 * att_update_k()). The fold reads the column of A of each pending value
 * row (computes it with streamed storage: O(n d)) and adds it into the
 * product once per changed entry of the row (O(n) each), or for a row with
 * more than d/8 changed entries takes it into its matrix product (up to
 * 0.3, a value row that became pending computed its column at once). A change
 * that takes V[i][j] from within 2^10 of the column's scale (the largest
 * |V[:, j]| that has entered the product) to below it scans column j (O(n)
 * at most) and, if no entry is left within 2^10 of it, folds at once and
 * recomputes column j of the product (O(n^2)), so that queries stay
 * accurate relative to the smaller column (docs/NUMERICS.md).
 * Needs exclusive access to s. Never allocates (see att_update_k()).
 * @since 0.1.0
 */
ATT_API att_status att_update_v(att_state *s, int64_t i, int64_t j, double delta);

/**
 * *out = B[i][j] = (D^-1 exp(s Q K^T) V)[i][j] for the current Q, K, V
 * (paper Algorithm 4, including the pending key terms it omits).
 * @param[in] s the handle.
 * @param[in] i row in [0, n).
 * @param[in] j column in [0, d).
 * @param[out] out receives the value; untouched on failure.
 * @return ATT_OK, ATT_E_NULL or ATT_E_INDEX.
 * Accuracy: |B[i][j] - exact| <= about 1e-12 max_c |V[c][j]| plus the effect
 * of rounding the logits themselves (see docs/NUMERICS.md).
 * Complexity: O(p) for p pending terms, at most 2k; with streamed storage
 * a pending value row with a change in column j also costs a d-term dot
 * product and an exponential. Never allocates.
 * Thread-safety: const; may run concurrently with other const calls. Under
 * ATT_STRATEGY_ADAPTIVE a query adds its p to a counter in the handle
 * (ATT_STAT_QUERY_WORK) with relaxed atomic operations; see att_strategy.
 * @since 0.1.0
 */
ATT_API att_status att_query(const att_state *s, int64_t i, int64_t j, double *out);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name General shapes and read-back
 *  @{ */

/**
 * Create a handle maintaining B = D^-1 exp(s Q K^T) V for general shapes:
 * Q is n_q x d_k, K is n_kv x d_k, V is n_kv x d_v and B is n_q x d_v
 * (cross-attention when n_q != n_kv; value width may differ from key width).
 * att_init(out, n, d, Q, K, V, cfg) is att_init_general(out, n, n, d, d,
 * ATT_ROW_MAJOR, Q, d, K, d, V, d, cfg).
 * @param[out] out receives the handle; set to NULL on failure.
 * @param[in] n_q rows of Q (and of B); >= 1 and <= INT32_MAX, as are
 *                the other three dimensions.
 * @param[in] n_kv rows of K and V.
 * @param[in] d_k columns of Q and K.
 * @param[in] d_v columns of V (and of B).
 * @param[in] layout ATT_ROW_MAJOR or ATT_COL_MAJOR, for all three inputs.
 * @param[in] Q the n_q x d_k queries; copied, the caller keeps ownership.
 * @param[in] ldq leading dimension of Q (see att_layout): at least its
 *                number of columns (row-major) or rows (column-major).
 * @param[in] K the n_kv x d_k keys; copied.
 * @param[in] ldk leading dimension of K, as ldq.
 * @param[in] V the n_kv x d_v values; copied.
 * @param[in] ldv leading dimension of V, as ldq.
 * @param[in] cfg options, or NULL for the defaults; not retained.
 * @return ATT_OK; ATT_E_NULL; ATT_E_ENUM (layout); ATT_E_SIZE (a dimension
 *         out of range, a leading dimension too small, causal masking with
 *         n_q > n_kv, or storage that overflows); ATT_E_NONFINITE; ATT_E_RANGE; ATT_E_NOMEM.
 * Ownership: free the handle with att_free().
 * Memory: about n_q n_kv + 2 min(k, n_kv) (n_q + d_v) + n_q (d_k + d_v)
 *         + n_kv (d_k + 2 d_v) doubles with dense storage (see att_storage
 *         for streamed), plus, for row recomputations, a tile slot of about
 *         192 (d_k + 256) doubles per OpenBLAS thread (0.6 MiB at
 *         d_k = 128); att_stat() with ATT_STAT_BYTES reports the exact
 *         figure.
 * Complexity: O(n_q n_kv (d_k + d_v)) at matrix-multiply speed.
 * Thread-safe (shares only the process's helper threads, see the top of
 * this file).
 * @since 0.2.0
 */
ATT_API att_status att_init_general(att_state **out, int64_t n_q, int64_t n_kv, int64_t d_k,
                                    int64_t d_v, att_layout layout, const double *Q, int64_t ldq,
                                    const double *K, int64_t ldk, const double *V, int64_t ldv,
                                    const att_config *cfg);

/**
 * The shape of a handle. Any output pointer may be NULL to skip it.
 * @param[in] s the handle.
 * @param[out] n_q, n_kv, d_k, d_v receive the shape; untouched on failure.
 * @return ATT_OK or ATT_E_NULL (s is NULL).
 * Thread-safety: const. O(1). Never allocates.
 * @since 0.2.0
 */
ATT_API att_status att_shape(const att_state *s, int64_t *n_q, int64_t *n_kv, int64_t *d_k,
                             int64_t *d_v);

/**
 * Copy the current Q, K or V (every update applied, folded or not) into a
 * caller buffer.
 * @param[in] s the handle.
 * @param[in] which ATT_MATRIX_Q, ATT_MATRIX_K or ATT_MATRIX_V.
 * @param[in] layout layout of out; ld its leading dimension (see att_layout).
 * @param[out] out receives the matrix; untouched on failure. Entries between
 *                 the rows (or columns) of a strided view are not written.
 * @return ATT_OK, ATT_E_NULL, ATT_E_ENUM or ATT_E_SIZE (ld too small).
 * Thread-safety: const. O(rows x columns). Never allocates.
 * @since 0.2.0
 */
ATT_API att_status att_get_matrix(const att_state *s, att_matrix which, att_layout layout,
                                  double *out, int64_t ld);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name More updates
 *  Every function here validates all of its input before it changes
 *  anything: on failure the handle is exactly as it was.
 *  @{ */

/**
 * Q[i][j] += delta. Row i of the logits, of A and of the product change
 * entirely; they are recomputed at once (Q changes are never pending).
 * @param[in,out] s the handle.
 * @param[in] i query row in [0, n_q); j column in [0, d_k).
 * @param[in] delta a finite change.
 * @return ATT_OK; ATT_E_NULL; ATT_E_INDEX; ATT_E_NONFINITE (delta, the new
 *         Q[i][j] or a logit it produces is not finite); ATT_E_RANGE (a logit
 *         would exceed ATT_MAX_LOGIT).
 * Complexity: O(n_kv (d_k + d_v)) (a matrix-vector product with K, n_kv
 * exponentials, a matrix-vector product with V). Needs exclusive access to s.
 * Never allocates.
 * @since 0.2.0
 */
ATT_API att_status att_update_q(att_state *s, int64_t i, int64_t j, double delta);

/**
 * Set one entry: which[i][j] = value (exactly that double, not a sum).
 * Costs and failures as att_update_q(), att_update_k() or att_update_v()
 * for which = Q, K, V; for K, ATT_E_NONFINITE also when s (value - K[i][j])
 * overflows (for Q the row's logits are computed from the new entry, so no
 * difference is formed).
 * @param[in,out] s the handle.
 * @param[in] which the matrix; i its row; j its column.
 * @param[in] value the new, finite entry.
 * @return ATT_OK, ATT_E_NULL, ATT_E_ENUM, ATT_E_INDEX, ATT_E_NONFINITE,
 *         ATT_E_RANGE.
 * Needs exclusive access to s. Never allocates (see att_update_k()).
 * @since 0.2.0
 */
ATT_API att_status att_set_entry(att_state *s, att_matrix which, int64_t i, int64_t j,
                                 double value);

/**
 * Replace a whole row: the query, key or value vector of a token changes.
 * Q: row i of A is recomputed, as for att_update_q(). K: column i of the
 * logits moves by s (k_new - k_old)[c] Q[:, c] summed over the changed
 * entries c, and one pending key term records the change of A's column, as
 * for att_update_k(). V: one pending value term, as for att_update_v().
 * Never d separate updates.
 * @param[in,out] s the handle.
 * @param[in] which the matrix.
 * @param[in] i the row (query row for Q, key/value row for K and V).
 * @param[in] row the new row: d_k (Q, K) or d_v (V) finite values at
 *            row[0], row[inc], row[2 inc], ...; a column-major caller passes
 *            inc = its leading dimension.
 * @param[in] inc the stride between the elements of the row, >= 1.
 * @return ATT_OK, ATT_E_NULL, ATT_E_ENUM, ATT_E_INDEX, ATT_E_SIZE (inc < 1,
 *         or a row whose extent (width - 1) inc overflows what can be
 *         addressed), ATT_E_NONFINITE, ATT_E_RANGE.
 * Complexity: Q: O(n_kv (d_k + d_v)). K: the column work of att_update_k()
 * plus O(n_q) per changed entry, or instead one matrix-vector product with
 * Q for the new logits when more than a third of the entries change or the
 * changes could cancel (docs/NUMERICS.md, "Key changes"). V: O(d_v), its
 * column of A being read at the fold as for att_update_v(). Plus a fold when
 * the strategy calls for one. Needs exclusive access to s. Never allocates
 * (see att_update_k()).
 * @since 0.2.0
 */
ATT_API att_status att_set_row(att_state *s, att_matrix which, int64_t i, const double *row,
                               int64_t inc);

/**
 * Apply many updates of one matrix in one call, all or nothing:
 * which[rows[t]][cols[t]] += deltas[t] for t = 0, 1, ..., count - 1, in that
 * order (repeated entries add up in order). Every entry, every intermediate
 * value and every logit is validated before anything changes; if any is
 * invalid, nothing is applied and the status names the first bad entry in
 * att_last_error().
 * Updates are grouped by row: a key row touched m times costs one column
 * change (n_q exponentials) instead of m, and a key row with one changed
 * entry changes exactly as att_update_k() changes it; a query row touched m
 * times costs one row recomputation instead of m; a value row records only
 * the entries that changed. A batch costs no more than the same updates
 * made one by one, except that a row of Q or K whose new logits the norms
 * cannot bound (|scale| |q_i|_2 |k_c|_2 above 2^600 for some pair) has
 * them formed twice: once to validate them, once to apply them.
 * @param[in,out] s the handle.
 * @param[in] which the matrix.
 * @param[in] count number of updates, >= 0 (0 is a no-op).
 * @param[in] rows, cols, deltas arrays of count entries (may be NULL when
 *            count is 0).
 * @return ATT_OK, ATT_E_NULL, ATT_E_ENUM, ATT_E_SIZE (count < 0), ATT_E_INDEX,
 *         ATT_E_NONFINITE, ATT_E_RANGE, ATT_E_NOMEM.
 * Memory: allocates O(count) scratch for the duration of the call.
 * Complexity: O(count log count) plus, per affected row, at most the cost
 * of one att_set_row(). Needs exclusive access to s.
 * @since 0.2.0
 */
ATT_API att_status att_update_batch(att_state *s, att_matrix which, int64_t count,
                                    const int64_t *rows, const int64_t *cols, const double *deltas);

/**
 * As att_update_batch(), but which[rows[t]][cols[t]] = values[t]; when an
 * entry repeats, the last value wins. All or nothing, validated as
 * att_update_batch().
 * @param[in,out] s the handle.
 * @param[in] which the matrix.
 * @param[in] count number of entries, >= 0.
 * @param[in] rows, cols, values arrays of count entries (may be NULL when
 *            count is 0).
 * @return ATT_OK, ATT_E_NULL, ATT_E_ENUM, ATT_E_SIZE (count < 0), ATT_E_INDEX,
 *         ATT_E_NONFINITE, ATT_E_RANGE, ATT_E_NOMEM.
 * Memory: allocates scratch for the duration of the call, as
 * att_update_batch().
 * Complexity: O(count log count) plus one row change per affected row, as
 * att_update_batch(). Needs exclusive access to s.
 * @since 0.2.0
 */
ATT_API att_status att_set_batch(att_state *s, att_matrix which, int64_t count, const int64_t *rows,
                                 const int64_t *cols, const double *values);

/**
 * Fold every pending term into the maintained product now (paper Algorithm
 * 5), as happens automatically when the strategy calls for it. Queries cost O(1)
 * per entry afterwards. Results do not change beyond rounding.
 * @param[in,out] s the handle.
 * @return ATT_OK or ATT_E_NULL.
 * Complexity: O(n_q d_v p) at matrix-multiply speed for p pending rows,
 * except that a value row with at most d_v/8 changed entries costs O(n_q)
 * (with streamed storage O(n_q d_k) and n_q exponentials) and O(n_q) per
 * changed entry (0 when nothing is pending, apart from the background sweep). Needs exclusive
 * access to s. Never allocates (see att_update_k()).
 * @since 0.2.0
 */
ATT_API att_status att_fold(att_state *s);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name More queries
 *  All take a const handle: they may run concurrently with each other and
 *  with att_query() on the same handle, and they write only to the buffer
 *  of the caller (no allocation, no shared scratch), apart from the query
 *  work counter of the adaptive strategy (see att_query()).
 *  @{ */

/**
 * A whole output row: out[j] = B[i][j] for j in [0, d_v).
 * @param[in] s the handle; i the query row in [0, n_q).
 * @param[out] out receives d_v values; untouched on failure.
 * @return ATT_OK, ATT_E_NULL or ATT_E_INDEX.
 * Complexity: O(d_v (1 + p)) for p pending terms, the same as d_v single
 * queries but with the row's pending weights (for a value row, its entry of
 * A) read once.
 * Never allocates.
 * @since 0.2.0
 */
ATT_API att_status att_query_row(const att_state *s, int64_t i, double *out);

/**
 * A block of output rows: rows i0 .. i0 + count - 1 of B into a count x d_v
 * matrix with the given layout and leading dimension.
 * @param[in] s the handle.
 * @param[in] i0 first row; count number of rows, i0 + count <= n_q (count 0
 *            writes nothing, but out, layout and ld are still checked).
 * @param[in] layout, ld of out (see att_layout; rows = count, columns = d_v).
 * @param[out] out receives the block; untouched on failure.
 * @return ATT_OK, ATT_E_NULL, ATT_E_ENUM, ATT_E_INDEX (rows out of range) or
 *         ATT_E_SIZE (ld too small, count < 0).
 * Complexity: count times att_query_row(). Never allocates.
 * @since 0.2.0
 */
ATT_API att_status att_query_rows(const att_state *s, int64_t i0, int64_t count, att_layout layout,
                                  double *out, int64_t ld);

/**
 * The whole output B (n_q x d_v) into a caller buffer. The handle is const:
 * pending terms are evaluated for the output, not folded into the handle (call
 * att_fold() first to fold them). Same as att_query_rows(s, 0, n_q, ...).
 * @return ATT_OK, ATT_E_NULL, ATT_E_ENUM or ATT_E_SIZE (ld too small).
 * Complexity: O(n_q d_v (1 + p_k + p_v)). Never allocates.
 * @since 0.2.0
 */
ATT_API att_status att_output(const att_state *s, att_layout layout, double *out, int64_t ld);

/**
 * Log-sum-exp of the logits of query rows i0 .. i0 + count - 1:
 * out[r] = log(sum_c exp(s <Q[i0+r,:], K[c,:]>)) over the keys row i0 + r
 * sees (all keys, or the causally visible ones), the log of the entry of D with
 * the shift of the row restored.
 *
 * Split-K merge: if handles h1 and h2 hold the same queries and disjoint key
 * sets, with outputs B1, B2 and log-sum-exps l1, l2 for a row, then the
 * attention over the union of the keys is
 *   l = max(l1, l2) + log(exp(l1 - max) + exp(l2 - max)),
 *   B = exp(l1 - l) B1 + exp(l2 - l) B2.
 * examples/split_merge.c does exactly this.
 * @param[in] s the handle; i0, count as att_query_rows().
 * @param[out] out receives count values; untouched on failure.
 * @return ATT_OK, ATT_E_NULL, ATT_E_INDEX or ATT_E_SIZE (count < 0).
 * Accuracy: absolute error about 1e-12 plus the rounding of the logits.
 * Complexity: O(count). Never allocates.
 * @since 0.2.0
 */
ATT_API att_status att_query_lse(const att_state *s, int64_t i0, int64_t count, double *out);

/**
 * One statistic of a handle (see att_stat_kind).
 * @param[in] s the handle; which the statistic.
 * @param[out] out receives the value; untouched on failure.
 * @return ATT_OK, ATT_E_NULL or ATT_E_ENUM (which is unknown).
 * The number of queries is not counted. Under ATT_STRATEGY_ADAPTIVE queries
 * add the pending terms they read to ATT_STAT_QUERY_WORK, with relaxed
 * atomic operations (see att_strategy). Thread-safety: const. O(1).
 * @since 0.2.0
 */
ATT_API att_status att_stat(const att_state *s, att_stat_kind which, int64_t *out);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name Copies and persistence
 *  A saved state is the complete state of the handle, pending terms included, in
 *  the versioned binary format of docs/FORMAT.md, protected by an XXH3-64
 *  checksum. A handle loaded from it answers every query bit-identically to
 *  the handle that was saved, and evolves identically under the same updates.
 *  @{ */

/**
 * Deep copy of a handle; the copy and the original are independent.
 * @param[in] s the handle to copy.
 * @param[out] out receives the copy; set to NULL on failure.
 * @return ATT_OK, ATT_E_NULL or ATT_E_NOMEM.
 * Ownership: free the copy with att_free(). Thread-safety: const on s.
 * Complexity: O(bytes held). Every query of the copy is bit-identical.
 * @since 0.2.0
 */
ATT_API att_status att_clone(const att_state *s, att_state **out);

/**
 * The exact number of bytes att_save_buffer() writes for this handle.
 * @param[in] s the handle.
 * @param[out] bytes receives the size; untouched on failure.
 * @return ATT_OK or ATT_E_NULL. Thread-safety: const. O(1).
 * @since 0.2.0
 */
ATT_API att_status att_save_size(const att_state *s, int64_t *bytes);

/**
 * Save the state of the handle into a caller buffer.
 * @param[in] s the handle.
 * @param[out] buf the destination; capacity its size in bytes.
 * @param[out] written receives the number of bytes written (may be NULL).
 * @return ATT_OK, ATT_E_NULL, or ATT_E_SIZE (capacity below
 *         att_save_size(); nothing is written).
 * Thread-safety: const. Complexity: O(bytes). Never allocates.
 * @since 0.2.0
 */
ATT_API att_status att_save_buffer(const att_state *s, void *buf, int64_t capacity,
                                   int64_t *written);

/**
 * Save the state of the handle to a file, atomically: the data goes to a new
 * temporary file in the same directory, which is flushed to stable storage
 * (fsync) and then renamed over path. A failure or crash at any point leaves
 * either the old file or the complete new one at path, never a partial one.
 * On failure the temporary file is removed.
 * @param[in] s the handle.
 * @param[in] path the file name (the directory must exist and be writable).
 * @return ATT_OK, ATT_E_NULL, ATT_E_IO (with the reason given by the system in
 *         att_last_error()) or ATT_E_NOMEM.
 * Thread-safety: const on s. Complexity: O(bytes); allocates a buffer of
 * att_save_size() bytes.
 * @since 0.2.0
 */
ATT_API att_status att_save_file(const att_state *s, const char *path);

/**
 * Create a handle from a state saved by att_save_buffer() or att_save_file().
 * Every size in the data is checked against the length of the data before
 * anything is allocated, so corrupted or hostile data cannot cause
 * out-of-bounds reads, nor allocations beyond a small multiple of the data's
 * size but one: the room for pending terms, n_q x 2 min(k, n_kv) doubles,
 * which the saved lazy limit k decides as att_init() would
 * (docs/FORMAT.md).
 * @param[out] out receives the handle; set to NULL on failure.
 * @param[in] buf the saved bytes; size their number.
 * @return ATT_OK; ATT_E_NULL; ATT_E_SIZE (size < 0); ATT_E_FORMAT (not a
 *         saved dynattn state); ATT_E_ENDIAN (written with the other byte
 *         order); ATT_E_VERSION (a format version this library does not
 *         read: a newer one, or 0); ATT_E_TRUNCATED
 *         (shorter than its declared length); ATT_E_CORRUPT (checksum
 *         mismatch, trailing bytes or inconsistent contents); ATT_E_NOMEM.
 * Ownership: free the handle with att_free(). Thread-safe.
 * Complexity: O(size).
 * @since 0.2.0
 */
ATT_API att_status att_load_buffer(att_state **out, const void *buf, int64_t size);

/**
 * Create a handle from a state saved by att_save_file() or att_save_buffer(),
 * reading the file at path; its contents are checked as by att_load_buffer().
 * @param[out] out receives the handle; set to NULL on failure.
 * @param[in] path the file name.
 * @return ATT_OK; ATT_E_NULL; ATT_E_IO (the file cannot be opened or read,
 *         with the reason given by the system in att_last_error()); ATT_E_FORMAT,
 *         ATT_E_ENDIAN, ATT_E_VERSION, ATT_E_TRUNCATED or ATT_E_CORRUPT as
 *         att_load_buffer(); ATT_E_NOMEM.
 * Ownership: free the handle with att_free(). Thread-safe.
 * Complexity: O(file size); the file is read into a buffer before it is
 * checked, up to the end of the state its header declares and one byte more
 * (to see trailing bytes), or only its first bytes when they are not a saved
 * dynattn state (so a device such as /dev/zero is refused at once).
 * @since 0.2.0
 */
ATT_API att_status att_load_file(att_state **out, const char *path);

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
 *  dimensions must not exceed INT32_MAX (the integer of the BLAS interface).
 *  @{ */

/* Layouts are att_layout values (ATT_ROW_MAJOR, ATT_COL_MAJOR). */

/** Masks of att_attention(). The values are part of the ABI. */
typedef enum att_mask {
  ATT_MASK_NONE = 0,  /**< Every query attends to every key. */
  ATT_MASK_CAUSAL = 1 /**< Query i attends to keys c <= i + (n_kv - n_q):
                           the queries are the last n_q positions of the
                           n_kv keys (n_q <= n_kv is required). */
} att_mask;

/**
 * Exact static attention: out = D^-1 exp(s Q K^T) V, D = diag(exp(s Q K^T) 1),
 * with masked pairs left out of both sums. Computed in blocks of at most 192
 * queries, each in tiles of at most 256 keys, with an online softmax: a
 * tile's logits come from one matrix product and are shifted by the running
 * maximum before exponentiation, the partial sums rescaled when it grows, so
 * no exponential overflows and the n_q x n_kv matrix is never formed.
 *
 * @param[in] n_q, n_kv, d_k, d_v  Q is n_q x d_k, K is n_kv x d_k, V is
 *                n_kv x d_v, out is n_q x d_v; all >= 1.
 * @param[in] Q, K, V  input matrices with leading dimensions ldq, ldk, ldv.
 * @param[in] scale the logit scale s: finite and > 0 (1/d_k reproduces the
 *                exp(Q K^T / d) of the paper, 1/sqrt(d_k) transformer attention).
 * @param[in] mask  ATT_MASK_NONE or ATT_MASK_CAUSAL.
 * @param[in] layout ATT_ROW_MAJOR or ATT_COL_MAJOR, for all five matrices.
 * @param[out] out n_q x d_v result, leading dimension ldo; may not overlap
 *                the inputs.
 * @return ATT_OK; ATT_E_NULL; ATT_E_SIZE (a dimension < 1 or > INT32_MAX, a
 *         leading dimension too small or > INT32_MAX, an extent that
 *         overflows, or a causal mask with n_q > n_kv); ATT_E_CONFIG (scale,
 *         mask or layout invalid); ATT_E_NONFINITE (an entry of Q, K or V is
 *         NaN or infinite); ATT_E_RANGE (|V| above ATT_MAX_VALUE; or, with
 *         m = max_i |Q[i,:]|_2 max_c |K[c,:]|_2, s m, which bounds every
 *         logit, above ATT_MAX_LOGIT, or m above 2^1000); ATT_E_NOMEM. On
 *         failure out is untouched.
 * Accuracy: |out - exact| <= about 1e-13 max_c |V[c][j]| (att_query():
 *         about 1e-12) plus the effect of rounding the logits themselves.
 * Memory: per thread one tile of at most 192 x 256 doubles and a block's
 *         queries (192 x d_k), plus O(1536 threads (d_v + 2)) for its rows.
 * Complexity: 2 n_q n_kv (d_k + d_v) flops at matrix-multiply speed and
 *         n_q n_kv exponentials (about half of both with a causal mask when
 *         n_q = n_kv).
 * Thread-safe (shares only the process's helper threads, see the top of
 * this file); from about 2^21 multiply-adds on, row blocks of at least 192
 * rows are split among them.
 * @since 0.2.0
 */
ATT_API att_status att_attention(int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v,
                                 const double *Q, int64_t ldq, const double *K, int64_t ldk,
                                 const double *V, int64_t ldv, double scale, att_mask mask,
                                 att_layout layout, double *out, int64_t ldo);

/** Polynomials that att_attention_poly() can use in place of exp. */
typedef enum att_poly_basis {
  /** Interpolation of exp at the g + 1 Chebyshev points of [-R, R] (the
   *  default: for the same degree its error is smaller than that of Taylor, by a
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
ATT_API att_status att_poly_config_set_tolerance(att_poly_config *cfg, double tol);

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
ATT_API att_status att_poly_config_set_degree(att_poly_config *cfg, int64_t degree);

/**
 * Limit the rank r = C(d_k + g, g) of the factorization. The automatic
 * limit (0, the default) is the rank at which the estimated cost of the method
 * reaches that of att_attention() for the same shapes: beyond it the
 * approximation is slower than the exact answer and is refused.
 * @param[in,out] cfg the options.
 * @param[in] max_rank 0 (automatic) or a limit in [1, INT32_MAX].
 * @return ATT_OK, ATT_E_NULL or ATT_E_CONFIG (cfg unchanged).
 * Needs exclusive access to cfg; O(1).
 * @since 0.2.0
 */
ATT_API att_status att_poly_config_set_max_rank(att_poly_config *cfg, int64_t max_rank);

/**
 * Choose the polynomial (ATT_POLY_CHEBYSHEV, the default, or ATT_POLY_TAYLOR).
 * @param[in,out] cfg the options.
 * @param[in] basis ATT_POLY_CHEBYSHEV or ATT_POLY_TAYLOR.
 * @return ATT_OK, ATT_E_NULL or ATT_E_CONFIG (basis is neither; cfg
 *         unchanged).
 * Needs exclusive access to cfg; O(1).
 * @since 0.2.0
 */
ATT_API att_status att_poly_config_set_basis(att_poly_config *cfg, att_poly_basis basis);

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
ATT_API att_status att_poly_plan(int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v,
                                 double logit_bound, const att_poly_config *cfg, int64_t *degree,
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
 *                polynomial error 2 eta / (1 - eta) plus an estimate of the
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
ATT_API att_status att_attention_poly(int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v,
                                      const double *Q, int64_t ldq, const double *K, int64_t ldk,
                                      const double *V, int64_t ldv, double scale, att_layout layout,
                                      const att_poly_config *cfg, double *out, int64_t ldo,
                                      int64_t *degree, int64_t *rank, double *error_bound);

/**
 * Default sketch width of att_sparsify_gaussian(): m = ceil(n ln(n / delta))
 * (the m of the paper, m = O(n log(n / delta)) with constant 1), at least 1.
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
 *  1. splitmix64 from `seed`, per output:
 *       x += 0x9E3779B97F4A7C15
 *       z = x
 *       z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
 *       z = (z ^ (z >> 27)) * 0x94D049BB133111EB
 *       output z ^ (z >> 31)
 *     Four outputs are the state s0..s3 of xoshiro256**.
 *  2. xoshiro256** step, in this order:
 *       result = rotl(s1 * 5, 7) * 9,  t = s1 << 17,
 *       s2 ^= s0,  s3 ^= s1,  s1 ^= s2,  s0 ^= s3,  s2 ^= t,  s3 = rotl(s3, 45).
 *     A uniform is u = (result >> 11) * 2^-53.
 *  3. Polar method of Marsaglia: a = 2u - 1, b = 2v - 1 from two successive
 *     uniforms u, v, w = a*a + b*b; draw again while w >= 1 or w == 0; then
 *     f = sqrt(-2 ln(w) / w) gives the normals a*f and then b*f. ln is the
 *     library function: w = t 2^e with t in [0.5, 1) (frexp), z = (t-1)/(t+1),
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
 *                dimension); att_sketch_width() gives the default of the paper.
 * @param[in] seed any value.
 * @param[out] Y n x m result with leading dimension ldy.
 * @return ATT_OK; ATT_E_NULL; ATT_E_SIZE (a dimension < 1 or > INT32_MAX,
 *         m > d, a leading dimension too small or too large, an overflowing
 *         extent); ATT_E_CONFIG (layout); ATT_E_NONFINITE (an entry of
 *         X); ATT_E_RANGE (|X| entries above ATT_MAX_VALUE); ATT_E_NOMEM.
 *         On failure Y is untouched.
 * Memory: at most 2^20 + m doubles for blocks of S, plus n m for the result.
 * Complexity: d m normal variates and 2 n d m flops at matrix-multiply speed.
 * Thread-safe (touches no shared state).
 * @since 0.2.0
 */
ATT_API att_status att_sparsify_gaussian(int64_t n, int64_t d, const double *X, int64_t ldx,
                                         att_layout layout, int64_t m, uint64_t seed, double *Y,
                                         int64_t ldy);

/**
 * Deterministic feature-dimension reduction: the LQ factorization X = L Q~
 * (LAPACK dgelqf, Q~ with orthonormal rows) gives Y = L, an n x min(n, d)
 * lower-trapezoidal matrix with Y Y^T = X X^T up to rounding, so that
 * D(Y)^-1 exp(Y Y^T) equals D(X)^-1 exp(X X^T) up to rounding (where
 * the deterministic algorithm of arXiv 2304.04397 guarantees O(r) for
 * |X X^T|_inf < r, with m = O(n)).
 * @param[in] n, d  X is n x d; n >= 1, d >= 1.
 * @param[in] X, ldx the input, with leading dimension ldx.
 * @param[in] layout ATT_ROW_MAJOR or ATT_COL_MAJOR, for X and Y.
 * @param[out] Y n x min(n, d) result with leading dimension ldy; its entries
 *                above the diagonal are set to 0.
 * @return ATT_OK; ATT_E_NULL; ATT_E_SIZE; ATT_E_CONFIG (layout); ATT_E_NONFINITE
 *         (an entry of X); ATT_E_RANGE (|X| entries above
 *         ATT_MAX_VALUE); ATT_E_NOMEM; ATT_E_INTERNAL (LAPACK reported an
 *         error). On failure Y is untouched.
 * Memory: a copy of X (n d doubles) plus min(n, d) + the LAPACK workspace.
 * Complexity: about 2 n^2 d - 2 n^3 / 3 flops (d >= n), mostly at
 *         matrix-multiply speed.
 * Thread-safe (touches no shared state).
 * @since 0.2.0
 */
ATT_API att_status att_sparsify_lq(int64_t n, int64_t d, const double *X, int64_t ldx,
                                   att_layout layout, double *Y, int64_t ldy);

/** @} */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DYNATTN_H */
