// The lazily maintained attention product: the paper's DynamicAttention data
// structure (Algorithms 1-5), with the pending key terms its Algorithm 4
// omits, per-row shifted exponentials and a per-row running error bound.
//
// State after the last fold (DESIGN.md §2):
//   V0          V as of the last fold
//   C0          A V0 up to the pending key terms (C0 = A0 V0 after a fold)
//   A, M        kept eagerly current in the kernel store
//   D           row sums of A, kept eagerly current (compensated)
//   pending K   columns dA_t with key rows c_t: C += dA_t V0[c_t, :]
//   pending V   distinct rows r_s with V != V0 somewhere in the row:
//               C += A[:, r_s] (V - V0)[r_s, :] with the current A
// so that  B[i, j] = (C0[i, j] + sum_t dA_t[i] V0[c_t, j]
//                     + sum_s A[i, r_s] (V - V0)[r_s, j]) / D[i].
// Using V - V0 rather than the individual deltas means a value that rises
// and falls back between folds cancels exactly instead of leaving the
// rounding error of its peak; entries of a pending row that did not change
// contribute exactly 0.
//
// The invariant every operation keeps, row by row: for each query row i,
//   (I1) C0[i, :] + sum_t dA_t[i] V0[c_t, :] = A[i, :] V0   (up to rounding)
//   (I2) D[i] = sum_c A[i, c],  A[i, c] = exp(M[i, c] - shift[i])
// A change of Q[i, :] (update_q, set_row of Q) recomputes row i of M, A and D
// from scratch and sets C0[i, :] = A[i, :] V0 and dA_t[i] = 0 for every t,
// which restores (I1) and (I2) for row i without touching any other row.
// The value terms need no adjustment: they use the current A.
//
// Causal masking (KeyMask): A[i, c] = 0 exactly for keys row i does not see;
// a key update to row c touches only the rows [mask.first_row(c), n_q), and
// the pending column dA_t is 0 above that range.
#pragma once

#include <cstdint>
#include <memory>

#include "buffer.hpp"
#include "config.hpp"
#include "dynattn.h"
#include "kernel_store.hpp"

namespace att {

namespace ser {
struct StateCodec;
}

struct Shape {
  int64_t n_q;   // query rows (rows of Q, B)
  int64_t n_kv;  // key/value rows (rows of K, V)
  int64_t d_k;   // key width (columns of Q, K)
  int64_t d_v;   // value width (columns of V, B)
};

// A caller's matrix: element [i][j] at data[i * ld + j] (row-major) or
// data[i + j * ld] (column-major).
struct MatrixView {
  const double *data;
  att_layout layout;
  int64_t ld;
};

class DynamicAttention {
 public:
  // Throws Error on invalid input and std::bad_alloc when memory runs out.
  DynamicAttention(Shape shape, MatrixView Q, MatrixView K, MatrixView V, const Config &config);
  // A deep copy (att_clone).
  DynamicAttention(const DynamicAttention &other);
  DynamicAttention &operator=(const DynamicAttention &) = delete;

  void update_k(int64_t row, int64_t col, double delta);
  void update_v(int64_t row, int64_t col, double delta);
  void update_q(int64_t row, int64_t col, double delta);
  void set_entry(att_matrix which, int64_t row, int64_t col, double value);
  // row[t * inc], t in [0, width of `which`).
  void set_row(att_matrix which, int64_t row, const double *values, int64_t inc);
  // All-or-nothing batch: add (set = false) or assign (set = true).
  void batch(att_matrix which, int64_t count, const int64_t *rows, const int64_t *cols,
             const double *values, bool set);

  double query(int64_t row, int64_t col) const;
  // out[j * stride] = B[row, j] for j in [0, d_v).
  void query_row(int64_t row, double *out, int64_t stride) const;
  void query_rows(int64_t i0, int64_t count, att_layout layout, double *out, int64_t ld) const;
  void query_lse(int64_t i0, int64_t count, double *out) const;
  void read_matrix(att_matrix which, att_layout layout, double *out, int64_t ld) const;
  int64_t stat(att_stat_kind which) const;

  // Fold every pending term into C0 (paper Algorithm 5).
  void fold();

  const Shape &shape() const { return shape_; }
  int64_t lazy_limit() const { return lazy_limit_; }

 private:
  friend struct ser::StateCodec;

  // Allocates every buffer for the shape without computing anything (the
  // first step of both constructors and of loading a saved state).
  // storage is ATT_STORAGE_DENSE or ATT_STORAGE_STREAMED.
  DynamicAttention(Shape shape, double scale, int64_t lazy_limit, KeyMask mask,
                   att_storage storage);
  static Shape checked_shape(Shape shape, const MatrixView &Q, const MatrixView &K,
                             const MatrixView &V, const Config &config);
  // The store a configuration asks for, ATT_STORAGE_AUTO resolved.
  static att_storage resolve_storage(const Shape &shape, const Config &config);

  KernelOperands operands() const { return KernelOperands{Q_, K_, scale_, shift_.data()}; }
  // query_norm_[i] = |Q[i, :]|_2 for rows [i0, i0 + count).
  void compute_query_norms(int64_t i0, int64_t count);

  int64_t refresh_rows(int64_t i0, int64_t count);
  void reset_rows(int64_t i0, int64_t count);
  void refresh_flagged();
  void sweep();
  void rescale_value_columns();

  // The logits of query row `row` for the query vector q (d_k contiguous
  // values) into out[0 : mask.key_end(row)), validated.
  void propose_query_row(int64_t row, const double *q, double *out) const;
  // The logits of key column `row` for the key vector k, validated.
  void propose_key_row(int64_t row, const double *k, double *out) const;
  void check_key_logits(int64_t row, const double *logits, const char *what) const;
  // Apply validated logits: row of Q / column of K changed (never fails).
  void apply_query_row(int64_t row, const double *logits);
  // old_key_ holds the key row before the change.
  void apply_key_column(int64_t row, const double *logits);
  void record_value_change(int64_t row);
  void key_entry(int64_t row, int64_t col, double k_new, double scaled_delta);
  const Matrix &input(att_matrix which) const;
  int64_t width(att_matrix which) const;

  Shape shape_;
  double scale_;
  int64_t lazy_limit_;
  KeyMask mask_;
  std::unique_ptr<KernelStore> store_;

  Matrix Q_, K_, V_, V0_, C0_;
  // Per query row: shift, normalizer D = d_hi + d_lo, error bound.
  Array<double> shift_, d_hi_, d_lo_, err_;
  // Per query row: |Q[i, :]|_2, for the streamed store's recomputation charge.
  Array<double> query_norm_;

  // Pending key terms: columns 0..n_key_cols_-1 of pending_a_ hold the summed
  // dA of all pending updates to key row pending_key_[t] (key_slot_ maps a
  // key row to its column, -1 when none), so there are at most n_kv of them.
  // Columns from n_key_cols_ on are scratch for the fold. n_key_updates_
  // counts changes towards the lazy limit (an entry or a whole row: 1).
  Matrix pending_a_;
  Array<int64_t> pending_key_, key_slot_;
  int64_t n_key_cols_ = 0;
  int64_t n_key_updates_ = 0;

  // Pending value terms: distinct value rows, marked in value_pending_ (n_kv).
  // n_value_updates_ counts changes towards the limit.
  Array<int64_t> pending_value_;
  Array<unsigned char> value_pending_;
  int64_t n_value_rows_ = 0;
  int64_t n_value_updates_ = 0;

  // Per value column: the largest |V| that has entered C0's column since it
  // was last computed from scratch. C0's rounding error scales with it, so a
  // column whose current largest |V| falls far below it is recomputed.
  Array<double> value_scale_;
  Array<unsigned char> column_touched_;

  // Fold scratch: the stacked right-hand side.
  Matrix fold_rhs_;

  // Update scratch.
  Array<double> logits_, a_new_, delta_a_, row_logits_, vec_, old_key_;
  Array<unsigned char> flagged_;

  int64_t sweep_rows_ = 1;  // rows recomputed per fold
  int64_t sweep_next_ = 0;  // next row of the round-robin sweep

  // Statistics (att_stat): applied changes of Q, K, V; folds; rows and value
  // columns recomputed by the numerics.
  int64_t updates_[3] = {0, 0, 0};
  int64_t folds_ = 0;
  int64_t rows_recomputed_ = 0;
  int64_t columns_recomputed_ = 0;
};

}  // namespace att
