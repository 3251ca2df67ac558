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
//   pending V   distinct cells (r_s, j_s) with V != V0 there:
//               C[:, j_s] += A[:, r_s] (V - V0)[r_s, j_s] with the current A
// so that  B[i, j] = (C0[i, j] + sum_t dA_t[i] V0[c_t, j]
//                     + sum_{s: j_s = j} A[i, r_s] (V - V0)[r_s, j]) / D[i].
// Using V - V0 rather than the individual deltas means a value that rises
// and falls back between folds cancels exactly instead of leaving the
// rounding error of its peak.
#pragma once

#include <cstdint>
#include <memory>

#include "buffer.hpp"
#include "config.hpp"
#include "kernel_store.hpp"

namespace att {

struct Shape {
  int64_t n_q;   // query rows (rows of Q, B)
  int64_t n_kv;  // key/value rows (rows of K, V)
  int64_t d_k;   // key width (columns of Q, K)
  int64_t d_v;   // value width (columns of V, B)
};

class DynamicAttention {
 public:
  // Q (n_q x d_k), K (n_kv x d_k), V (n_kv x d_v) are row-major input arrays.
  // Throws Error on invalid input and std::bad_alloc when memory runs out.
  DynamicAttention(Shape shape, const double *Q, const double *K, const double *V,
                   const Config &config);

  void update_k(int64_t row, int64_t col, double delta);
  void update_v(int64_t row, int64_t col, double delta);
  double query(int64_t row, int64_t col) const;

  // Fold every pending term into C0 (paper Algorithm 5).
  void fold();

  const Shape &shape() const { return shape_; }
  int64_t lazy_limit() const { return lazy_limit_; }

 private:
  int64_t refresh_rows(int64_t i0, int64_t count);
  void refresh_flagged();
  void sweep();
  void rescale_value_columns();

  Shape shape_;
  double scale_;
  int64_t lazy_limit_;
  std::unique_ptr<KernelStore> store_;

  Matrix Q_, K_, V_, V0_, C0_;
  // Per query row: shift, normalizer D = d_hi + d_lo, error bound.
  Array<double> shift_, d_hi_, d_lo_, err_;

  // Pending key terms: columns 0..n_key_cols_-1 of pending_a_ hold the summed
  // dA of all pending updates to key row pending_key_[t] (key_slot_ maps a
  // key row to its column, -1 when none), so there are at most n_kv of them.
  // Columns from n_key_cols_ on are scratch for the fold. n_key_updates_
  // counts updates towards the lazy limit.
  Matrix pending_a_;
  Array<int64_t> pending_key_, key_slot_;
  int64_t n_key_cols_ = 0;
  int64_t n_key_updates_ = 0;

  // Pending value terms: distinct cells, marked in pending_v_mark_ (n_kv x
  // d_v, column-major). n_value_updates_ counts updates towards the limit.
  Array<int64_t> pending_v_row_, pending_v_col_;
  Array<unsigned char> pending_v_mark_;
  int64_t n_value_cells_ = 0;
  int64_t n_value_updates_ = 0;

  // Per value column: the largest |V| that has entered C0's column since it
  // was last computed from scratch. C0's rounding error scales with it, so a
  // column whose current largest |V| falls far below it is recomputed.
  Array<double> value_scale_;
  Array<unsigned char> column_touched_;

  // Fold scratch: the stacked right-hand side, distinct value rows and a
  // row -> slot map (-1 when free).
  Matrix fold_rhs_;
  Array<int64_t> fold_rows_, fold_slot_;

  // Update scratch.
  Array<double> logits_, a_new_, delta_a_;
  Array<unsigned char> flagged_;

  int64_t sweep_rows_ = 1;  // rows recomputed per fold
  int64_t sweep_next_ = 0;  // next row of the round-robin sweep
};

}  // namespace att
