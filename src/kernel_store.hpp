// Storage of the attention kernel A = exp(M - shift), the exponentials of
// the logits M, behind the operations the lazy structure needs. The dense
// store keeps A (n_q x n_kv); the streamed store keeps neither A nor M and
// computes what it is asked for from Q K^T (KernelOperands), in
// O(n (d + slice)) memory.
//
// Causal masking: every store is built with a KeyMask and honours it in every
// method. Masked entries of A are exactly 0, are never exponentiated and
// never counted in a row's shift, sum or validation; key-column methods read
// and write only the rows [mask.first_row(c), n_q) that see key c.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>

#include "blas.hpp"
#include "buffer.hpp"
#include "dynattn.h"
#include "kernels.hpp"
#include "key_mask.hpp"
#include "matrix_view.hpp"
#include "numerics.hpp"
#include "serialize.hpp"

namespace att {

// The current inputs of the kernel, for stores that recompute entries: A[i,
// c] = exp(scale * Q[i, :] . K[c, :] - shift[i]). shift has n_q entries.
struct KernelOperands {
  const Matrix &Q;
  const Matrix &K;
  double scale;
  const double *shift;
};

// What every store's commit_query_row does with the first `end` (>= 1)
// logits of a query row: *shift = their largest, a = exp(logits - *shift),
// *row_sum = sum(a) (compensated), *err = its fresh error bound, out[j *
// ldo] = (a V)[j] for the first `end` rows of V.
inline void commit_kernel_row(const double *logits, int64_t end, double *a, double *shift,
                              double *row_sum, double *err, const ConstView &V, double *out,
                              int64_t ldo) {
  bool unused = false;
  *shift = kern::max_of(logits, HUGE_VAL, &unused, end);
  *row_sum = kern::exp_sum(logits, *shift, a, end);
  *err = num::kFreshCharge * num::kUnitRoundoff * *row_sum;
  if (V.row_major) {
    blas::gemv(blas::Op::N, V.cols, end, 1.0, V.data, V.ld, a, 1, 0.0, out, ldo);
  } else {
    blas::gemv(blas::Op::T, end, V.cols, 1.0, V.data, V.ld, a, 1, 0.0, out, ldo);
  }
}

class KernelStore {
 public:
  virtual ~KernelStore() = default;

  // Recompute rows [i0, i0 + count) from scratch: logits = scale * Q K^T,
  // shift[i] = the row's largest visible logit, A = exp(logits - shift),
  // row_sum[i] = sum_c A[i, c] (compensated), err[i] = the bound on the
  // rounding error of row_sum[i] and of out's row that the row's error
  // accounting starts from (numerics.hpp), and out = A[i0 : i0 + count, :]
  // * V for an n_kv x V.cols matrix V of either layout (out is column-major
  // with leading dimension ldo). shift, row_sum, err and out
  // point at the entries of row i0. Returns a row whose visible logits are
  // not finite or exceed `limit` in magnitude, or -1 when all are
  // acceptable. A failure leaves the rows' state unusable
  // (other rows may have been recomputed already): init reports it, and a recomputation
  // of rows that updates validated recovers row by row
  // (DynamicAttention::refresh_rows). Large computations run on the
  // process's helper team (worker_team.hpp), which never allocates.
  virtual int64_t compute_rows_and_multiply(int64_t i0, int64_t count, const Matrix &Q,
                                            const Matrix &K, double scale, double limit,
                                            double *shift, double *row_sum, double *err,
                                            const ConstView &V, double *out, int64_t ldo) = 0;

  // Make `logits` (n_kv values, of which the first mask.key_end(i) are read)
  // the logits of query row i, already validated by the caller: *shift = the
  // largest of them, A[i, :] = exp(logits - *shift), *row_sum = sum_c A[i, c]
  // (compensated), *err as compute_rows_and_multiply's, and out[j * ldo] =
  // (A[i, :] V)[j] for the n_kv x V.cols matrix V, from the same entries of
  // A. Used when Q[i, :] changes; cannot fail.
  virtual void commit_query_row(int64_t i, const double *logits, double *shift, double *row_sum,
                                double *err, const ConstView &V, double *out, int64_t ldo) = 0;

  // out = A[i0 : i0 + count, :] * V for an n_kv x V.cols matrix V; out is
  // column-major with leading dimension ldo and points at the output's row
  // i0. Not for concurrent use (a store may use scratch).
  virtual void multiply_rows(const KernelOperands &ops, int64_t i0, int64_t count,
                             const ConstView &V, double *out, int64_t ldo) = 0;

  // The store's own column c of A (n_q entries, 0 in masked rows), which a
  // key update changes in place (kern::key_scale), or null for a store that
  // does not keep A (a key update then recomputes the column from logits,
  // kern::key_column).
  virtual double *kept_column(int64_t c) = 0;

  // A[i, c] (0 when masked). Safe to call concurrently: no scratch, no
  // allocation.
  virtual double entry(const KernelOperands &ops, int64_t i, int64_t c) const = 0;

  // out[t] = A[i, cols[t]] for t in [0, count), bit for bit what entry()
  // returns. Safe to call concurrently, like entry(); a store that can
  // exponentiate the entries together overrides this loop.
  virtual void row_entries(const KernelOperands &ops, int64_t i, const int64_t *cols, int64_t count,
                           double *out) const {
    for (int64_t t = 0; t < count; ++t) out[t] = entry(ops, i, cols[t]);
  }

  // out[t] = A[i0 + t, c] for t in [0, count) (0 in masked rows). Safe to
  // call concurrently with distinct out, like entry().
  virtual void copy_column(const KernelOperands &ops, int64_t c, int64_t i0, int64_t count,
                           double *out) const = 0;

  // out[:, t] = A[:, cols[t]] for t in [0, count): n_q x count, column-major
  // with leading dimension ldo (the fold's pending value rows; out is a
  // library buffer, so it holds no NaN that a product with beta = 0 could
  // keep). A store that computes columns from Q K^T takes them together, in
  // a matrix product that reads Q once. Not for concurrent use (a store may
  // use scratch).
  virtual void copy_columns(const KernelOperands &ops, const int64_t *cols, int64_t count,
                            double *out, int64_t ldo) {
    for (int64_t t = 0; t < count; ++t) copy_column(ops, cols[t], 0, ops.Q.rows(), out + t * ldo);
  }

  // A store that keeps no A returns f > 0: an entry a key update
  // recomputes as a_old may differ from the one the row's D and C0 were
  // built with by at most f * u * |scale| * |q_i|_2 * |k_c|_2 * a_old
  // (relative rounding of a d_k term dot product), which the caller charges
  // to the row's error bound.
  virtual double recompute_error_factor() const { return 0.0; }

  // Bytes held by the store.
  virtual int64_t bytes() const = 0;

  // Which att_storage this is (statistics, and the saved state's section tag).
  virtual att_storage kind() const = 0;

  // A deep copy, bit-identical in every entry.
  virtual std::unique_ptr<KernelStore> clone() const = 0;

  // Write the store's section of a saved state (docs/FORMAT.md): whatever it
  // needs so that load() on a store built with the same shape and mask
  // restores it bit-identically. load() reads a section written in format
  // `version`, after everything but the store has been loaded (ops holds the
  // saved Q, K and shifts); it must check every size against in.remaining()
  // before allocating, and throws Error(ATT_E_CORRUPT) on data it cannot
  // accept.
  virtual void save(ser::Writer &out) const = 0;
  virtual void load(ser::Reader &in, uint32_t version, const KernelOperands &ops) = 0;
};

}  // namespace att
