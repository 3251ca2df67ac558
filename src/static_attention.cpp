#include "static_attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "blas.hpp"
#include "buffer.hpp"
#include "error.hpp"
#include "softmax_tiles.hpp"

namespace att {

double check_attention_arguments(const ConstView &Q, const ConstView &K, const ConstView &V,
                                 double scale, bool causal, const MutView &out) {
  check_dimension("n_q", Q.rows);
  check_dimension("n_kv", K.rows);
  check_dimension("d_k", Q.cols);
  check_dimension("d_v", V.cols);
  check_view("Q", Q);
  check_view("K", K);
  check_view("V", V);
  check_view("out", out);
  if (causal && Q.rows > K.rows)
    fail(ATT_E_SIZE, "a causal mask needs n_q=%lld <= n_kv=%lld", static_cast<long long>(Q.rows),
         static_cast<long long>(K.rows));
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
  const int64_t n_q = Q.rows, n_kv = K.rows, d_v = V.cols;
  const TileOperands ops{Q, K, V, scale, KeyMask{causal, n_kv - n_q}};
  // Rows per call: eight blocks for each of the threads, which take them in
  // turn, so that a thread slowed down by other work on its core leaves more
  // of them to the others; the output's rows of a call wait in acc.
  constexpr int64_t kBlocksPerThread = 8;
  const int64_t chunk =
      std::min(n_q, SoftmaxTiles::kQueryBlock * kBlocksPerThread * blas::threads());

  // Everything is allocated before the first write to out.
  SoftmaxTiles tiles(chunk, n_kv, Q.cols);
  Array<double> acc(chunk * d_v);  // chunk x d_v, column-major
  Array<double> shift(chunk), row_sum(chunk);

  for (int64_t i0 = 0; i0 < n_q; i0 += chunk) {
    const int64_t rows = std::min(chunk, n_q - i0);
    // The logits were bounded by check_attention_arguments: no row fails.
    tiles.compute(ops, i0, rows, HUGE_VAL, shift.data(), row_sum.data(), nullptr, acc.data(), rows);
    // row_sum >= 1: the row's maximum contributes exp(0).
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < d_v; ++j) out(i0 + i, j) = acc[i + j * rows] / row_sum[i];
  }
}

}  // namespace att
