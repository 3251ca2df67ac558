#include "static_attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "blas.hpp"
#include "buffer.hpp"
#include "error.hpp"
#include "kernels.hpp"
#include "numerics.hpp"

namespace att {
namespace {

// Tile sizes: a 512 x 1024 tile of logits (4 MiB) keeps both dgemms of a
// tile large enough for OpenBLAS to run near its peak on two cores while
// staying far below n_q x n_kv; docs/ALGORITHMS.md has the measurements.
constexpr int64_t kQueryTile = 512;
constexpr int64_t kKeyTile = 1024;

// Pointer to row `first` of a view (rows are what the tiles split).
const double *row_pointer(const ConstView &view, int64_t first) {
  return view.row_major ? view.data + first * view.ld : view.data + first;
}

}  // namespace

void exp_shifted(const double *x, double shift, double *out, int64_t count) {
  kern::exp_offset(x, shift, out, count);
}

double check_attention_arguments(const ConstView &Q, const ConstView &K, const ConstView &V,
                                 double scale, const MutView &out) {
  check_dimension("n_q", Q.rows);
  check_dimension("n_kv", K.rows);
  check_dimension("d_k", Q.cols);
  check_dimension("d_v", V.cols);
  check_view("Q", Q);
  check_view("K", K);
  check_view("V", V);
  check_view("out", out);
  if (!(std::isfinite(scale) && scale > 0.0))
    fail(ATT_E_CONFIG, "scale %g is not a finite number > 0", scale);
  check_entries("Q", Q, std::numeric_limits<double>::max());
  check_entries("K", K, std::numeric_limits<double>::max());
  check_entries("V", V, ATT_MAX_VALUE);
  // Cauchy-Schwarz: |s <q, k>| <= s |q| |k|. The unscaled dot products that
  // dgemm forms are bounded by |q| |k| too, so neither can overflow.
  const long double norms = max_row_norm(Q) * max_row_norm(K);
  const long double bound = static_cast<long double>(scale) * norms;
  if (norms > 0x1p1000L || bound > static_cast<long double>(ATT_MAX_LOGIT))
    fail(ATT_E_RANGE, "s |Q|max |K|max = %Lg may exceed ATT_MAX_LOGIT (or |Q| |K| overflow)",
         bound);
  return static_cast<double>(bound);
}

void static_attention(const ConstView &Q, const ConstView &K, const ConstView &V, double scale,
                      bool causal, const MutView &out) {
  const int64_t n_q = Q.rows, n_kv = K.rows, d_k = Q.cols, d_v = V.cols;
  const int64_t offset = n_kv - n_q;  // causal: query i sees keys c <= i + offset
  const int64_t bq_max = std::min(n_q, kQueryTile);
  const int64_t bk_max = std::min(n_kv, kKeyTile);

  // Everything is allocated before the first write to out.
  Array<double> tile(bk_max * bq_max);     // P^T: column i holds query i's weights
  Array<double> acc(d_v * bq_max);         // O^T: column i accumulates query i's row
  Array<double> row_max(bq_max), row_sum(bq_max);

  for (int64_t i0 = 0; i0 < n_q; i0 += bq_max) {
    const int64_t bq = std::min(bq_max, n_q - i0);
    const int64_t key_end = causal ? std::min(n_kv, i0 + bq + offset) : n_kv;
    for (int64_t i = 0; i < bq; ++i) {
      row_max[i] = -std::numeric_limits<double>::infinity();
      row_sum[i] = 0.0;
    }
    std::fill(acc.data(), acc.data() + d_v * bq, 0.0);

    for (int64_t c0 = 0; c0 < key_end; c0 += bk_max) {
      const int64_t bk = std::min(bk_max, key_end - c0);
      // tile (bk x bq) = s K[c0:c0+bk, :] Q[i0:i0+bq, :]^T
      blas::gemm(K.as_col_major(blas::Op::N), Q.as_col_major(blas::Op::T), bk, bq, d_k, scale,
                 row_pointer(K, c0), K.ld, row_pointer(Q, i0), Q.ld, 0.0, tile.data(), bk);
      for (int64_t i = 0; i < bq; ++i) {
        double *weights = tile.data() + i * bk;
        const int64_t visible =
            causal ? std::clamp<int64_t>(i0 + i + offset - c0 + 1, 0, bk) : bk;
        if (visible == 0) {
          std::fill(weights, weights + bk, 0.0);
          continue;
        }
        const double tile_max = *std::max_element(weights, weights + visible);
        if (tile_max > row_max[i]) {
          // Online softmax: rescale what was summed under the old maximum.
          const double factor = std::isinf(row_max[i]) ? 0.0 : std::exp(row_max[i] - tile_max);
          row_sum[i] *= factor;
          double *o = acc.data() + i * d_v;
          for (int64_t j = 0; j < d_v; ++j) o[j] *= factor;
          row_max[i] = tile_max;
        }
        exp_shifted(weights, row_max[i], weights, visible);
        std::fill(weights + visible, weights + bk, 0.0);
        double sum = 0.0;
        for (int64_t c = 0; c < visible; ++c) sum += weights[c];
        row_sum[i] += sum;
      }
      // acc (d_v x bq) += V[c0:c0+bk, :]^T tile
      blas::gemm(V.as_col_major(blas::Op::T), blas::Op::N, d_v, bq, bk, 1.0, row_pointer(V, c0),
                 V.ld, tile.data(), bk, 1.0, acc.data(), d_v);
    }

    for (int64_t i = 0; i < bq; ++i) {
      // row_sum >= 1: the row's maximum contributes exp(0).
      const double *o = acc.data() + i * d_v;
      for (int64_t j = 0; j < d_v; ++j) out(i0 + i, j) = o[j] / row_sum[i];
    }
  }
}

}  // namespace att
