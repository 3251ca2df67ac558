#include "dense_store.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "blas.hpp"
#include "dynattn.h"
#include "numerics.hpp"

namespace att {

DenseStore::DenseStore(int64_t n_q, int64_t n_kv)
    : M_(n_q, n_kv), A_(n_q, n_kv), row_scratch_(n_q), row_scratch2_(n_q) {}

int64_t DenseStore::bytes_for(int64_t n_q, int64_t n_kv) {
  return static_cast<int64_t>(sizeof(double)) * (2 * n_q * n_kv + 2 * n_q);
}

int64_t DenseStore::compute_rows(int64_t i0, int64_t count, const Matrix &Q, const Matrix &K,
                                 double scale, double *shift, double *row_sum) {
  const int64_t n_kv = A_.cols();
  const int64_t ld = A_.ld();
  blas::gemm(blas::Op::N, blas::Op::T, count, n_kv, Q.cols(), scale, Q.data() + i0, Q.ld(),
             K.data(), K.ld(), 0.0, M_.data() + i0, ld);

  // Validate and find each row's shift, walking columns so the inner loop is
  // over contiguous rows of the block.
  int64_t bad_row = -1;
  for (int64_t r = 0; r < count; ++r) shift[r] = -std::numeric_limits<double>::infinity();
  for (int64_t c = 0; c < n_kv; ++c) {
    const double *m = M_.col(c) + i0;
    for (int64_t r = 0; r < count; ++r) {
      if (!(std::fabs(m[r]) <= ATT_MAX_LOGIT) && (bad_row < 0 || r < bad_row)) bad_row = r;
      shift[r] = std::max(shift[r], m[r]);
    }
  }
  if (bad_row >= 0) return i0 + bad_row;

  // A = exp(M - shift), summed with TwoSum so the row sum carries no
  // accumulated rounding (its error is one rounding of the result).
  double *hi = row_scratch_.data();
  double *lo = row_scratch2_.data();
  std::fill(hi, hi + count, 0.0);
  std::fill(lo, lo + count, 0.0);
  for (int64_t c = 0; c < n_kv; ++c) {
    const double *m = M_.col(c) + i0;
    double *a = A_.col(c) + i0;
    for (int64_t r = 0; r < count; ++r) a[r] = m[r] - shift[r];
    num::exp_clamped(a, a, count);
    for (int64_t r = 0; r < count; ++r) {
      double s, e;
      num::two_sum(hi[r], a[r], s, e);
      hi[r] = s;
      lo[r] += e;
    }
  }
  for (int64_t r = 0; r < count; ++r) row_sum[r] = hi[r] + lo[r];
  return -1;
}

void DenseStore::multiply_rows(int64_t i0, int64_t count, const double *V, int64_t ldv,
                               int64_t cols, double *out, int64_t ldo) const {
  blas::gemm(blas::Op::N, blas::Op::N, count, cols, A_.cols(), 1.0, A_.data() + i0, A_.ld(), V,
             ldv, 0.0, out, ldo);
}

void DenseStore::propose_key_column(int64_t c, int64_t j, double scaled_delta, const Matrix &Q,
                                    double *out) const {
  const double *m = M_.col(c);
  const double *q = Q.col(j);
  const int64_t n = A_.rows();
  for (int64_t i = 0; i < n; ++i) out[i] = m[i] + scaled_delta * q[i];
}

int64_t DenseStore::commit_key_column(int64_t c, const double *logits, const double *shift,
                                      double *a_new, double *delta_a, unsigned char *exceeded) {
  const int64_t n = A_.rows();
  double *m = M_.col(c);
  double *a = A_.col(c);
  int64_t n_exceeded = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = logits[i] - shift[i];
    const bool over = x > num::kShiftHeadroom;
    exceeded[i] = over ? 1 : 0;
    n_exceeded += over ? 1 : 0;
    a_new[i] = over ? num::kShiftHeadroom : x;
  }
  num::exp_clamped(a_new, a_new, n);
  for (int64_t i = 0; i < n; ++i) {
    delta_a[i] = a_new[i] - a[i];
    a[i] = a_new[i];
    m[i] = logits[i];
  }
  return n_exceeded;
}

void DenseStore::copy_column(int64_t c, double *out) const {
  std::memcpy(out, A_.col(c), static_cast<size_t>(A_.rows()) * sizeof(double));
}

}  // namespace att
