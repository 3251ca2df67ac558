#include "dense_store.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "blas.hpp"
#include "dynattn.h"
#include "kernels.hpp"
#include "numerics.hpp"

namespace att {

DenseStore::DenseStore(int64_t n_q, int64_t n_kv, KeyMask mask)
    : mask_(mask),
      M_(n_q, n_kv),
      A_(n_q, n_kv),
      row_scratch_(std::max(n_q, n_kv)),
      row_scratch2_(n_q) {}

DenseStore::DenseStore(const DenseStore &other)
    : KernelStore(),
      mask_(other.mask_),
      M_(other.M_.copy()),
      A_(other.A_.copy()),
      row_scratch_(other.row_scratch_.size()),
      row_scratch2_(other.row_scratch2_.size()) {}

std::unique_ptr<KernelStore> DenseStore::clone() const {
  return std::unique_ptr<KernelStore>(new DenseStore(*this));
}

int64_t DenseStore::bytes_for(int64_t n_q, int64_t n_kv) {
  return static_cast<int64_t>(sizeof(double)) * (2 * n_q * n_kv + std::max(n_q, n_kv) + n_q);
}

int64_t DenseStore::compute_rows(int64_t i0, int64_t count, const Matrix &Q, const Matrix &K,
                                 double scale, double *shift, double *row_sum) {
  const int64_t n_kv = A_.cols();
  const int64_t ld = A_.ld();
  blas::gemm(blas::Op::N, blas::Op::T, count, n_kv, Q.cols(), scale, Q.data() + i0, Q.ld(),
             K.data(), K.ld(), 0.0, M_.data() + i0, ld);

  // Validate and find each row's shift, walking columns so the inner loop is
  // over contiguous rows of the block. Rows of the block before `lo` do not
  // see key c: their entries are masked, set to 0 and never looked at.
  std::fill(shift, shift + count, -std::numeric_limits<double>::infinity());
  bool bad = false;
  for (int64_t c = 0; c < n_kv; ++c) {
    double *m = M_.col(c) + i0;
    const int64_t lo = std::min(count, std::max<int64_t>(0, mask_.first_row(c) - i0));
    std::fill(m, m + lo, 0.0);
    bad |= kern::running_max(m + lo, shift + lo, ATT_MAX_LOGIT, count - lo);
  }
  if (bad) {
    // Rare: find the first offending row (masked entries were zeroed).
    for (int64_t r = 0; r < count; ++r)
      for (int64_t c = 0; c < n_kv; ++c)
        if (!(std::fabs(M_(i0 + r, c)) <= ATT_MAX_LOGIT)) return i0 + r;
  }

  // A = exp(M - shift), summed with TwoSum so the row sum carries no
  // accumulated rounding (its error is one rounding of the result).
  double *hi = row_scratch_.data();
  double *lo_sum = row_scratch2_.data();
  std::fill(hi, hi + count, 0.0);
  std::fill(lo_sum, lo_sum + count, 0.0);
  for (int64_t c = 0; c < n_kv; ++c) {
    const double *m = M_.col(c) + i0;
    double *a = A_.col(c) + i0;
    const int64_t lo = std::min(count, std::max<int64_t>(0, mask_.first_row(c) - i0));
    std::fill(a, a + lo, 0.0);
    kern::exp_accumulate(m + lo, shift + lo, a + lo, hi + lo, lo_sum + lo, count - lo);
  }
  for (int64_t r = 0; r < count; ++r) row_sum[r] = hi[r] + lo_sum[r];
  return -1;
}

void DenseStore::commit_query_row(int64_t i, const double *logits, double *shift,
                                  double *row_sum) {
  const int64_t n_kv = A_.cols();
  const int64_t end = mask_.key_end(i, n_kv);
  bool unused = false;
  const double top = end > 0 ? kern::max_of(logits, HUGE_VAL, &unused, end)
                             : -std::numeric_limits<double>::infinity();
  double *a = row_scratch_.data();
  const double sum = kern::exp_sum(logits, top, a, end);
  for (int64_t c = 0; c < end; ++c) {
    M_(i, c) = logits[c];
    A_(i, c) = a[c];
  }
  for (int64_t c = end; c < n_kv; ++c) {
    M_(i, c) = 0.0;
    A_(i, c) = 0.0;
  }
  *shift = top;
  *row_sum = sum;
}

void DenseStore::multiply_rows(const KernelOperands &, int64_t i0, int64_t count,
                               const double *V, int64_t ldv, int64_t cols, double *out,
                               int64_t ldo) {
  blas::gemm(blas::Op::N, blas::Op::N, count, cols, A_.cols(), 1.0, A_.data() + i0, A_.ld(), V,
             ldv, 0.0, out, ldo);
}

void DenseStore::propose_key_column(const KernelOperands &ops, int64_t c, int64_t j,
                                    double scaled_delta, double *out) const {
  const double *m = M_.col(c);
  const double *q = ops.Q.col(j);
  const int64_t n = A_.rows();
  const int64_t lo = mask_.first_row(c);
  kern::axpy(m + lo, scaled_delta, q + lo, out + lo, n - lo);
}

int64_t DenseStore::commit_key_column(const KernelOperands &ops, int64_t c, const double *,
                                      const double *logits, double *a_new, double *delta_a,
                                      unsigned char *exceeded) {
  const double *shift = ops.shift;
  const int64_t n = A_.rows();
  const int64_t lo = mask_.first_row(c);
  double *m = M_.col(c);
  double *a = A_.col(c);
  const int64_t n_exceeded =
      kern::exp_column(logits + lo, shift + lo, a_new + lo, exceeded + lo, n - lo);
  kern::replace(a_new + lo, a + lo, delta_a + lo, n - lo);
  std::memcpy(m + lo, logits + lo, sizeof(double) * static_cast<size_t>(n - lo));
  return n_exceeded;
}

void DenseStore::copy_column(const KernelOperands &, int64_t c, double *out) const {
  std::memcpy(out, A_.col(c), static_cast<size_t>(A_.rows()) * sizeof(double));
}

// Section: M then A, each n_q x n_kv column-major doubles.
void DenseStore::save(ser::Writer &out) const {
  out.doubles(M_.data(), M_.size());
  out.doubles(A_.data(), A_.size());
}

void DenseStore::load(ser::Reader &in) {
  in.doubles(M_.data(), M_.size(), "logits M");
  in.doubles(A_.data(), A_.size(), "kernel A");
  // A is what queries divide and multiply by: reject entries no update can
  // produce (negative, non-finite, above the headroom, or non-zero where the
  // mask hides the key).
  const double top = std::exp(num::kShiftHeadroom);
  for (int64_t c = 0; c < A_.cols(); ++c) {
    const int64_t lo = mask_.first_row(c);
    for (int64_t i = 0; i < A_.rows(); ++i) {
      const double a = A_(i, c);
      const bool ok = i < lo ? a == 0.0 : (a >= 0.0 && a <= top);
      if (!ok || !std::isfinite(M_(i, c)))
        fail(ATT_E_CORRUPT, "saved state: kernel entry (%lld, %lld) is impossible",
             static_cast<long long>(i), static_cast<long long>(c));
    }
  }
}

}  // namespace att
