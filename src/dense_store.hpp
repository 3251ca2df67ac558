// The dense kernel store: the logits M as one n_q x n_kv column-major
// matrix, the paper's Algorithm 1 member M. Its member A = exp(M - shift) is
// not stored: every entry, column or row block of A is computed from M when
// asked for, with the same vector exponential everywhere, so the A a key
// update subtracts is bit for bit the A that the rows' D and C0 were built
// with. Keeping one n x n matrix instead of two halves the memory and the
// first-touch cost of init, and costs a key update one more column of
// exponentials in exchange for not reading and writing a column of A.
#pragma once

#include "kernel_store.hpp"

namespace att {

class DenseStore final : public KernelStore {
 public:
  // A block of A computed at once for a product with V: at most kBlockRows
  // rows (enough for dgemm to run at full speed) and kBlockBytes, so that
  // the block stays a fraction of the logits it is computed from.
  static constexpr int64_t kBlockRows = 256;
  static constexpr int64_t kBlockBytes = int64_t{8} << 20;

  DenseStore(int64_t n_q, int64_t n_kv, KeyMask mask);

  // Bytes DenseStore(n_q, n_kv) will hold; the caller has checked that the
  // products cannot overflow.
  static int64_t bytes_for(int64_t n_q, int64_t n_kv);

  int64_t compute_rows_and_multiply(int64_t i0, int64_t count, const Matrix &Q, const Matrix &K,
                                    double scale, double limit, double *shift, double *row_sum,
                                    double *err, const ConstView &V, double *out,
                                    int64_t ldo) override;
  void commit_query_row(int64_t i, const double *logits, double *shift, double *row_sum,
                        double *err, const ConstView &V, double *out, int64_t ldo) override;
  void multiply_rows(const KernelOperands &ops, int64_t i0, int64_t count, const ConstView &V,
                     double *out, int64_t ldo) override;
  bool propose_key_column(const KernelOperands &ops, int64_t c, int64_t j, double scaled_delta,
                          double *out) const override;
  double *key_logits(const KernelOperands &ops, int64_t c, const double *k_old,
                     bool proposed) override;
  double entry(const KernelOperands &ops, int64_t i, int64_t c) const override;
  void row_entries(const KernelOperands &ops, int64_t i, const int64_t *cols, int64_t count,
                   double *out) const override;
  void copy_column(const KernelOperands &ops, int64_t c, int64_t i0, int64_t count,
                   double *out) const override;
  double logit_drift_factor() const override { return num::kDriftCharge; }
  int64_t bytes() const override { return bytes_for(M_.rows(), M_.cols()); }
  att_storage kind() const override { return ATT_STORAGE_DENSE; }
  std::unique_ptr<KernelStore> clone() const override;
  void save(ser::Writer &out) const override;
  void load(ser::Reader &in, uint32_t version, const KernelOperands &ops) override;

 private:
  DenseStore(const DenseStore &other);

  // Rows of A per block (block_ is block_rows_ x n_kv, column-major).
  static int64_t rows_per_block(int64_t n_q, int64_t n_kv);
  void multiply_block(int64_t rows, int64_t keys, const ConstView &V, double *out,
                      int64_t ldo) const;

  KeyMask mask_;
  Matrix M_;                       // scale * Q K^T; masked entries are 0 and never read
  Matrix block_;                   // a block of rows of A
  Array<double> sum_hi_, sum_lo_;  // compensated row sums of one block
  Array<double> row_scratch_;      // n_kv: commit_query_row's kernel row
};

}  // namespace att
