// The dense kernel store: the logits M and the kernel A as n_q x n_kv
// column-major matrices, as in the paper's Algorithm 1 (members M and A).
#pragma once

#include "kernel_store.hpp"

namespace att {

class DenseStore final : public KernelStore {
 public:
  DenseStore(int64_t n_q, int64_t n_kv, KeyMask mask);

  // Bytes DenseStore(n_q, n_kv) will hold; the caller has checked that the
  // products cannot overflow.
  static int64_t bytes_for(int64_t n_q, int64_t n_kv);

  int64_t compute_rows(int64_t i0, int64_t count, const Matrix &Q, const Matrix &K, double scale,
                       double *shift, double *row_sum) override;
  void commit_query_row(int64_t i, const double *logits, double *shift,
                        double *row_sum) override;
  void multiply_rows(const KernelOperands &ops, int64_t i0, int64_t count, const double *V,
                     int64_t ldv, int64_t cols, double *out, int64_t ldo) override;
  void propose_key_column(const KernelOperands &ops, int64_t c, int64_t j, double scaled_delta,
                          double *out) const override;
  int64_t commit_key_column(const KernelOperands &ops, int64_t c, const double *k_old,
                            const double *logits, double *a_new, double *delta_a,
                            unsigned char *exceeded) override;
  double entry(const KernelOperands &, int64_t i, int64_t c) const override { return A_(i, c); }
  void copy_column(const KernelOperands &ops, int64_t c, double *out) const override;
  int64_t bytes() const override { return bytes_for(A_.rows(), A_.cols()); }
  att_storage kind() const override { return ATT_STORAGE_DENSE; }
  std::unique_ptr<KernelStore> clone() const override;
  void save(ser::Writer &out) const override;
  void load(ser::Reader &in) override;

 private:
  DenseStore(const DenseStore &other);

  KeyMask mask_;
  Matrix M_;  // logits, scale * Q K^T (masked entries are 0 and never read)
  Matrix A_;  // exp(M - shift), row-wise shift; masked entries exactly 0
  Array<double> row_scratch_;  // n_q: per-row sums and their compensation
  Array<double> row_scratch2_;
};

}  // namespace att
