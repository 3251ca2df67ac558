#include "streamed_store.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "blas.hpp"
#include "dynattn.h"
#include "error.hpp"
#include "kernels.hpp"

namespace att {
namespace {

int64_t rows_per_slice(int64_t n_q, int64_t n_kv) {
  const int64_t rows = StreamedStore::kSliceBytes / (static_cast<int64_t>(sizeof(double)) * n_kv);
  return std::clamp<int64_t>(rows, 1, n_q);
}

// The section tag of a saved streamed store: it saves nothing else.
constexpr uint32_t kSectionMarker = 0x4d525453;  // "STRM"

}  // namespace

StreamedStore::StreamedStore(int64_t n_q, int64_t n_kv, int64_t d_k, KeyMask mask)
    : n_q_(n_q),
      n_kv_(n_kv),
      d_k_(d_k),
      mask_(mask),
      slice_rows_(rows_per_slice(n_q, n_kv)),
      slice_(n_kv, slice_rows_),
      row_scratch_(n_kv),
      old_logits_(n_q) {}

std::unique_ptr<KernelStore> StreamedStore::clone() const {
  return std::unique_ptr<KernelStore>(new StreamedStore(n_q_, n_kv_, d_k_, mask_));
}

int64_t StreamedStore::bytes_for(int64_t n_q, int64_t n_kv) {
  return static_cast<int64_t>(sizeof(double)) * (n_kv * rows_per_slice(n_q, n_kv) + n_kv + n_q);
}

int64_t StreamedStore::slice_logits(const Matrix &Q, const Matrix &K, double scale, int64_t i,
                                    int64_t rows) {
  // key_end grows with the row, so the slice's last row sees the most keys.
  const int64_t keys = mask_.key_end(i + rows - 1, n_kv_);
  const int64_t ld = slice_.ld();
  blas::gemm(blas::Op::N, blas::Op::T, keys, rows, d_k_, scale, K.data(), K.ld(), Q.data() + i,
             Q.ld(), 0.0, slice_.data(), ld);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t end = mask_.key_end(i + r, n_kv_);
    std::fill(slice_.col(r) + end, slice_.col(r) + keys, 0.0);
  }
  return keys;
}

int64_t StreamedStore::compute_rows_and_multiply(int64_t i0, int64_t count, const Matrix &Q,
                                                 const Matrix &K, double scale, double *shift,
                                                 double *row_sum, const double *V, int64_t ldv,
                                                 int64_t cols, double *out, int64_t ldo) {
  for (int64_t r0 = 0; r0 < count; r0 += slice_rows_) {
    const int64_t rows = std::min(slice_rows_, count - r0);
    const int64_t keys = slice_logits(Q, K, scale, i0 + r0, rows);
    for (int64_t r = 0; r < rows; ++r) {
      double *x = slice_.col(r);
      const int64_t end = mask_.key_end(i0 + r0 + r, n_kv_);
      bool bad = false;
      const double top = kern::max_of(x, ATT_MAX_LOGIT, &bad, end);
      if (bad) return i0 + r0 + r;
      shift[r0 + r] = top;
      row_sum[r0 + r] = kern::exp_sum(x, top, x, end);
    }
    blas::gemm(blas::Op::T, blas::Op::N, rows, cols, keys, 1.0, slice_.data(), slice_.ld(), V,
               ldv, 0.0, out + r0, ldo);
  }
  return -1;
}

void StreamedStore::commit_query_row(int64_t i, const double *logits, double *shift,
                                     double *row_sum, const double *V, int64_t ldv,
                                     int64_t cols, double *out, int64_t ldo) {
  commit_kernel_row(logits, mask_.key_end(i, n_kv_), row_scratch_.data(), shift, row_sum, V, ldv,
                    cols, out, ldo);
}

void StreamedStore::multiply_rows(const KernelOperands &ops, int64_t i0, int64_t count,
                                  const double *V, int64_t ldv, int64_t cols, double *out,
                                  int64_t ldo) {
  for (int64_t r0 = 0; r0 < count; r0 += slice_rows_) {
    const int64_t rows = std::min(slice_rows_, count - r0);
    const int64_t keys = slice_logits(ops.Q, ops.K, ops.scale, i0 + r0, rows);
    for (int64_t r = 0; r < rows; ++r) {
      double *x = slice_.col(r);
      const int64_t end = mask_.key_end(i0 + r0 + r, n_kv_);
      kern::exp_offset(x, ops.shift[i0 + r0 + r], x, end);
    }
    blas::gemm(blas::Op::T, blas::Op::N, rows, cols, keys, 1.0, slice_.data(), slice_.ld(), V,
               ldv, 0.0, out + r0, ldo);
  }
}

// The column's current logits are recomputed exactly as key_logits
// recomputes them, so the update starts from the a_old it will subtract.
bool StreamedStore::propose_key_column(const KernelOperands &ops, int64_t c, int64_t j,
                                       double scaled_delta, double *out) const {
  const int64_t lo = mask_.first_row(c);
  const int64_t n = n_q_ - lo;
  blas::gemv(blas::Op::N, n, d_k_, ops.scale, ops.Q.data() + lo, ops.Q.ld(), ops.K.data() + c,
             ops.K.ld(), 0.0, out + lo, 1);
  return !kern::axpy(out + lo, scaled_delta, ops.Q.col(j) + lo, out + lo, ATT_MAX_LOGIT, n);
}

// The old column as the rows' D and C0 saw it, up to the rounding of
// recomputing its logits (charged through recompute_error_factor).
double *StreamedStore::key_logits(const KernelOperands &ops, int64_t c, const double *k_old) {
  const int64_t lo = mask_.first_row(c);
  blas::gemv(blas::Op::N, n_q_ - lo, d_k_, ops.scale, ops.Q.data() + lo, ops.Q.ld(), k_old, 1, 0.0,
             old_logits_.data() + lo, 1);
  return old_logits_.data();
}

double StreamedStore::entry(const KernelOperands &ops, int64_t i, int64_t c) const {
  if (c >= mask_.key_end(i, n_kv_)) return 0.0;
  const double *q = ops.Q.data() + i;
  const double *k = ops.K.data() + c;
  const int64_t ldq = ops.Q.ld(), ldk = ops.K.ld();
  double dot = 0.0;
  for (int64_t t = 0; t < d_k_; ++t) dot += q[t * ldq] * k[t * ldk];
  const double x = ops.scale * dot;
  double a;
  kern::exp_shifted(&x, ops.shift + i, &a, 1);
  return a;
}

void StreamedStore::copy_column(const KernelOperands &ops, int64_t c, double *out) const {
  const int64_t lo = mask_.first_row(c);
  const int64_t n = n_q_ - lo;
  std::fill(out, out + lo, 0.0);
  blas::gemv(blas::Op::N, n, d_k_, ops.scale, ops.Q.data() + lo, ops.Q.ld(), ops.K.data() + c,
             ops.K.ld(), 0.0, out + lo, 1);
  kern::exp_shifted(out + lo, ops.shift + lo, out + lo, n);
}

// Section: one marker word. A is recomputed from the saved Q, K and shifts.
void StreamedStore::save(ser::Writer &out) const { out.u32(kSectionMarker); }

void StreamedStore::load(ser::Reader &in, uint32_t, const KernelOperands &) {
  if (in.u32("streamed store marker") != kSectionMarker)
    fail(ATT_E_CORRUPT, "saved state: the streamed store's section is not its marker");
}

}  // namespace att
