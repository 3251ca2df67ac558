// The lazily maintained attention product: the paper's DynamicAttention data
// structure (Algorithms 1-5), with the pending key terms its Algorithm 4
// omits, per-row shifted exponentials and a per-row running error bound.
//
// State after the last fold (docs/NUMERICS.md, "What is stored"):
//   V0          V as of the last fold
//   C0          A V0 up to the pending key terms (C0 = A0 V0 after a fold)
//   A, M        kept eagerly current in the kernel store
//   D           row sums of A, kept eagerly current (compensated)
//   pending     p terms, column x of P (n_q) times row x of R (d_v):
//     key row c_t:   P[:, x] = dA_t, the summed change of A[:, c_t] since
//                    the fold, and R[x, :] = V0[c_t, :]
//     value row r_s: R[x, :] = (V - V0)[r_s, :], whose weight is the
//                    current kernel column A[:, r_s], read from the store
// so that  B[i, j] = (C0[i, j] + sum_{key x} P[i, x] R[x, j]
//                              + sum_{value x} A[i, r_s] R[x, j]) / D[i].
// Using V - V0 rather than the individual deltas means a value that rises
// and falls back between folds cancels exactly instead of leaving the
// rounding error of its peak; entries of a pending row that did not change
// contribute exactly 0. A query is one dot product over the pending range:
// P for the key terms, and for each value term with a non-zero entry in the
// queried column, one entry of A from the store. A value update is therefore
// O(1); P's value columns are the fold's scratch, where it gathers the
// kernel columns of the value rows it applies.
//
// Layout of P and R: with S = min(k, n_kv) slots per kind, key slot t sits at
// x = S - 1 - t and value slot s at x = S + s, so the pending terms always
// occupy the one contiguous range [S - #keys, S + #values) that a query sums
// and a fold multiplies in one matrix product.
//
// The invariant every operation keeps, row by row: for each query row i,
//   (I1) C0[i, :] + sum_t dA_t[i] V0[c_t, :] = A[i, :] V0   (up to rounding)
//   (I2) D[i] = sum_c A[i, c],  A[i, c] = exp(M[i, c] - shift[i])
//   (I3) a pending value row r_s weighs R[x, :] by A[i, r_s], the current
//        entry of the store, whatever changed A since r_s became pending
// A change of Q[i, :] (update_q, set_row of Q) recomputes row i of M, A and D
// from scratch and sets C0[i, :] = A[i, :] V0 and dA_t[i] = 0 for every t,
// which restores (I1) and (I2) for row i without touching any other row;
// (I3) holds by construction, since the value terms' weights are never
// copied out of the store between folds.
//
// Causal masking (KeyMask): A[i, c] = 0 exactly for keys row i does not see;
// a key update to row c touches only the rows [mask.first_row(c), n_q), and
// the pending column dA_t is 0 above that range.
//
// When to fold is the strategy's decision (fold_due()): the lazy strategy
// folds when k key or k value changes are pending, the eager one after every
// change, and the adaptive one also when the pending terms have cost the
// queries since the last fold as much as a fold would (see
// adaptive_fold_threshold() in attention.cpp and docs/PERFORMANCE.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "buffer.hpp"
#include "config.hpp"
#include "dynattn.h"
#include "kernel_store.hpp"
#include "matrix_view.hpp"

namespace att {

class BatchPlan;
namespace ser {
struct StateCodec;
}

// counter += by, stopping at INT64_MAX (att_stat's counters; a loaded state
// may start them anywhere in [0, INT64_MAX]). by >= 0.
inline void add_count(int64_t &counter, int64_t by = 1) {
  counter = by > INT64_MAX - counter ? INT64_MAX : counter + by;
}

struct Shape {
  int64_t n_q;   // query rows (rows of Q, B)
  int64_t n_kv;  // key/value rows (rows of K, V)
  int64_t d_k;   // key width (columns of Q, K)
  int64_t d_v;   // value width (columns of V, B)
};

// A caller's input to the constructor, with its layout as the caller passed
// it (validated by the constructor, whose status codes for a bad layout or
// leading dimension are those of att_init_general): element [i][j] at
// data[i * ld + j] (row-major) or data[i + j * ld] (column-major). The
// one-shot functions' views are ConstView (matrix_view.hpp).
struct InputMatrix {
  const double *data;
  att_layout layout;
  int64_t ld;
};

class DynamicAttention {
 public:
  // Throws Error on invalid input and std::bad_alloc when memory runs out.
  DynamicAttention(Shape shape, InputMatrix Q, InputMatrix K, InputMatrix V, const Config &config);
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
  att_strategy strategy() const { return strategy_; }

 private:
  friend struct ser::StateCodec;

  // Allocates every buffer for the shape without computing anything (the
  // first step of both constructors and of loading a saved state).
  // storage is ATT_STORAGE_DENSE or ATT_STORAGE_STREAMED.
  DynamicAttention(Shape shape, double scale, int64_t lazy_limit, KeyMask mask, att_storage storage,
                   att_strategy strategy);
  static Shape checked_shape(Shape shape, const InputMatrix &Q, const InputMatrix &K,
                             const InputMatrix &V, const Config &config);
  // The configuration's buffers for a shape that checked_shape() accepted.
  DynamicAttention(const Shape &checked, const Config &config);
  // The store a configuration asks for, ATT_STORAGE_AUTO resolved (a
  // checked shape).
  static att_storage resolve_storage(const Shape &shape, const Config &config);

  KernelOperands operands() const { return KernelOperands{Q_, K_, scale_, shift_.data()}; }
  ConstView v0_view() const {
    return ConstView{V0_.data(), V0_.rows(), V0_.cols(), V0_.ld(), true};
  }
  // query_norm_[i] = |Q[i, :]|_2 for rows [i0, i0 + count), and query_norm_max_.
  void compute_query_norms(int64_t i0, int64_t count);

  int64_t compute_rows(int64_t i0, int64_t count, double limit);
  void refresh_rows(int64_t i0, int64_t count);
  void exact_logits(int64_t row, double *out) const;
  void reset_rows(int64_t i0, int64_t count);
  void refresh_flagged();
  void sweep(int64_t passes);
  void fold_product(int64_t x0, int64_t width);
  void fold_sparse_rows(int64_t first, int64_t n_columns);
  void rescale_value_columns();
  bool column_falls(int64_t row, int64_t j, double value) const;
  bool value_row_falls(int64_t row, const double *v) const;

  // Columns (of P) and rows (of R) of pending slots, and the pending range.
  int64_t key_column(int64_t t) const { return slots_ - 1 - t; }
  int64_t value_column(int64_t s) const { return slots_ + s; }
  int64_t pending_begin() const { return slots_ - n_key_cols_; }
  int64_t pending_end() const { return slots_ + n_value_rows_; }
  // Fold when the strategy says so; called after every K or V change.
  bool fold_due() const;
  void fold_if_due();
  // Record work a query did on `units` pending-term reads (adaptive only).
  void charge_queries(int64_t units) const;
  void swap_value_slots(int64_t a, int64_t b);
  // w[t] = the weight of pending term x0 + t in query row `row`, t < len:
  // P[row, x] for key terms, A[row, r_s] from the store for value terms.
  void pending_weights(int64_t row, int64_t x0, int64_t len, double *w) const;
  // Row x of R for key slot t (V0 of its key row) and for value slot s
  // (V - V0 of its value row).
  void fill_key_rhs(int64_t t);
  void fill_value_rhs(int64_t s);
  void set_value_change(int64_t s, int64_t j);

  // What changing row `row` of Q or K to v (contiguous values) does to the
  // logits: Q's new logits, or for K the change of its column's logits in
  // the form the store applies (see attention.cpp). Validated when `check`,
  // else clamped.
  void propose_row(att_matrix which, int64_t row, const double *v, double *out, bool check);
  static void clamp_logits(double *logits, int64_t lo, int64_t hi);
  // A batch's two phases (batch): check_batch finds the runs' new values and
  // validates them, throwing for the first bad entry in call order;
  // apply_batch applies them and cannot fail. batch_row is a changed row's
  // new contents, and norms_vouch whether a batch can validate them without
  // their logits.
  void check_batch(att_matrix which, BatchPlan &plan, const double *values, bool set);
  void apply_batch(att_matrix which, const BatchPlan &plan);
  const double *batch_row(const Matrix &m, const BatchPlan &plan, int64_t r0, int64_t r1);
  bool norms_vouch(att_matrix which, int64_t row, const double *v, double key_bound_max) const;
  void check_key_logits(int64_t row, const double *logits, const char *what) const;
  // Key validation without logits (a store that keeps A, and batches): the
  // norms' bound (query_norm_max_, key_bound_), and the fresh logits when it
  // cannot vouch.
  bool keeps_kernel() const { return store_->kept_column(0) != nullptr; }
  void bound_keys();
  void bound_key(int64_t row);
  void raise_key_bound(int64_t row, double scaled_delta);
  bool key_certain(double bound) const;
  void check_new_key(int64_t row, const double *k, const char *what);
  void recompute_key_logits(int64_t row, const double *k, double *out) const;
  // Apply validated changes (they never fail): a row of Q; a key row, whose
  // column a store that keeps A scales (apply_kept_column, with
  // revive_entries for entries that had underflowed), or computes afresh
  // for a row change that changes many entries or whose increments could
  // round too much (replace_kept_column, fresh_key_logits), and one that
  // does not recomputes from logits (apply_recomputed_column, after
  // remember_old_key, which propose_row has made for a row change; its new
  // logits are computed from the new key when the change cancels,
  // change_cancels, or fresh_key_logits); key_term and finish_key_update
  // are the first and last steps of all.
  void apply_query_row(int64_t row, const double *logits);
  void apply_key_row(int64_t row, const double *v, const double *change);
  void apply_kept_column(int64_t row, double s, const double *q, double drift);
  void replace_kept_column(int64_t row, const double *k);
  double increment_error(int64_t row, const double *v, int64_t changed) const;
  bool fresh_key_logits(int64_t row, const double *v, double *increments = nullptr) const;
  int64_t changed_entries(int64_t row, const double *v) const;
  bool change_cancels(const double *k_old, const double *k_new) const;
  kern::KeyBooks books(int64_t i, double *delta, bool accumulate);
  bool stream_terms() const;
  int64_t revive_entries(int64_t row, double *a, double *delta);
  void apply_recomputed_column(int64_t row, const double *logits);
  double *key_term(int64_t row, bool *pending);
  void finish_key_update(int64_t n_flagged);
  void remember_old_key(int64_t row);
  // A value change: take_value_slot, change_value_entry per changed entry
  // (or fill_value_rhs for a whole row), then finish_value_change.
  int64_t take_value_slot(int64_t row);
  bool change_value_entry(int64_t slot, int64_t row, int64_t col, double x);
  void finish_value_change(bool fell);
  void key_entry(int64_t row, int64_t col, double k_new);
  double check_key_entry(int64_t row, int64_t col, double k_new);
  void apply_key_entry(int64_t row, int64_t col, double k_new, double scaled_delta);
  const double *row_with(const Matrix &m, int64_t row, int64_t col, double value);
  const Matrix &input(att_matrix which) const;
  double entry_plus(att_matrix which, int64_t row, int64_t col, double delta) const;

  Shape shape_;
  double scale_;
  int64_t lazy_limit_;
  KeyMask mask_;
  att_strategy strategy_;
  std::unique_ptr<KernelStore> store_;

  Matrix Q_, K_, V_;
  // Row-major: a key row that becomes pending copies its row (fill_key_rhs).
  RowMatrix V0_;
  Matrix C0_;
  // Per query row: shift, normalizer D = d_hi + d_lo, error bound.
  Array<double> shift_, d_hi_, d_lo_, err_;
  // Per query row: |Q[i, :]|_2, for the streamed store's recomputation
  // charge, and query_norm_max_ the largest of them. Per key row:
  // key_bound_[c] >= |scale| |K[c, :]|_2 (exact when the row is set whole,
  // raised by |scale * delta| by an entry's change, raise_key_bound). Their
  // product bounds every logit of key c (key_certain, norms_vouch).
  Array<double> query_norm_;
  double query_norm_max_ = 0.0;
  Array<double> key_bound_;

  // Pending terms (see the top of this file): P = pending_a_ (n_q x 2S, its
  // rows padded with zeros to kern::panel_rows(n_q) for the fold's product;
  // its value columns are the fold's scratch), R = pending_r_ (2S x d_v). Key
  // slot t holds the key row pending_key_[t] (key_slot_ maps a key row to
  // its slot, -1 when none); n_key_updates_ counts key changes towards the
  // lazy limit (an entry or a whole row: 1). Value slot s holds the value
  // row pending_value_[s] (value_slot_ the inverse map); n_value_updates_
  // counts value changes.
  int64_t slots_ = 0;
  Matrix pending_a_, pending_r_;
  Array<int64_t> pending_key_, key_slot_;
  int64_t n_key_cols_ = 0;
  int64_t n_key_updates_ = 0;
  Array<int64_t> pending_value_, value_slot_;
  // The fold's scratch: changed entries per value slot, then (fold_sparse_rows)
  // each sparse slot's place in the order its kernel column is charged.
  Array<int64_t> value_changes_;
  // fold_sparse_rows' scratch: the sparse rows' kernel columns (slots_), the
  // same in the order they are charged (slots_), then those that change one
  // column of C0 (slots_), with their coefficients.
  Array<const double *> fold_columns_;
  Array<double> fold_coefficients_;
  // The fold's scratch: the columns of V its value rows change, ascending.
  Array<int64_t> changed_columns_;
  int64_t n_value_rows_ = 0;
  int64_t n_value_updates_ = 0;

  // The adaptive strategy: pending-term reads by queries since the last fold
  // (queries are const and may run concurrently, hence relaxed atomic
  // loads and stores; a lost increment only delays a fold), and the count at
  // which a fold pays for itself.
  mutable std::atomic<int64_t> query_work_{0};
  int64_t fold_threshold_ = 0;

  // Per value column: the largest |V| that has entered C0's column since it
  // was last computed from scratch. C0's rounding error scales with it, so a
  // column whose current largest |V| falls far below it is recomputed.
  Array<double> value_scale_;
  // Per value column: a pending value term has changed it since the last
  // fold (every column that holds a non-zero of R's value rows is marked),
  // so the fold walks only these columns, and checks their scale.
  Array<unsigned char> column_touched_;

  // Update scratch.
  // old_key_ and old_logits_: a key row before its change and its logits
  // (remember_old_key), for a store that keeps no A.
  Array<double> logits_, old_logits_, row_logits_, vec_, old_key_;
  Array<double> ones_;  // slots_ ones: the fold sums value columns with dgemv
  Array<unsigned char> flagged_;

  double sweep_credit_ = 0.0;  // rows the background sweep owes
  int64_t sweep_next_ = 0;     // next row of the round-robin sweep

  // Statistics (att_stat): applied changes of Q, K, V; folds; rows and value
  // columns recomputed by the numerics.
  int64_t updates_[3] = {0, 0, 0};
  int64_t folds_ = 0;
  int64_t rows_recomputed_ = 0;
  int64_t columns_recomputed_ = 0;
};

}  // namespace att
