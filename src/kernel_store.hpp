// Storage of the attention kernel A = exp(M - shift) and its logits M,
// behind the operations the lazy structure needs. The dense store keeps both
// n_q x n_kv matrices; a store that computes entries from Q K^T on demand can
// implement the same interface without n^2 memory.
#pragma once

#include <cstdint>

#include "buffer.hpp"

namespace att {

class KernelStore {
 public:
  virtual ~KernelStore() = default;

  // Recompute rows [i0, i0 + count) from scratch: logits = scale * Q K^T,
  // shift[i] = the row's largest logit, A = exp(logits - shift), and
  // row_sum[i] = sum_c A[i, c] (compensated). shift and row_sum point at the
  // entry of row i0. Returns the first row whose logits are not finite or
  // exceed ATT_MAX_LOGIT in magnitude, or -1 when all are acceptable.
  virtual int64_t compute_rows(int64_t i0, int64_t count, const Matrix &Q, const Matrix &K,
                               double scale, double *shift, double *row_sum) = 0;

  // out = A[i0 : i0 + count, :] * V for an n_kv x cols column-major V with
  // leading dimension ldv; out is column-major with leading dimension ldo and
  // points at the output's row i0.
  virtual void multiply_rows(int64_t i0, int64_t count, const double *V, int64_t ldv,
                             int64_t cols, double *out, int64_t ldo) const = 0;

  // The logits of key column c after K[c, j] += delta, without changing
  // anything: out[i] = M[i, c] + scaled_delta * Q[i, j].
  virtual void propose_key_column(int64_t c, int64_t j, double scaled_delta, const Matrix &Q,
                                  double *out) const = 0;

  // Make `logits` the logits of key column c. For every row i: the new
  // a = exp(min(logits[i] - shift[i], headroom)) goes to a_new[i], the change
  // a - a_old to delta_a[i], and exceeded[i] = 1 when logits[i] - shift[i]
  // exceeds the headroom (the row must be re-shifted), else 0. Returns the
  // number of exceeded rows.
  virtual int64_t commit_key_column(int64_t c, const double *logits, const double *shift,
                                    double *a_new, double *delta_a,
                                    unsigned char *exceeded) = 0;

  // A[i, c] as currently stored.
  virtual double entry(int64_t i, int64_t c) const = 0;

  // out[0 : n_q] = A[:, c].
  virtual void copy_column(int64_t c, double *out) const = 0;

  // Bytes held by the store.
  virtual int64_t bytes() const = 0;
};

}  // namespace att
