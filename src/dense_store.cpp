#include "dense_store.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "blas.hpp"
#include "dynattn.h"
#include "error.hpp"
#include "kernels.hpp"
#include "numerics.hpp"

namespace att {
namespace {

// The first word of a dense section since format version 4, "DNSA"
// little-endian: a state whose version field was changed to an older one,
// whose dense section held logits of the same size, is refused instead of
// read as logits.
constexpr uint32_t kSectionMarker = 0x41534e44;

}  // namespace

DenseStore::DenseStore(int64_t n_q, int64_t n_kv, int64_t d_k, KeyMask mask)
    : d_k_(d_k), mask_(mask), A_(n_q, n_kv), tiles_(n_q, n_kv, d_k), row_scratch_(n_kv) {}

DenseStore::DenseStore(const DenseStore &other)
    : KernelStore(),
      d_k_(other.d_k_),
      mask_(other.mask_),
      A_(other.A_.copy()),
      tiles_(other.A_.rows(), other.A_.cols(), other.d_k_),
      row_scratch_(other.row_scratch_.size()) {}

std::unique_ptr<KernelStore> DenseStore::clone() const {
  return std::unique_ptr<KernelStore>(new DenseStore(*this));
}

long double DenseStore::bytes_for(int64_t n_q, int64_t n_kv, int64_t d_k) {
  const long double entries = static_cast<long double>(n_q) * n_kv + n_kv;
  return sizeof(double) * entries +
         static_cast<long double>(SoftmaxTiles::bytes_for(n_q, n_kv, d_k));
}

// What bytes_for predicted, counted from the buffers held.
int64_t DenseStore::bytes() const {
  return static_cast<int64_t>(sizeof(double)) * (A_.size() + row_scratch_.size()) + tiles_.bytes();
}

int64_t DenseStore::compute_rows_and_multiply(int64_t i0, int64_t count, const Matrix &Q,
                                              const Matrix &K, double scale, double limit,
                                              double *shift, double *row_sum, double *err,
                                              const ConstView &V, double *out, int64_t ldo) {
  return tiles_.compute_kept(tile_operands(Q, K, scale, mask_, V), i0, count, limit, shift, row_sum,
                             err, out, ldo, A_.data() + i0, A_.ld());
}

void DenseStore::commit_query_row(int64_t i, const double *logits, double *shift, double *row_sum,
                                  double *err, const ConstView &V, double *out, int64_t ldo) {
  const int64_t n_kv = A_.cols();
  const int64_t end = mask_.key_end(i, n_kv);
  const double *a = row_scratch_.data();
  commit_kernel_row(logits, end, row_scratch_.data(), shift, row_sum, err, V, out, ldo);
  for (int64_t c = 0; c < end; ++c) A_(i, c) = a[c];
  for (int64_t c = end; c < n_kv; ++c) A_(i, c) = 0.0;
}

void DenseStore::multiply_rows(const KernelOperands &, int64_t i0, int64_t count,
                               const ConstView &V, double *out, int64_t ldo) {
  const int64_t h = rows_per_block(A_.rows());
  for (int64_t r0 = 0; r0 < count; r0 += h) {
    const int64_t rows = std::min(h, count - r0);
    const int64_t i = i0 + r0;
    multiply_rows_of_a(i, rows, mask_.key_end(i + rows - 1, A_.cols()), V, out + r0, ldo);
  }
}

// out (rows x V.cols, leading dimension ldo) = A[i : i + rows, 0 : keys]
// times the first `keys` rows of V (masked entries of A are 0).
void DenseStore::multiply_rows_of_a(int64_t i, int64_t rows, int64_t keys, const ConstView &V,
                                    double *out, int64_t ldo) const {
  blas::gemm(blas::Op::N, V.as_col_major(blas::Op::N), rows, V.cols, keys, 1.0, A_.data() + i,
             A_.ld(), V.data, V.ld, 0.0, out, ldo);
}

double DenseStore::entry(const KernelOperands &, int64_t i, int64_t c) const { return A_(i, c); }

void DenseStore::row_entries(const KernelOperands &, int64_t i, const int64_t *cols, int64_t count,
                             double *out) const {
  for (int64_t t = 0; t < count; ++t) out[t] = A_(i, cols[t]);
}

void DenseStore::copy_column(const KernelOperands &, int64_t c, int64_t i0, int64_t count,
                             double *out) const {
  std::memcpy(out, A_.col(c) + i0, sizeof(double) * static_cast<size_t>(count));
}

// Section (format version 4): a marker word, then A, n_q x n_kv
// column-major doubles. Versions 1 to 3 held the logits M instead (and
// versions 1 and 2 A after them, which is skipped: it is a function of M and
// the shifts).
void DenseStore::save(ser::Writer &out) const {
  out.u32(kSectionMarker);
  out.doubles(A_.data(), A_.size());
}

void DenseStore::load(ser::Reader &in, uint32_t version, const KernelOperands &ops) {
  if (version < 4) {
    load_logits(in, ops);
    if (version < 3) in.skip(A_.size(), sizeof(double), "kernel A");
    return;
  }
  if (in.u32("dense store marker") != kSectionMarker)
    fail(ATT_E_CORRUPT, "saved state: the dense store's section does not start with its marker");
  in.doubles(A_.data(), A_.size(), "kernel A");
  // Reject entries no sequence of updates can leave behind: masked entries
  // other than 0, and visible ones that are negative, not finite, above the
  // headroom or below the smallest entry an exponential gives.
  for (int64_t c = 0; c < A_.cols(); ++c) {
    const int64_t lo = mask_.first_row(c);
    for (int64_t i = 0; i < A_.rows(); ++i) {
      const double a = A_(i, c);
      const bool ok = i < lo ? a == 0.0 : a == 0.0 || (a >= num::kMinEntry && a <= num::kMaxEntry);
      if (!ok)
        fail(ATT_E_CORRUPT, "saved state: entry (%lld, %lld) of A is impossible",
             static_cast<long long>(i), static_cast<long long>(c));
    }
  }
}

void DenseStore::load_logits(ser::Reader &in, const KernelOperands &ops) {
  in.doubles(A_.data(), A_.size(), "logits M");
  // Reject logits no sequence of updates can leave behind: masked entries
  // other than 0, and visible ones that are out of range or further above
  // their row's shift than the headroom allows (A would overflow).
  for (int64_t c = 0; c < A_.cols(); ++c) {
    const int64_t lo = mask_.first_row(c);
    double *m = A_.col(c);
    for (int64_t i = 0; i < A_.rows(); ++i) {
      const bool ok = i < lo ? m[i] == 0.0
                             : std::fabs(m[i]) <= num::kRecomputedLogitLimit &&
                                   m[i] - ops.shift[i] <= num::kShiftHeadroom;
      if (!ok)
        fail(ATT_E_CORRUPT, "saved state: logit (%lld, %lld) is impossible",
             static_cast<long long>(i), static_cast<long long>(c));
    }
    kern::exp_shifted(m + lo, ops.shift + lo, m + lo, A_.rows() - lo);
  }
}

}  // namespace att
