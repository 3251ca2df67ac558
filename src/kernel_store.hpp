// Storage of the attention kernel A = exp(M - shift) and its logits M,
// behind the operations the lazy structure needs. The dense store keeps both
// n_q x n_kv matrices; a store that computes entries from Q K^T on demand can
// implement the same interface without n^2 memory.
//
// Causal masking: every store is built with a KeyMask and honours it in every
// method. Masked entries of A are exactly 0, are never exponentiated and
// never counted in a row's shift, sum or validation; key-column methods read
// and write only the rows [mask.first_row(c), n_q) that see key c.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>

#include "buffer.hpp"
#include "dynattn.h"
#include "serialize.hpp"

namespace att {

// Query row i sees key c iff !causal or c <= i + offset, offset = n_kv - n_q
// (>= 0: causal masking needs n_q <= n_kv, checked at init and load).
struct KeyMask {
  bool causal = false;
  int64_t offset = 0;

  // First query row that sees key c.
  int64_t first_row(int64_t c) const { return causal ? std::max<int64_t>(0, c - offset) : 0; }
  // One past the last key that query row i sees.
  int64_t key_end(int64_t i, int64_t n_kv) const {
    return causal ? std::min<int64_t>(n_kv, i + offset + 1) : n_kv;
  }
};

class KernelStore {
 public:
  virtual ~KernelStore() = default;

  // Recompute rows [i0, i0 + count) from scratch: logits = scale * Q K^T,
  // shift[i] = the row's largest visible logit, A = exp(logits - shift), and
  // row_sum[i] = sum_c A[i, c] (compensated). shift and row_sum point at the
  // entry of row i0. Returns the first row whose visible logits are not
  // finite or exceed ATT_MAX_LOGIT in magnitude, or -1 when all are
  // acceptable.
  virtual int64_t compute_rows(int64_t i0, int64_t count, const Matrix &Q, const Matrix &K,
                               double scale, double *shift, double *row_sum) = 0;

  // Make `logits` (n_kv values, of which the first mask.key_end(i) are read)
  // the logits of query row i, already validated by the caller: *shift = the
  // largest of them, A[i, :] = exp(logits - *shift), *row_sum = sum_c A[i, c]
  // (compensated). Used when Q[i, :] changes; cannot fail.
  virtual void commit_query_row(int64_t i, const double *logits, double *shift,
                                double *row_sum) = 0;

  // out = A[i0 : i0 + count, :] * V for an n_kv x cols column-major V with
  // leading dimension ldv; out is column-major with leading dimension ldo and
  // points at the output's row i0.
  virtual void multiply_rows(int64_t i0, int64_t count, const double *V, int64_t ldv,
                             int64_t cols, double *out, int64_t ldo) const = 0;

  // The logits of key column c after K[c, j] += delta, without changing
  // anything: out[i] = M[i, c] + scaled_delta * Q[i, j] for the rows that see
  // key c.
  virtual void propose_key_column(int64_t c, int64_t j, double scaled_delta, const Matrix &Q,
                                  double *out) const = 0;

  // Make `logits` the logits of key column c. For every row i that sees key
  // c: the new a = exp(min(logits[i] - shift[i], headroom)) goes to
  // a_new[i], the change a - a_old to delta_a[i], and exceeded[i] = 1 when
  // logits[i] - shift[i] exceeds the headroom (the row must be re-shifted),
  // else 0. Entries of rows that do not see c are not written. Returns the
  // number of exceeded rows.
  virtual int64_t commit_key_column(int64_t c, const double *logits, const double *shift,
                                    double *a_new, double *delta_a,
                                    unsigned char *exceeded) = 0;

  // A[i, c] as currently stored (0 when masked).
  virtual double entry(int64_t i, int64_t c) const = 0;

  // out[0 : n_q] = A[:, c] (0 in masked rows).
  virtual void copy_column(int64_t c, double *out) const = 0;

  // Bytes held by the store.
  virtual int64_t bytes() const = 0;

  // Which att_storage this is (statistics, and the saved state's section tag).
  virtual att_storage kind() const = 0;

  // A deep copy, bit-identical in every entry.
  virtual std::unique_ptr<KernelStore> clone() const = 0;

  // Write the store's section of a saved state (docs/FORMAT.md): whatever it
  // needs so that load() on a store built with the same shape and mask
  // restores it bit-identically. load() must check every size against
  // in.remaining() before allocating, and throws Error(ATT_E_CORRUPT) on
  // data it cannot accept.
  virtual void save(ser::Writer &out) const = 0;
  virtual void load(ser::Reader &in) = 0;
};

}  // namespace att
