#include "streamed_store.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "blas.hpp"
#include "dynattn.h"
#include "error.hpp"
#include "kernels.hpp"
#include "team_product.hpp"

namespace att {
namespace {

// The section tag of a saved streamed store: it saves nothing else.
constexpr uint32_t kSectionMarker = 0x4d525453;  // "STRM"

}  // namespace

StreamedStore::StreamedStore(int64_t n_q, int64_t n_kv, int64_t d_k, KeyMask mask)
    : n_q_(n_q),
      n_kv_(n_kv),
      d_k_(d_k),
      mask_(mask),
      tiles_(n_q, n_kv, d_k),
      row_scratch_(n_kv),
      key_block_(kColumnBlock * d_k) {}

std::unique_ptr<KernelStore> StreamedStore::clone() const {
  return std::unique_ptr<KernelStore>(new StreamedStore(n_q_, n_kv_, d_k_, mask_));
}

// Counted from the buffers held.
int64_t StreamedStore::bytes() const {
  return tiles_.bytes() +
         static_cast<int64_t>(sizeof(double)) * (row_scratch_.size() + key_block_.size());
}

int64_t StreamedStore::compute_rows_and_multiply(int64_t i0, int64_t count, const Matrix &Q,
                                                 const Matrix &K, double scale, double limit,
                                                 double *shift, double *row_sum, double *err,
                                                 const ConstView &V, double *out, int64_t ldo) {
  return tiles_.compute(tile_operands(Q, K, scale, mask_, V), i0, count, limit, shift, row_sum, err,
                        out, ldo);
}

void StreamedStore::commit_query_row(int64_t i, const double *logits, double *shift,
                                     double *row_sum, double *err, const ConstView &V, double *out,
                                     int64_t ldo) {
  commit_kernel_row(logits, mask_.key_end(i, n_kv_), row_scratch_.data(), shift, row_sum, err, V,
                    out, ldo);
}

void StreamedStore::multiply_rows(const KernelOperands &ops, int64_t i0, int64_t count,
                                  const ConstView &V, double *out, int64_t ldo) {
  tiles_.multiply(tile_operands(ops.Q, ops.K, ops.scale, mask_, V), ops.shift + i0, i0, count, out,
                  ldo);
}

double StreamedStore::entry(const KernelOperands &ops, int64_t i, int64_t c) const {
  if (c >= mask_.key_end(i, n_kv_)) return 0.0;
  const double *q = ops.Q.data() + i;
  const double *k = ops.K.data() + c;
  const int64_t ldq = ops.Q.ld(), ldk = ops.K.ld();
  // As the tiles that build a row's D and C0 form its logits, so that a
  // pending value row's weight matches theirs (docs/NUMERICS.md).
  const double x = ops.scale * kern::panel_dot(q, ldq, k, ldk, d_k_);
  double a;
  kern::exp_shifted(&x, ops.shift + i, &a, 1);
  return a;
}

void StreamedStore::copy_column(const KernelOperands &ops, int64_t c, int64_t i0, int64_t count,
                                double *out) const {
  const int64_t hidden = mask_.hidden_rows(c, i0, count);
  const int64_t i = i0 + hidden, n = count - hidden;
  std::fill(out, out + hidden, 0.0);
  if (n == 0) return;
  blas::gemv(blas::Op::N, n, d_k_, ops.scale, ops.Q.data() + i, ops.Q.ld(), ops.K.data() + c,
             ops.K.ld(), 0.0, out + hidden, 1);
  kern::exp_shifted(out + hidden, ops.shift + i, out + hidden, n);
}

// Up to kColumnBlock key rows at a time: gathered into key_block_, their
// logits for every query row by one matrix product (Q is read once per block
// instead of once per column), then masked and exponentiated column by
// column. The product is the library's own on the helper team
// (team_product.hpp): each logit is the dot product entry() and the tiles
// form, so a pending value row's column matches the entries queries read,
// and the bits do not depend on OpenBLAS's thread count. Q has no padding
// rows, so its rows past the last whole register tile take entry()'s dot
// product.
void StreamedStore::copy_columns(const KernelOperands &ops, const int64_t *cols, int64_t count,
                                 double *out, int64_t ldo) {
  for (int64_t t0 = 0; t0 < count; t0 += kColumnBlock) {
    const int64_t width = std::min(kColumnBlock, count - t0);
    double *keys = key_block_.data();
    for (int64_t k = 0; k < d_k_; ++k)
      for (int64_t t = 0; t < width; ++t) keys[t + k * width] = ops.K(cols[t0 + t], k);
    team_product({n_q_, width, d_k_, ops.scale, ops.Q.data(), ops.Q.ld(), keys, width, 1, false,
                  out + t0 * ldo, ldo},
                 n_q_);
    for (int64_t t = t0; t < t0 + width; ++t) {
      double *column = out + t * ldo;
      const int64_t hidden = mask_.hidden_rows(cols[t], 0, n_q_);
      std::fill(column, column + hidden, 0.0);
      kern::exp_shifted(column + hidden, ops.shift + hidden, column + hidden, n_q_ - hidden);
    }
  }
}

// Section: one marker word. A is recomputed from the saved Q, K and shifts.
void StreamedStore::save(ser::Writer &out) const { out.u32(kSectionMarker); }

void StreamedStore::load(ser::Reader &in, uint32_t, const KernelOperands &) {
  if (in.u32("streamed store marker") != kSectionMarker)
    fail(ATT_E_CORRUPT, "saved state: the streamed store's section is not its marker");
}

}  // namespace att
