#include "dense_store.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "blas.hpp"
#include "dynattn.h"
#include "error.hpp"
#include "kernels.hpp"
#include "numerics.hpp"

namespace att {

int64_t DenseStore::rows_per_block(int64_t n_q, int64_t n_kv) {
  const int64_t rows = kBlockBytes / (static_cast<int64_t>(sizeof(double)) * n_kv);
  return std::clamp<int64_t>(std::min(rows, kBlockRows), 1, n_q);
}

DenseStore::DenseStore(int64_t n_q, int64_t n_kv, KeyMask mask)
    : mask_(mask),
      M_(n_q, n_kv),
      block_(rows_per_block(n_q, n_kv), n_kv),
      sum_hi_(block_.rows()),
      sum_lo_(block_.rows()),
      row_scratch_(n_kv) {}

DenseStore::DenseStore(const DenseStore &other)
    : KernelStore(),
      mask_(other.mask_),
      M_(other.M_.copy()),
      block_(other.block_.rows(), other.block_.cols()),
      sum_hi_(other.sum_hi_.size()),
      sum_lo_(other.sum_lo_.size()),
      row_scratch_(other.row_scratch_.size()) {}

std::unique_ptr<KernelStore> DenseStore::clone() const {
  return std::unique_ptr<KernelStore>(new DenseStore(*this));
}

int64_t DenseStore::bytes_for(int64_t n_q, int64_t n_kv) {
  const int64_t h = rows_per_block(n_q, n_kv);
  return static_cast<int64_t>(sizeof(double)) * (n_q * n_kv + h * n_kv + 2 * h + n_kv);
}

// Block by block of rows: the block's logits by dgemm, validated and
// shifted by their maxima, exponentiated into block_ with compensated row
// sums, and multiplied by V, so the logits are read back while they are
// still in cache. A block of the rows' causal mask stops at the last key its
// last row sees.
int64_t DenseStore::compute_rows_and_multiply(int64_t i0, int64_t count, const Matrix &Q,
                                              const Matrix &K, double scale, double limit,
                                              double *shift, double *row_sum, double *err,
                                              const ConstView &V, double *out, int64_t ldo) {
  const int64_t n_kv = M_.cols();
  const int64_t h = block_.rows();
  for (int64_t r0 = 0; r0 < count; r0 += h) {
    const int64_t rows = std::min(h, count - r0);
    const int64_t i = i0 + r0;
    const int64_t keys = mask_.key_end(i + rows - 1, n_kv);
    blas::gemm(blas::Op::N, blas::Op::T, rows, n_kv, Q.cols(), scale, Q.data() + i, Q.ld(),
               K.data(), K.ld(), 0.0, M_.data() + i, M_.ld());
    double *top = shift + r0;
    std::fill(top, top + rows, -std::numeric_limits<double>::infinity());
    bool bad = false;
    for (int64_t c = 0; c < n_kv; ++c) {
      double *m = M_.col(c) + i;
      const int64_t hidden = mask_.hidden_rows(c, i, rows);
      std::fill(m, m + hidden, 0.0);
      bad |= kern::running_max(m + hidden, top + hidden, limit, rows - hidden);
    }
    if (bad) {
      // Rare: the first offending row (masked entries were zeroed).
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < n_kv; ++c)
          if (!(std::fabs(M_(i + r, c)) <= limit)) return i + r;
    }
    // A = exp(M - shift), summed with TwoSum so that a row sum carries no
    // accumulated rounding (its error is one rounding of the result).
    double *hi = sum_hi_.data();
    double *lo = sum_lo_.data();
    std::fill(hi, hi + rows, 0.0);
    std::fill(lo, lo + rows, 0.0);
    for (int64_t c = 0; c < keys; ++c) {
      double *a = block_.col(c);
      const int64_t hidden = mask_.hidden_rows(c, i, rows);
      std::fill(a, a + hidden, 0.0);
      kern::exp_accumulate(M_.col(c) + i + hidden, top + hidden, a + hidden, hi + hidden,
                           lo + hidden, rows - hidden);
    }
    for (int64_t r = 0; r < rows; ++r) {
      row_sum[r0 + r] = hi[r] + lo[r];
      err[r0 + r] = num::kFreshCharge * num::kUnitRoundoff * row_sum[r0 + r];
    }
    multiply_block(rows, keys, V, out + r0, ldo);
  }
  return -1;
}

void DenseStore::commit_query_row(int64_t i, const double *logits, double *shift, double *row_sum,
                                  double *err, const ConstView &V, double *out, int64_t ldo) {
  const int64_t n_kv = M_.cols();
  const int64_t end = mask_.key_end(i, n_kv);
  commit_kernel_row(logits, end, row_scratch_.data(), shift, row_sum, err, V, out, ldo);
  for (int64_t c = 0; c < end; ++c) M_(i, c) = logits[c];
  for (int64_t c = end; c < n_kv; ++c) M_(i, c) = 0.0;
}

void DenseStore::multiply_rows(const KernelOperands &ops, int64_t i0, int64_t count,
                               const ConstView &V, double *out, int64_t ldo) {
  const int64_t n_kv = M_.cols();
  const int64_t h = block_.rows();
  for (int64_t r0 = 0; r0 < count; r0 += h) {
    const int64_t rows = std::min(h, count - r0);
    const int64_t i = i0 + r0;
    const int64_t keys = mask_.key_end(i + rows - 1, n_kv);
    for (int64_t c = 0; c < keys; ++c) {
      double *a = block_.col(c);
      const int64_t hidden = mask_.hidden_rows(c, i, rows);
      std::fill(a, a + hidden, 0.0);
      kern::exp_shifted(M_.col(c) + i + hidden, ops.shift + i + hidden, a + hidden, rows - hidden);
    }
    multiply_block(rows, keys, V, out + r0, ldo);
  }
}

// out (rows x V.cols, leading dimension ldo) = the block's first `keys`
// columns times the first `keys` rows of V.
void DenseStore::multiply_block(int64_t rows, int64_t keys, const ConstView &V, double *out,
                                int64_t ldo) const {
  blas::gemm(blas::Op::N, V.as_col_major(blas::Op::N), rows, V.cols, keys, 1.0, block_.data(),
             block_.ld(), V.data, V.ld, 0.0, out, ldo);
}

bool DenseStore::propose_key_column(const KernelOperands &ops, int64_t c, int64_t j,
                                    double scaled_delta, double *out) const {
  const int64_t lo = mask_.first_row(c);
  return !kern::axpy(M_.col(c) + lo, scaled_delta, ops.Q.col(j) + lo, out + lo, ATT_MAX_LOGIT,
                     M_.rows() - lo);
}

double *DenseStore::key_logits(const KernelOperands &, int64_t c, const double *, bool) {
  return M_.col(c);
}

double DenseStore::entry(const KernelOperands &ops, int64_t i, int64_t c) const {
  if (c >= mask_.key_end(i, M_.cols())) return 0.0;
  double a;
  kern::exp_shifted(M_.col(c) + i, ops.shift + i, &a, 1);
  return a;
}

// The logits gathered on the stack (queries run concurrently) and
// exponentiated together; exp_offset and entry()'s exp_shifted form
// x - shift and its exponential alike, element by element.
void DenseStore::row_entries(const KernelOperands &ops, int64_t i, const int64_t *cols,
                             int64_t count, double *out) const {
  constexpr int64_t kChunk = 64;
  const int64_t end = mask_.key_end(i, M_.cols());
  double logits[kChunk];
  for (int64_t t0 = 0; t0 < count; t0 += kChunk) {
    const int64_t len = std::min(kChunk, count - t0);
    for (int64_t t = 0; t < len; ++t) logits[t] = M_(i, cols[t0 + t]);
    kern::exp_offset(logits, ops.shift[i], out + t0, len);
    for (int64_t t = 0; t < len; ++t)
      if (cols[t0 + t] >= end) out[t0 + t] = 0.0;
  }
}

void DenseStore::copy_column(const KernelOperands &ops, int64_t c, int64_t i0, int64_t count,
                             double *out) const {
  const int64_t hidden = mask_.hidden_rows(c, i0, count);
  std::fill(out, out + hidden, 0.0);
  kern::exp_shifted(M_.col(c) + i0 + hidden, ops.shift + i0 + hidden, out + hidden, count - hidden);
}

// Section (format version 3): M, n_q x n_kv column-major doubles. Versions 1
// and 2 followed it with A, which is skipped: it is a function of M and the
// shifts.
void DenseStore::save(ser::Writer &out) const { out.doubles(M_.data(), M_.size()); }

void DenseStore::load(ser::Reader &in, uint32_t version, const KernelOperands &ops) {
  in.doubles(M_.data(), M_.size(), "logits M");
  if (version < 3) in.skip(M_.size(), sizeof(double), "kernel A");
  // Reject logits no sequence of updates can leave behind: masked entries
  // other than 0, and visible ones that are out of range or further above
  // their row's shift than the headroom allows (A would overflow).
  for (int64_t c = 0; c < M_.cols(); ++c) {
    const int64_t lo = mask_.first_row(c);
    for (int64_t i = 0; i < M_.rows(); ++i) {
      const double m = M_(i, c);
      const bool ok = i < lo ? m == 0.0
                             : std::fabs(m) <= num::kRecomputedLogitLimit &&
                                   m - ops.shift[i] <= num::kShiftHeadroom;
      if (!ok)
        fail(ATT_E_CORRUPT, "saved state: logit (%lld, %lld) is impossible",
             static_cast<long long>(i), static_cast<long long>(c));
    }
  }
}

}  // namespace att
