#include "sparsify.hpp"

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <new>

#include "blas.hpp"
#include "buffer.hpp"
#include "error.hpp"
#include "random.hpp"

namespace att {

int64_t sketch_width(int64_t n, double delta) {
  // ln n - ln delta, not ln(n / delta): the quotient overflows for a
  // subnormal delta.
  const double m =
      std::ceil(static_cast<double>(n) * (std::log(static_cast<double>(n)) - std::log(delta)));
  if (!(m <= static_cast<double>(blas::kMaxDim)))
    fail(ATT_E_SIZE, "the sketch width for n=%lld, delta=%g exceeds INT32_MAX",
         static_cast<long long>(n), delta);
  return std::max<int64_t>(1, static_cast<int64_t>(m));
}

void sparsify_gaussian(const ConstView &X, uint64_t seed, const MutView &Y) {
  const int64_t n = X.rows, d = X.cols, m = Y.cols;
  // S is generated in row blocks of at most 2^20 entries; the stream is
  // consumed in the same order whatever the block size.
  const int64_t block = std::clamp<int64_t>((int64_t{1} << 20) / m, 1, d);
  Array<double> s_block(block * m);          // row-major block x m
  Array<double> acc(checked_product(n, m));  // column-major n x m
  NormalStream normals(seed);
  for (int64_t t0 = 0; t0 < d; t0 += block) {
    const int64_t bt = std::min(block, d - t0);
    for (int64_t k = 0; k < bt * m; ++k) s_block[k] = normals.next();
    const double *x_cols = X.row_major ? X.data + t0 : X.data + t0 * X.ld;
    // acc (n x m) += X[:, t0:t0+bt] S[t0:t0+bt, :]; the row-major block is
    // S_b^T in column-major storage.
    blas::gemm(X.as_col_major(blas::Op::N), blas::Op::T, n, m, bt, 1.0, x_cols, X.ld,
               s_block.data(), m, t0 == 0 ? 0.0 : 1.0, acc.data(), n);
  }
  const double root = std::sqrt(static_cast<double>(m));
  for (int64_t k = 0; k < m; ++k)
    for (int64_t i = 0; i < n; ++i) Y(i, k) = acc[i + k * n] / root;
}

void sparsify_lq(const ConstView &X, const MutView &Y) {
  const int64_t n = X.rows, d = X.cols, m = std::min(n, d);
  Array<double> a(checked_product(n, d));  // column-major copy, ld n
  for (int64_t j = 0; j < d; ++j)
    for (int64_t i = 0; i < n; ++i) a[i + j * n] = X(i, j);
  Array<double> tau(m);
  const lapack_int info =
      LAPACKE_dgelqf(LAPACK_COL_MAJOR, static_cast<lapack_int>(n), static_cast<lapack_int>(d),
                     a.data(), static_cast<lapack_int>(n), tau.data());
  if (info == LAPACK_WORK_MEMORY_ERROR) throw std::bad_alloc();
  if (info != 0) fail(ATT_E_INTERNAL, "LAPACKE_dgelqf returned %d", static_cast<int>(info));
  for (int64_t k = 0; k < m; ++k) {
    // Flipping the sign of column k of L (row k of Q~) keeps L Q~ = X.
    const double sign = a[k + k * n] < 0.0 ? -1.0 : 1.0;
    for (int64_t i = 0; i < n; ++i) Y(i, k) = i < k ? 0.0 : sign * a[i + k * n];
  }
}

}  // namespace att
