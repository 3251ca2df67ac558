// The dense kernel store: the kernel A = exp(M - shift) as one n_q x n_kv
// column-major matrix, the paper's Algorithm 1 member A (masked entries 0).
// A key update scales its column in place, A[:, c] *= exp(s * delta *
// Q[:, j]) (kern::key_scale): one exponential per row, and the A it
// subtracts is exactly the A that the rows' D and C0 were built with. The
// logits M are not kept: init and row recomputations form them block by
// block with the streamed store's tiles (SoftmaxTiles::compute_kept), which
// also multiply them by V.
#pragma once

#include <algorithm>

#include "kernel_store.hpp"
#include "softmax_tiles.hpp"

namespace att {

class DenseStore final : public KernelStore {
 public:
  // Rows of A multiplied by V at once (multiply_rows): enough for dgemm to
  // run at full speed.
  static constexpr int64_t kBlockRows = 256;

  DenseStore(int64_t n_q, int64_t n_kv, int64_t d_k, KeyMask mask);

  // Bytes DenseStore(n_q, n_kv, d_k) would hold now, for dimensions from 1
  // to INT32_MAX, in long double (n_q n_kv doubles may pass INT64_MAX bytes).
  static long double bytes_for(int64_t n_q, int64_t n_kv, int64_t d_k);

  int64_t compute_rows_and_multiply(int64_t i0, int64_t count, const Matrix &Q, const Matrix &K,
                                    double scale, double limit, double *shift, double *row_sum,
                                    double *err, const ConstView &V, double *out,
                                    int64_t ldo) override;
  void commit_query_row(int64_t i, const double *logits, double *shift, double *row_sum,
                        double *err, const ConstView &V, double *out, int64_t ldo) override;
  void multiply_rows(const KernelOperands &ops, int64_t i0, int64_t count, const ConstView &V,
                     double *out, int64_t ldo) override;
  double *kept_column(int64_t c) override { return A_.col(c); }
  double entry(const KernelOperands &ops, int64_t i, int64_t c) const override;
  void row_entries(const KernelOperands &ops, int64_t i, const int64_t *cols, int64_t count,
                   double *out) const override;
  void copy_column(const KernelOperands &ops, int64_t c, int64_t i0, int64_t count,
                   double *out) const override;
  int64_t bytes() const override;
  att_storage kind() const override { return ATT_STORAGE_DENSE; }
  std::unique_ptr<KernelStore> clone() const override;
  void save(ser::Writer &out) const override;
  void load(ser::Reader &in, uint32_t version, const KernelOperands &ops) override;

 private:
  DenseStore(const DenseStore &other);

  static int64_t rows_per_block(int64_t n_q) { return std::min(kBlockRows, n_q); }
  void multiply_rows_of_a(int64_t i, int64_t rows, int64_t keys, const ConstView &V, double *out,
                          int64_t ldo) const;
  // Logits M of a saved state older than format version 4, n_q x n_kv
  // column-major: checked, and exponentiated into A.
  void load_logits(ser::Reader &in, const KernelOperands &ops);

  int64_t d_k_;
  KeyMask mask_;
  Matrix A_;                   // exp(M - shift); masked entries are 0
  SoftmaxTiles tiles_;         // init's and the row recomputations' products
  Array<double> row_scratch_;  // n_kv: commit_query_row's kernel row
};

}  // namespace att
