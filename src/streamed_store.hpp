// The streamed kernel store: keeps neither the logits nor A. Entries,
// columns and row blocks of A are computed from Q K^T when asked for (row
// blocks with dgemm in SoftmaxTiles' tiles, so no n_q x n_kv temporary ever
// exists). Memory is one tile plus O(n_q + n_kv) doubles.
// Every recomputation is a fixed sequence of BLAS and vector-kernel calls on
// the same inputs, so it is deterministic for a given OpenBLAS build and
// thread count: a saved state loads back answering bit-identically.
// Costs are those of the dense store plus a matrix-vector product with Q per
// key-column change, a matrix product with Q for the value rows of a fold,
// and the exponentials of a row block each time its product with V is
// needed.
#pragma once

#include "kernel_store.hpp"
#include "softmax_tiles.hpp"

namespace att {

class StreamedStore final : public KernelStore {
 public:
  StreamedStore(int64_t n_q, int64_t n_kv, int64_t d_k, KeyMask mask);

  int64_t compute_rows_and_multiply(int64_t i0, int64_t count, const Matrix &Q, const Matrix &K,
                                    double scale, double limit, double *shift, double *row_sum,
                                    double *err, const ConstView &V, double *out,
                                    int64_t ldo) override;
  void commit_query_row(int64_t i, const double *logits, double *shift, double *row_sum,
                        double *err, const ConstView &V, double *out, int64_t ldo) override;
  void multiply_rows(const KernelOperands &ops, int64_t i0, int64_t count, const ConstView &V,
                     double *out, int64_t ldo) override;
  double *kept_column(int64_t) override { return nullptr; }
  double entry(const KernelOperands &ops, int64_t i, int64_t c) const override;
  void copy_column(const KernelOperands &ops, int64_t c, int64_t i0, int64_t count,
                   double *out) const override;
  void copy_columns(const KernelOperands &ops, const int64_t *cols, int64_t count, double *out,
                    int64_t ldo) override;
  double recompute_error_factor() const override { return static_cast<double>(d_k_ + 2); }
  int64_t bytes() const override;
  att_storage kind() const override { return ATT_STORAGE_STREAMED; }
  std::unique_ptr<KernelStore> clone() const override;
  void save(ser::Writer &out) const override;
  void load(ser::Reader &in, uint32_t version, const KernelOperands &ops) override;

 private:
  int64_t n_q_, n_kv_, d_k_;
  KeyMask mask_;
  SoftmaxTiles tiles_;         // row blocks of A V
  Array<double> row_scratch_;  // n_kv: commit_query_row's kernel row
  // copy_columns' key rows, kColumnBlock x d_k (column-major).
  static constexpr int64_t kColumnBlock = 64;
  Array<double> key_block_;
};

}  // namespace att
