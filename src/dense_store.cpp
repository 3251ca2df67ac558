#include "dense_store.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "blas.hpp"
#include "dynattn.h"
#include "error.hpp"
#include "kernels.hpp"
#include "numerics.hpp"
#include "worker_team.hpp"

namespace att {
namespace {

// The first word of a dense section since format version 4, "DNSA"
// little-endian: a state whose version field was changed to an older one,
// whose dense section held logits of the same size, is refused instead of
// read as logits.
constexpr uint32_t kSectionMarker = 0x41534e44;

}  // namespace

DenseStore::DenseStore(int64_t n_q, int64_t n_kv, KeyMask mask)
    : mask_(mask),
      A_(n_q, n_kv),
      sum_hi_(rows_per_block(n_q)),
      sum_lo_(rows_per_block(n_q)),
      hidden_(n_kv),
      row_scratch_(n_kv) {}

DenseStore::DenseStore(const DenseStore &other)
    : KernelStore(),
      mask_(other.mask_),
      A_(other.A_.copy()),
      sum_hi_(other.sum_hi_.size()),
      sum_lo_(other.sum_lo_.size()),
      hidden_(other.hidden_.size()),
      row_scratch_(other.row_scratch_.size()) {}

std::unique_ptr<KernelStore> DenseStore::clone() const {
  return std::unique_ptr<KernelStore>(new DenseStore(*this));
}

int64_t DenseStore::bytes_for(int64_t n_q, int64_t n_kv) {
  return static_cast<int64_t>(sizeof(double)) * (n_q * n_kv + 2 * rows_per_block(n_q) + 2 * n_kv);
}

// Block by block of rows: the block's logits by dgemm, in place in A,
// validated and shifted by their maxima, exponentiated in place with
// compensated row sums, and multiplied by V while the block is still in
// cache. A block of the rows' causal mask stops at the last key its last
// row sees.
int64_t DenseStore::compute_rows_and_multiply(int64_t i0, int64_t count, const Matrix &Q,
                                              const Matrix &K, double scale, double limit,
                                              double *shift, double *row_sum, double *err,
                                              const ConstView &V, double *out, int64_t ldo,
                                              bool initial) {
  const int64_t n_kv = A_.cols();
  const int64_t h = rows_per_block(A_.rows());
  // The element-wise passes of a block split its rows among as many
  // threads as OpenBLAS uses, in chunks of whole groups of tile_weights.
  constexpr int64_t kRowChunk = 64;
  WorkerTeam team(initial ? WorkerTeam::threads_for(std::min(h, count) * n_kv) - 1 : 0);
  int64_t *hidden = hidden_.data();
  double *hi = sum_hi_.data();
  double *lo = sum_lo_.data();
  for (int64_t r0 = 0; r0 < count; r0 += h) {
    const int64_t rows = std::min(h, count - r0);
    const int64_t i = i0 + r0;
    const int64_t keys = mask_.key_end(i + rows - 1, n_kv);
    blas::gemm(blas::Op::N, blas::Op::T, rows, n_kv, Q.cols(), scale, Q.data() + i, Q.ld(),
               K.data(), K.ld(), 0.0, A_.data() + i, A_.ld());
    double *top = shift + r0;
    double *block = A_.data() + i;
    std::fill(top, top + rows, -std::numeric_limits<double>::infinity());
    for (int64_t c = 0; c < n_kv; ++c) hidden[c] = mask_.hidden_rows(c, i, rows);
    std::atomic<bool> bad{false};
    team.run(rows, kRowChunk, [&](int64_t begin, int64_t end, int) {
      bool flagged = false;
      for (int64_t c = 0; c < n_kv; ++c) {
        double *m = block + c * A_.ld();
        const int64_t first = std::clamp(hidden[c], begin, end);
        std::fill(m + begin, m + first, 0.0);
        if (first < end) flagged |= kern::running_max(m + first, top + first, limit, end - first);
      }
      if (flagged) bad.store(true);
    });
    if (bad.load()) {
      // Rare: the first offending row (masked entries were zeroed).
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < n_kv; ++c)
          if (!(std::fabs(A_(i + r, c)) <= limit)) return i + r;
    }
    // A = exp(M - shift), summed with TwoSum so that a row sum carries no
    // accumulated rounding (its error is one rounding of the result).
    std::fill(hi, hi + rows, 0.0);
    std::fill(lo, lo + rows, 0.0);
    team.run(rows, kRowChunk, [&](int64_t begin, int64_t end, int) {
      kern::tile_weights(block, A_.ld(), begin, end, keys, mask_.causal ? hidden : nullptr, top, hi,
                         lo);
    });
    for (int64_t r = 0; r < rows; ++r) {
      row_sum[r0 + r] = hi[r] + lo[r];
      err[r0 + r] = num::kFreshCharge * num::kUnitRoundoff * row_sum[r0 + r];
    }
    multiply_rows_of_a(i, rows, keys, V, out + r0, ldo);
  }
  return -1;
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
